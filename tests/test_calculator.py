"""The ASE calculator: bad input, ASE integration, energy conservation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.filters import FrechetCellFilter
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet
from ase.optimize import FIRE

from ase_mlip import MLIPCalculator, build_potential
from ase_mlip.properties import thermalize

from .conftest import small_potential


@pytest.fixture(scope="module")
def calc():
    return MLIPCalculator(small_potential(species=("Li", "Si")))


def li_crystal():
    return bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 2, 2))


def test_unknown_element_is_named(calc):
    atoms = li_crystal()
    atoms.symbols[3] = "Cu"
    atoms.calc = calc
    with pytest.raises(ValueError, match=r"\['Cu'\].*knows only \['Li', 'Si'\]"):
        atoms.get_potential_energy()


def test_nan_positions_are_refused(calc):
    atoms = li_crystal()
    atoms.positions[5, 1] = np.nan
    atoms.calc = calc
    with pytest.raises(ValueError, match=r"atoms \[5\] are not finite"):
        atoms.get_forces()


def test_zero_volume_periodic_cell_is_refused(calc):
    atoms = Atoms("Li2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=[3.0, 3.0, 0.0], pbc=True)
    atoms.calc = calc
    with pytest.raises(ValueError, match="linearly dependent.*pbc = False"):
        atoms.get_potential_energy()


def test_overlapping_atoms_are_refused(calc):
    atoms = li_crystal()
    atoms.positions[1] = atoms.positions[0]
    atoms.calc = calc
    with pytest.raises(ValueError, match="atoms 0 and 1 are 0 A apart|atoms 1 and 0 are 0 A apart"):
        atoms.get_potential_energy()


def test_stress_needs_3d_periodicity(calc):
    atoms = li_crystal()
    atoms.pbc = (True, True, False)
    atoms.calc = calc
    atoms.get_forces()
    with pytest.raises(PropertyNotImplementedError, match="periodic in all three"):
        atoms.get_stress()


def test_isolated_atom_and_empty_neighbourhood(calc):
    atoms = Atoms("Li", positions=[[0, 0, 0]])
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())
    np.testing.assert_array_equal(atoms.get_forces(), 0.0)


def test_cuda_request_without_gpu_is_explained():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="no CUDA device"):
        MLIPCalculator(small_potential(), device="cuda")


def test_loads_from_path(tmp_path):
    pot = small_potential()
    pot.save(tmp_path / "p.mlip")
    atoms = li_crystal()
    atoms.calc = MLIPCalculator(str(tmp_path / "p.mlip"))
    e1 = atoms.get_potential_energy()
    atoms.calc = MLIPCalculator(pot)
    assert atoms.get_potential_energy() == e1


def test_nve_conserves_energy():
    """Velocity Verlet at dt = 1 fs: no systematic drift, small fluctuation.

    Reports the drift (eV/atom/ps) from a linear fit of the total energy.
    """
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 2, 2))
    pot = small_potential(zbl=True)
    with torch.no_grad():
        pot.energy_scale.fill_(0.1)
    atoms.calc = MLIPCalculator(pot)
    thermalize(atoms, 300, rng=np.random.default_rng(0))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    energies = []
    dyn.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    dyn.run(400)
    e = np.array(energies) / len(atoms)
    t_ps = np.arange(len(e)) * 1e-3
    drift = np.polyfit(t_ps, e, 1)[0]
    kinetic = 1.5 * units.kB * 300
    print(f"NVE drift: {drift:.2e} eV/atom/ps, max deviation {np.abs(e - e[0]).max():.2e} eV/atom")
    assert abs(drift) < 1e-3 * kinetic / 0.4  # < 0.1% of kT per 0.4 ps
    assert np.abs(e - e[0]).max() < 1e-2 * kinetic
    assert np.std(atoms.get_potential_energies()) > 0  # the atoms did interact


def test_cell_relaxation_reaches_zero_stress():
    """FIRE on a cell filter drives forces and stress to zero (ASE's relax path)."""
    pot = build_potential({"species": ["Li"], "r_cut": 4.0, "num_tensor_features": 4,
                           "num_scalar_features": 8, "two_body_mlp": [16], "latent_mlp": [16],
                           "readout_mlp": [8], "seed": 3, "zbl": True})
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    atoms.rattle(0.05, seed=0)
    atoms.calc = MLIPCalculator(pot)
    opt = FIRE(FrechetCellFilter(atoms), logfile=None)
    converged = opt.run(fmax=1e-3, steps=2000)
    assert converged
    assert np.abs(atoms.get_forces()).max() < 1e-3
    assert np.abs(atoms.get_stress()).max() * atoms.get_volume() / len(atoms) < 1e-2
