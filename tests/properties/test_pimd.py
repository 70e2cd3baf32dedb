"""Path-integral MD: harmonic-oscillator quantum limit, classical limit, integrator, restart."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read

from ase_mlip.properties import PIMD, block_average
from ase_mlip.properties._normal_modes import (
    HBAR,
    FreeRingPolymerStep,
    from_normal_modes,
    normal_mode_frequencies,
    normal_mode_matrix,
    to_normal_modes,
)
from ase_mlip.properties._pimd import CONSERVED, KINETIC_PRIMITIVE, KINETIC_VIRIAL, POTENTIAL, PRESSURE

# Oscillator: hydrogen mass, hbar omega = 0.1 eV, at beta hbar omega = 3 the quantum
# kinetic energy per degree of freedom (hbar omega / 4) coth(beta hbar omega / 2) is
# 1.66 times the classical k_B T / 2.
HBAR_OMEGA = 0.1
MASS = 1.008
BETA_HBAR_OMEGA = 3.0


def oscillators(num_atoms, harmonic_oscillators):
    omega = HBAR_OMEGA / HBAR
    atoms = Atoms(f"H{num_atoms}", positions=np.zeros((num_atoms, 3)))
    atoms.calc = harmonic_oscillators(atoms.positions, MASS * omega**2)
    temperature_K = HBAR_OMEGA / (BETA_HBAR_OMEGA * units.kB)
    return atoms, temperature_K


def test_normal_modes_orthonormal_and_diagonalise_springs():
    for P in (1, 2, 5, 8):
        C = normal_mode_matrix(P)
        np.testing.assert_allclose(C.T @ C, np.eye(P), atol=1e-12)
        # ring Laplacian (2 on the diagonal, -1 to neighbours) is diagonal in C
        L = 2 * np.eye(P) - np.roll(np.eye(P), 1, axis=0) - np.roll(np.eye(P), -1, axis=0)
        if P == 1:
            L = np.zeros((1, 1))
        omega = normal_mode_frequencies(P, 1.0)
        np.testing.assert_allclose(C.T @ L @ C, np.diag(omega**2), atol=1e-12)


def test_free_ring_polymer_step_is_exact_and_symplectic():
    rng = np.random.default_rng(0)
    P, N = 6, 3
    masses = np.array([1.0, 7.0, 63.5])
    C = normal_mode_matrix(P)
    omega = normal_mode_frequencies(P, 0.8)
    q, p = rng.normal(size=(P, N, 3)), rng.normal(size=(P, N, 3))
    # two half steps equal one full step, and a step back restores the start
    half, full = FreeRingPolymerStep(omega, 0.35), FreeRingPolymerStep(omega, 0.7)
    q1, p1 = full(q, p, masses)
    q2, p2 = half(*half(q, p, masses), masses)
    np.testing.assert_allclose(q1, q2, atol=1e-12)
    np.testing.assert_allclose(p1, p2, atol=1e-12)
    q3, p3 = FreeRingPolymerStep(omega, -0.7)(q1, p1, masses)
    np.testing.assert_allclose(q3, q, atol=1e-12)
    np.testing.assert_allclose(p3, p, atol=1e-12)
    # the free ring-polymer energy in bead coordinates is conserved exactly
    def energy(q_nm, p_nm):
        qb, pb = from_normal_modes(q_nm, C), from_normal_modes(p_nm, C)
        springs = 0.5 * 0.8**2 * np.sum(masses[None, :, None] * (qb - np.roll(qb, -1, axis=0)) ** 2)
        return 0.5 * np.sum(pb**2 / masses[None, :, None]) + springs

    q_nm, p_nm = to_normal_modes(q, C), to_normal_modes(p, C)
    np.testing.assert_allclose(energy(*full(q_nm, p_nm, masses)), energy(q_nm, p_nm), rtol=1e-12)


def test_quantum_kinetic_energy_of_harmonic_oscillators(harmonic_oscillators):
    """K per degree of freedom -> (hbar w / 4) coth(beta hbar w / 2), where classical is 40 % off."""
    atoms, temperature_K = oscillators(24, harmonic_oscillators)
    P = 32
    pimd = PIMD(atoms, P, 1.0 * units.fs, temperature_K=temperature_K, tau_centroid=20 * units.fs, rng=1)
    pimd.run(150)  # equilibrate
    record = pimd.run(1200)
    dof = 3 * len(atoms)
    kT = units.kB * temperature_K
    quantum = HBAR_OMEGA / 4 / np.tanh(HBAR_OMEGA / (2 * kT))
    classical = kT / 2
    assert abs(classical - quantum) / quantum > 0.2
    # exact value of the P-bead discretisation: sum over modes of w^2 / (w^2 + w_k^2)
    omega, omega_k = HBAR_OMEGA / HBAR, normal_mode_frequencies(P, P * kT / HBAR)
    discretised = 0.5 * kT * np.sum(omega**2 / (omega**2 + omega_k**2))
    for key in (KINETIC_VIRIAL, KINETIC_PRIMITIVE, POTENTIAL):  # virial theorem: <V> = <K>
        mean, error = block_average(record[key] / dof, num_blocks=12)
        assert error < 0.02 * quantum, key  # the run is long enough to tell quantum from classical
        assert abs(discretised - quantum) < error, key  # P large enough for the continuum limit
        assert abs(mean - quantum) < 3 * error, (key, mean, error, quantum)
        assert abs(mean - classical) > 20 * error, key


def test_one_bead_is_classical(harmonic_oscillators):
    atoms, temperature_K = oscillators(64, harmonic_oscillators)
    pimd = PIMD(atoms, 1, 1.0 * units.fs, temperature_K=temperature_K, tau_centroid=20 * units.fs, rng=2)
    pimd.run(100)
    kinetic, potential = [], []
    for _ in range(3000):
        pimd.step()
        kinetic.append(0.5 * np.sum(pimd.momenta**2 / pimd.masses[None, :, None]))
        potential.append(pimd.energies.mean())
    dof = 3 * len(atoms)
    classical = units.kB * temperature_K / 2
    for series in (kinetic, potential):
        mean, error = block_average(np.array(series) / dof, num_blocks=15)
        assert error < 0.02 * classical
        assert abs(mean - classical) < 3 * error, (mean, error, classical)
    # with one bead both estimators reduce to the classical value exactly
    obs = pimd.observables()
    assert obs[KINETIC_VIRIAL] == pytest.approx(dof * classical, rel=1e-12)
    assert obs[KINETIC_PRIMITIVE] == pytest.approx(dof * classical, rel=1e-12)


def test_microcanonical_ring_polymer_conserves_energy_to_second_order():
    atoms = bulk("Cu", cubic=True).repeat(2)
    spread = []
    for dt in (2.0, 1.0):
        pimd = PIMD(atoms.copy(), 4, dt * units.fs, temperature_K=100, thermostat="none", rng=0, calculator=EMT())
        record = pimd.run(int(40 / dt))
        spread.append(np.ptp(record[CONSERVED]))
    assert spread[1] < 0.01  # eV, 32 atoms x 4 beads
    assert 3.0 < spread[0] / spread[1] < 5.0  # error ~ dt^2


def test_thermostat_heat_balances_conserved_quantity():
    atoms = bulk("Cu", cubic=True)
    pimd = PIMD(atoms, 4, 1.0 * units.fs, temperature_K=300, rng=0, calculator=EMT(),
                tau_centroid=10 * units.fs)
    record = pimd.run(60)
    kinetic = 0.5 * np.sum(pimd.momenta**2 / pimd.masses[None, :, None])
    assert abs(pimd.thermostat_heat) > 10 * np.ptp(record[CONSERVED])
    assert np.isfinite(record[PRESSURE]).all()
    assert kinetic > 0


@pytest.mark.parametrize("stateless", [True, False])
def test_restart_continues_identically(tmp_path, stateless, harmonic_oscillators):
    """A resumed run repeats the uninterrupted one: bit for bit with a calculator that
    keeps no history; to rounding with EMT, whose neighbour list remembers past calls."""
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=3)

    def calculator():
        return harmonic_oscillators(atoms.positions, 3.0) if stateless else EMT()

    kwargs = dict(temperature_K=200, rng=7, thermostat="pile_l")
    straight = PIMD(atoms.copy(), 3, 2.0 * units.fs, calculator=calculator(), **kwargs)
    straight.run(12)

    first = PIMD(atoms.copy(), 3, 2.0 * units.fs, calculator=calculator(), checkpoint=tmp_path / "state.npz",
                 logfile=tmp_path / "pimd.log", trajectory=tmp_path / "centroid.traj",
                 bead_trajectory=tmp_path / "beads.traj", **kwargs)
    first.run(5)
    first.close()
    resumed = PIMD.restart(tmp_path / "state.npz", calculator(), logfile=tmp_path / "pimd.log",
                           trajectory=tmp_path / "centroid.traj", bead_trajectory=tmp_path / "beads.traj")
    resumed.run(7)
    resumed.close()
    assert resumed.nsteps == straight.nsteps == 12
    atol = 0.0 if stateless else 1e-10
    np.testing.assert_allclose(resumed.positions, straight.positions, rtol=0, atol=atol)
    np.testing.assert_allclose(resumed.momenta, straight.momenta, rtol=0, atol=atol)
    # outputs continue: 12 log lines after the header, 12 frames of each trajectory
    lines = [line for line in open(tmp_path / "pimd.log") if not line.startswith("#")]
    assert [int(line.split()[0]) for line in lines] == list(range(1, 13))
    centroid = read(tmp_path / "centroid.traj", ":")
    beads = read(tmp_path / "beads.traj", ":")
    assert len(centroid) == len(beads) == 12
    np.testing.assert_allclose(centroid[-1].positions, straight.centroid_positions, atol=1e-10)
    assert beads[-1].info["num_beads"] == 3 and len(beads[-1]) == 3 * len(atoms)
    np.testing.assert_allclose(beads[-1].positions.reshape(3, -1, 3), straight.positions, atol=1e-10)


def test_bad_arguments_say_what_to_fix():
    atoms = bulk("Cu")
    with pytest.raises(ValueError, match="calculator"):
        PIMD(atoms, 4, units.fs, temperature_K=100)
    with pytest.raises(ValueError, match="thermostat"):
        PIMD(atoms, 4, units.fs, temperature_K=100, calculator=EMT(), thermostat="nose")
    with pytest.raises(ValueError, match="splitting"):
        PIMD(atoms, 4, units.fs, temperature_K=100, calculator=EMT(), splitting="abc")
    with pytest.raises(FileNotFoundError):
        PIMD.restart("does-not-exist.npz", EMT())
