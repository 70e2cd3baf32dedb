"""Domain decomposition: ``mpirun -np 2`` gives the single-process (ASE) answer.

The slab case puts the two ranks one above the other (``processors 1 1 2``)
with the atoms in the lower half of the cell, so the upper rank owns no atoms
and has only ghosts or nothing; the test checks that this really happened.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from .conftest import REPO, li_slab, mpirun, rattled_li, require_lammps, run, triclinic_li
from .test_agreement import TOLERANCE, ase_reference

require_lammps()
pytestmark = pytest.mark.lammps

CASES = {
    "orthogonal": (lambda: rattled_li(repeat=(3, 3, 3)), "processors 2 1 1"),
    "triclinic": (triclinic_li, ""),
    "slab": (li_slab, "processors 1 1 2"),
}


def test_two_ranks_equal_ase(potential_file, tmp_path):
    inputs = {}
    for name, (make_atoms, processors) in CASES.items():
        atoms = make_atoms()
        inputs.update(
            {
                f"{name}/numbers": atoms.numbers,
                f"{name}/positions": atoms.positions,
                f"{name}/cell": atoms.cell.array,
                f"{name}/pbc": atoms.pbc,
                f"{name}/processors": np.array(processors),
            }
        )
    np.savez(tmp_path / "inputs.npz", **inputs)
    output = tmp_path / "results.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run(
        [mpirun(), "-np", "2", sys.executable, "-m", "tests.lammps.mpi_worker",
         str(potential_file), str(tmp_path / "inputs.npz"), str(output)],
        cwd=REPO, env=env,
    )  # fmt: skip
    found = np.load(output)

    for name, (make_atoms, _) in CASES.items():
        atoms = make_atoms()
        periodic = bool(atoms.pbc.all())
        reference = ase_reference(atoms, potential_file, stress=periodic)
        assert abs(float(found[f"{name}/energy"]) - reference["energy"]) < TOLERANCE, name
        np.testing.assert_allclose(found[f"{name}/energies"], reference["energies"], rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(found[f"{name}/forces"], reference["forces"], rtol=0, atol=TOLERANCE)
        if periodic:
            np.testing.assert_allclose(found[f"{name}/stress"], reference["stress"], rtol=0, atol=TOLERANCE)
        assert found[f"{name}/nlocal"].sum() == len(atoms)
    assert found["orthogonal/nlocal"].min() > 0  # both ranks worked
    assert found["slab/nlocal"].min() == 0  # one rank owned no atoms
