"""Spectra and structure: VDOS of a harmonic crystal vs its phonon DOS, RDF, MSD, readers."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.md.langevin import Langevin

from ase_mlip.properties import (
    diffusion_coefficient,
    frame_velocities,
    mean_squared_displacement,
    phonopy_force_constants,
    radial_distribution,
    read_frames,
    vibrational_dos,
)


def gaussian_smooth(x, y, sigma):
    kernel = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)
    return kernel @ y / kernel.sum(axis=1)


def test_vdos_of_harmonic_crystal_peaks_at_phonon_dos_peak(linear_springs):
    a, K, n = 3.6, 2.0, 4
    unit = bulk("Cu", "fcc", a=a)
    atoms = unit.repeat(n)
    calc = linear_springs(atoms, K, r_cut=0.8 * a)
    # phonon DOS of exactly the modes the MD cell holds: the commensurate n x n x n mesh
    phonon = phonopy_force_constants(unit, calc, supercell=(n, n, n))
    phonon.run_mesh([n, n, n], is_gamma_center=True)
    phonon.run_total_dos(sigma=0.15, freq_min=0.0, freq_max=10.0, freq_pitch=0.02)
    nu_ph, dos_ph = phonon.total_dos.frequency_points, phonon.total_dos.dos

    atoms.calc = calc
    sigma = np.sqrt(atoms.get_masses() * units.kB * 100)[:, None]
    atoms.set_momenta(sigma * np.random.default_rng(0).normal(size=(len(atoms), 3)))
    dyn = Langevin(atoms, 4 * units.fs, temperature_K=100, friction=0.002 / units.fs,
                   rng=np.random.default_rng(1), fixcm=False)
    velocities = []
    dyn.attach(lambda: velocities.append(atoms.get_velocities()), interval=1)
    dyn.run(3000)
    nu, dos = vibrational_dos(np.array(velocities), 4 * units.fs, atoms.get_masses(), max_lag=600)
    assert np.trapezoid(dos, nu) == pytest.approx(3 * len(atoms), rel=1e-6)
    dos_md = gaussian_smooth(nu, dos, 0.15)
    inside = nu < 10.0
    peak_md = nu[inside][np.argmax(dos_md[inside])]
    peak_ph = nu_ph[np.argmax(dos_ph)]
    assert peak_ph > 5.0  # the upper (longitudinal) peak of fcc
    assert abs(peak_md - peak_ph) < 0.25, (peak_md, peak_ph)
    # and the first moments over the phonon band agree
    mean_md = np.trapezoid(nu[inside] * dos[inside], nu[inside]) / np.trapezoid(dos[inside], nu[inside])
    mean_ph = np.trapezoid(nu_ph * dos_ph, nu_ph) / np.trapezoid(dos_ph, nu_ph)
    assert mean_md == pytest.approx(mean_ph, rel=0.03)


def test_rdf_of_fcc_has_twelve_nearest_neighbours():
    a = 3.6
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(3)
    atoms.rattle(0.02, seed=0)
    r, g = radial_distribution([atoms], r_max=4.0, num_bins=400)
    dr = r[1] - r[0]
    rho = len(atoms) / atoms.get_volume()
    first = r < 0.5 * (a / np.sqrt(2) + a)
    shell = 4 / 3 * np.pi * ((r + dr / 2) ** 3 - (r - dr / 2) ** 3)
    coordination = np.sum(shell[first] * rho * g[first])
    assert coordination == pytest.approx(12.0, abs=1e-9)
    assert abs(r[np.argmax(g)] - a / np.sqrt(2)) < 0.05


def test_msd_recovers_diffusion_of_a_random_walk_across_boundaries():
    rng = np.random.default_rng(0)
    D_A2_per_fs = 0.01
    dt = 2.0 * units.fs
    steps = rng.normal(scale=np.sqrt(2 * D_A2_per_fs * 2.0), size=(2000, 50, 3))
    positions = np.cumsum(steps, axis=0)
    cell = 5.0 * np.eye(3)
    frames = [Atoms("Ar50", positions=p, cell=cell, pbc=True) for p in positions]
    for f in frames:
        f.wrap()
    time_fs, msd = mean_squared_displacement(frames, dt, max_lag=200)
    diffusion, _ = diffusion_coefficient(time_fs, msd)
    assert diffusion == pytest.approx(D_A2_per_fs * 0.1, rel=0.05)  # A^2/fs -> cm^2/s is x 0.1


def test_lammps_dump_velocities_are_read_in_ase_units(tmp_path):
    path = tmp_path / "md.dump"
    lines = []
    for step, vx in ((0, 1.0), (10, 2.0)):
        lines += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", "2",
                  "ITEM: BOX BOUNDS pp pp pp", "0 4", "0 4", "0 4",
                  "ITEM: ATOMS id type x y z vx vy vz",
                  f"1 1 0.0 0.0 0.0 {vx} 0.0 0.0", f"2 1 2.0 2.0 2.0 0.0 {-vx} 0.0"]
    path.write_text("\n".join(lines) + "\n")
    frames = read_frames(path)
    assert len(frames) == 2
    v = frame_velocities(frames)
    # metal units: velocities in Angstrom/ps
    np.testing.assert_allclose(v[1, 0, 0] * 1000 * units.fs, 2.0, rtol=1e-10)
    np.testing.assert_allclose(v[1, 1, 1] * 1000 * units.fs, -2.0, rtol=1e-10)
    with pytest.raises(ValueError, match="timestep"):
        frame_velocities([Atoms("H", positions=[[0, 0, 0]])] * 3)
