"""Reusable physics tests for any ase-mlip potential.

Subclass :class:`PotentialPhysicsTests` and provide a ``potential`` fixture
(a float64 :class:`ase_mlip.Potential` for species Li and Si); every
architecture gets the same checks: invariance/equivariance, finite-difference
forces and stress, supercell extensivity, locality, smoothness at the cutoff,
save/load round trip. The helpers here take any ASE calculator.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from ase_mlip import MLIPCalculator, load_potential


def rattled_bcc(repeat=(2, 2, 2), seed=1, a=3.44, symbols=("Li", "Si")) -> Atoms:
    """A rattled, sheared two-species bcc crystal (Angstrom)."""
    atoms = bulk("Li", "bcc", a=a, cubic=True).repeat(repeat)
    rng = np.random.default_rng(seed)
    atoms.symbols = rng.choice(symbols, size=len(atoms))
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.03 * rng.standard_normal((3, 3))), scale_atoms=True)
    atoms.positions += 0.15 * rng.standard_normal(atoms.positions.shape)
    return atoms


def cluster(n=8, seed=2) -> Atoms:
    """A non-periodic cluster with no two atoms closer than 1.8 A."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, 4.5, 3)
        if all(np.linalg.norm(p - q) > 1.8 for q in pos):
            pos.append(p)
    return Atoms(rng.choice(["Li", "Si"], size=n), positions=pos)


def numerical_forces(atoms: Atoms, h: float = 1e-4) -> np.ndarray:
    """Central-difference forces -dE/dr, eV/A (5-point stencil)."""
    forces = np.zeros((len(atoms), 3))
    x0 = atoms.positions.copy()
    for a in range(len(atoms)):
        for c in range(3):
            e = []
            for step in (-2, -1, 1, 2):
                x = x0.copy()
                x[a, c] += step * h
                atoms.positions = x
                e.append(atoms.get_potential_energy())
            forces[a, c] = -(e[0] - 8 * e[1] + 8 * e[2] - e[3]) / (12 * h)
    atoms.positions = x0
    return forces


def numerical_stress(atoms: Atoms, h: float = 1e-5) -> np.ndarray:
    """Central-difference stress (1/V) dE/d eps, 3x3, eV/A^3."""
    cell0 = atoms.cell.array.copy()
    volume = atoms.get_volume()
    stress = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e = []
            for step in (-2, -1, 1, 2):
                strain = np.eye(3)
                strain[i, j] += step * h
                atoms.set_cell(cell0 @ strain, scale_atoms=True)
                e.append(atoms.get_potential_energy())
            stress[i, j] = (e[0] - 8 * e[1] + 8 * e[2] - e[3]) / (12 * h) / volume
    atoms.set_cell(cell0, scale_atoms=True)
    return stress


def evaluate(atoms: Atoms, calc) -> dict:
    atoms = atoms.copy()
    atoms.calc = calc
    out = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "energies": atoms.get_potential_energies()}
    if atoms.pbc.all():
        out["stress"] = atoms.get_stress(voigt=False)
    return out


class PotentialPhysicsTests:
    """Physics every potential must obey (float64, round-off tolerances)."""

    reflections = True  # set False for SO(3)-only models

    @pytest.fixture
    def calc(self, potential):
        return MLIPCalculator(potential, dtype="float64")

    @pytest.mark.parametrize("system", ["crystal", "cluster"])
    def test_rotation_translation_permutation(self, calc, system):
        atoms = rattled_bcc() if system == "crystal" else cluster()
        ref = evaluate(atoms, calc)
        rng = np.random.default_rng(3)
        for trial in range(3):
            R = Rotation.random(random_state=trial).as_matrix()
            if self.reflections and trial == 2:
                R = -R  # an improper rotation (inversion times rotation)
            moved = atoms.copy()
            moved.positions = atoms.positions @ R.T + rng.normal(size=3)
            if system == "crystal":
                moved.set_cell(atoms.cell.array @ R.T)
            perm = rng.permutation(len(atoms))
            moved = moved[perm]
            out = evaluate(moved, calc)
            assert out["energy"] == pytest.approx(ref["energy"], abs=1e-10)
            np.testing.assert_allclose(out["forces"], ref["forces"][perm] @ R.T, atol=1e-10)
            np.testing.assert_allclose(out["energies"], ref["energies"][perm], atol=1e-10)
            if system == "crystal":
                np.testing.assert_allclose(out["stress"], R @ ref["stress"] @ R.T, atol=1e-10)

    @pytest.mark.parametrize("system", ["crystal", "cluster"])
    def test_forces_are_minus_energy_gradient(self, calc, system):
        atoms = rattled_bcc(repeat=(1, 1, 1)) if system == "crystal" else cluster()
        atoms.calc = calc
        analytic = atoms.get_forces()
        numeric = numerical_forces(atoms)
        assert np.abs(analytic).max() > 1e-3, "forces too small for a meaningful check"
        err = np.linalg.norm(analytic - numeric) / np.linalg.norm(analytic)
        assert err < 1e-6

    def test_forces_sum_to_zero_and_energies_to_energy(self, calc):
        atoms = rattled_bcc()
        atoms.calc = calc
        np.testing.assert_allclose(atoms.get_forces().sum(axis=0), 0.0, atol=1e-12)
        assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-12)

    @pytest.mark.parametrize("repeat", [(1, 1, 1), (2, 1, 1)])
    def test_stress_is_strain_derivative(self, calc, repeat):
        # (1, 1, 1): a primitive 1-atom-like small cell far below the cutoff.
        atoms = rattled_bcc(repeat=repeat)
        atoms.calc = calc
        analytic = atoms.get_stress(voigt=False)
        numeric = numerical_stress(atoms)
        assert np.abs(analytic).max() > 1e-5
        np.testing.assert_allclose(analytic, numeric, atol=1e-8 * max(1.0, np.abs(numeric).max()))
        np.testing.assert_allclose(analytic, analytic.T, atol=1e-12)

    @pytest.mark.parametrize("cell", ["primitive", "sheared"])
    def test_supercell_is_extensive(self, calc, potential, cell):
        if cell == "primitive":
            atoms = bulk("Li", "bcc", a=3.44)  # 1 atom, cell far smaller than 2 r_cut
            atoms.positions += 0.1
        else:
            atoms = rattled_bcc(repeat=(1, 1, 1))
        assert min(atoms.cell.lengths()) < 2 * potential.r_cut
        small = evaluate(atoms, calc)
        big = evaluate(atoms.repeat((2, 2, 2)), calc)
        assert big["energy"] == pytest.approx(8 * small["energy"], abs=1e-9)
        np.testing.assert_allclose(big["forces"], np.tile(small["forces"], (8, 1)), atol=1e-10)
        np.testing.assert_allclose(big["stress"], small["stress"], atol=1e-10)

    def test_vacuum_slab_equals_mixed_pbc(self, calc, potential):
        slab = rattled_bcc(repeat=(2, 2, 1))
        slab.center(vacuum=potential.r_cut + 1.0, axis=2)
        periodic = evaluate(slab, calc)
        slab.pbc = (True, True, False)
        mixed = evaluate(slab, calc)
        assert mixed["energy"] == pytest.approx(periodic["energy"], abs=1e-10)
        np.testing.assert_allclose(mixed["forces"], periodic["forces"], atol=1e-10)

    def test_locality_and_cutoff_smoothness(self, calc, potential):
        r_cut = potential.r_cut
        isolated = sum(evaluate(Atoms(s, positions=[[0, 0, 0]]), calc)["energy"] for s in ("Li", "Si"))
        energies, forces = [], []
        for r in (r_cut - 1e-3, r_cut - 1e-4, r_cut + 1e-4, r_cut + 1.0):
            out = evaluate(Atoms("LiSi", positions=[[0, 0, 0], [r, 0, 0]]), calc)
            energies.append(out["energy"] - isolated)
            forces.append(np.abs(out["forces"]).max())
        # Beyond the cutoff the atoms do not interact; approaching it, energy and force -> 0.
        assert energies[2] == pytest.approx(0.0, abs=1e-12)
        assert energies[3] == pytest.approx(0.0, abs=1e-12)
        assert abs(energies[1]) < abs(energies[0]) < 1e-6
        assert forces[1] < forces[0] < 1e-4
        inside = evaluate(Atoms("LiSi", positions=[[0, 0, 0], [0.7 * r_cut, 0, 0]]), calc)
        assert abs(inside["energy"] - isolated) > 1e-4, "the dimer must interact inside the cutoff"

    def test_save_load_round_trip(self, potential, tmp_path):
        path = tmp_path / "pot.mlip"
        potential.metadata = {"note": "round trip"}
        potential.save(path)
        loaded = load_potential(path)
        assert loaded.config == potential.config
        assert loaded.metadata == {"note": "round trip"}
        atoms = rattled_bcc()
        a = evaluate(atoms, MLIPCalculator(potential))
        b = evaluate(atoms, MLIPCalculator(loaded))
        assert a["energy"] == b["energy"]
        np.testing.assert_array_equal(a["forces"], b["forces"])
        np.testing.assert_array_equal(a["stress"], b["stress"])
