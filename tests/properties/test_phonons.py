"""Phonopy-driven phonons equal directly built dynamical matrices of the same calculator."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import _amu, _e

from ase_mlip.properties import run_phonons
from ase_mlip.properties._phonons import auto_supercell, phonopy_force_constants

# sqrt(eV / (Angstrom^2 amu)) / (2 pi) in THz
EV_A2_AMU_TO_THZ = np.sqrt(_e / _amu) * 1e10 / (2 * np.pi) / 1e12


def frequencies_thz(dynamical_matrix):
    w2 = np.linalg.eigvalsh(dynamical_matrix)
    return np.sort(np.sign(w2) * np.sqrt(np.abs(w2)) * EV_A2_AMU_TO_THZ)


def test_linear_springs_fcc_match_analytic_dynamical_matrix(tmp_path, linear_springs):
    """Nearest-neighbour springs K on fcc: D(q) = K/m sum_R (1 - cos q.R) e e^T."""
    a, K = 3.6, 2.0
    atoms = bulk("Cu", "fcc", a=a)
    supercell = (4, 4, 4)
    reference = atoms.repeat(supercell)
    calc = linear_springs(reference, K, r_cut=0.8 * a)
    results = run_phonons(atoms, calc, supercell=supercell, output_dir=tmp_path, mesh=(10, 10, 10),
                          t_step=50)
    neighbours = [np.array(v) * a / 2 for v in
                  [(1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)]]
    neighbours += [-v for v in neighbours]
    # q-points are reduced in phonopy's primitive cell (its own choice of basis)
    reciprocal = 2 * np.pi * np.linalg.inv(results.phonopy.primitive.cell).T  # rows b_i, 1/Angstrom
    m = atoms.get_masses()[0]
    gamma, x, l, mid = np.zeros(3), 2 * np.pi / a * np.array([1, 0, 0]), np.pi / a * np.ones(3), [0.3, 0.2, 0]
    for q in (gamma, x, l, np.array(mid) * 2 * np.pi / a):
        q_reduced = np.linalg.solve(reciprocal.T, q)
        D = sum(K / m * (1 - np.cos(q @ R)) * np.outer(R, R) / (R @ R) for R in neighbours)
        expected = frequencies_thz(D)
        got = results.frequencies(q_reduced)[0]
        np.testing.assert_allclose(got, expected, atol=1e-5)  # sqrt of ~1e-12 rounding at Gamma
    assert frequencies_thz(D).max() > 1.0  # not a trivial comparison of zeros
    # phonopy's files are there and readable by phonopy
    import phonopy

    loaded = phonopy.load(tmp_path / "phonopy_params.yaml")
    loaded.run_qpoints([q_reduced])
    np.testing.assert_allclose(loaded.qpoints.frequencies[0], results.frequencies(q_reduced)[0], atol=1e-6)
    for name in ("band.yaml", "total_dos.dat", "thermal_properties.yaml", "phonons.png", "thermal_properties.png"):
        assert (tmp_path / name).stat().st_size > 0
    # heat capacity reaches the classical 3 k_B per atom
    assert results.heat_capacity_per_atom[-1] == pytest.approx(3.0, abs=0.03)
    assert np.trapezoid(results.total_dos, results.dos_frequencies) == pytest.approx(3.0, rel=0.02)


def test_emt_copper_matches_finite_difference_dynamical_matrix():
    """EMT Cu: the dynamical matrix from our own central differences of the forces
    in a 2x2x2 cubic supercell agrees with phonopy at Gamma, X and L (commensurate)."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    supercell = atoms.repeat((2, 2, 2))
    supercell.calc = EMT()
    h, n = 0.01, len(supercell)
    phi = np.zeros((3, n, 3))  # d F_j / d u_{0, alpha} -> Phi(0 alpha, j beta) = -dF/du
    for alpha in range(3):
        forces = []
        for sign in (1, -1):
            displaced = supercell.copy()
            displaced.calc = EMT()
            displaced.positions[0, alpha] += sign * h
            forces.append(displaced.get_forces())
        phi[alpha] = -(forces[0] - forces[1]) / (2 * h)
    m = supercell.get_masses()[0]
    r = supercell.positions - supercell.positions[0]
    phonon = phonopy_force_constants(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), supercell=(2, 2, 2),
                                     displacement=h)
    a = 3.6
    primitive_reciprocal = 2 * np.pi * np.linalg.inv(phonon.primitive.cell).T
    for q_cart in (np.zeros(3), 2 * np.pi / a * np.array([1.0, 0, 0]), np.pi / a * np.ones(3)):
        phase = np.exp(1j * r @ q_cart)  # [n]
        D = np.einsum("ajb,j->ab", phi, phase) / m
        expected = frequencies_thz(0.5 * (D + D.conj().T).real)
        q_reduced = np.linalg.solve(primitive_reciprocal.T, q_cart)
        phonon.run_qpoints([q_reduced])
        got = np.sort(phonon.qpoints.frequencies[0])
        np.testing.assert_allclose(got, expected, atol=2e-3)
    assert expected.max() > 5.0


def test_auto_supercell_and_errors():
    assert auto_supercell(bulk("Cu", cubic=True), 10.0).tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="periodic"):
        phonopy_force_constants(_molecule(), EMT())
    with pytest.raises(ValueError, match="displacement"):
        phonopy_force_constants(bulk("Cu"), EMT(), displacement=0.0)


def _molecule():
    from ase.build import molecule

    return molecule("H2O")
