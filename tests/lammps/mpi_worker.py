"""Run structures through in-process LAMMPS on every MPI rank; rank 0 saves the results.

Usage (from the repository root)::

    mpirun -np 2 python -m tests.lammps.mpi_worker POTENTIAL INPUT.npz OUTPUT.npz

``INPUT.npz`` holds, per structure ``name``: ``name/numbers`` (N,),
``name/positions`` (N, 3) A, ``name/cell`` (3, 3) A, ``name/pbc`` (3,) and
``name/processors`` (a ``processors`` command or ""). ``OUTPUT.npz`` gets
``name/energy``, ``name/energies``, ``name/forces``, ``name/virial`` and
``name/nlocal`` (atoms owned by each rank).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from ase import Atoms

from lammps_driver import lammps_from_atoms, lammps_results


def main(potential: str, inputs: str, output: str) -> None:
    torch.set_num_threads(1)
    data = np.load(inputs)
    names = sorted({key.split("/")[0] for key in data.files})
    results = {}
    for name in names:
        atoms = Atoms(
            numbers=data[f"{name}/numbers"],
            positions=data[f"{name}/positions"],
            cell=data[f"{name}/cell"],
            pbc=data[f"{name}/pbc"],
        )
        lmp = lammps_from_atoms(
            atoms, potential, elements=["Li", "Si"], dtype="float64", setup=str(data[f"{name}/processors"])
        )
        lmp.command("compute mlip_proc all property/atom proc")
        lmp.command("run 0")
        found = lammps_results(lmp)
        owner = np.asarray(lmp.gather("c_mlip_proc", 1, 1), dtype=np.int64)
        found["nlocal"] = np.bincount(owner, minlength=lmp.extract_setting("world_size"))
        if lmp.extract_setting("world_rank") == 0:
            for key, value in found.items():
                results[f"{name}/{key}"] = np.asarray(value)
        lmp.close()
    if results:
        np.savez(output, **results)


if __name__ == "__main__":
    main(*sys.argv[1:4])
