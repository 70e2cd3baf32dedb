"""Energy conservation of velocity Verlet in LAMMPS with pair_style mlip.

Forces that are the exact negative gradient of the energy make the total
energy of velocity Verlet fluctuate by O(dt^2) around a constant with no
systematic drift. A missing ghost force, a wrong sign or a virial-only bug
would show up as drift or as fluctuations that do not shrink with dt.
"""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import rattled_li, require_lammps

require_lammps()
pytestmark = pytest.mark.lammps

from lammps_driver import lammps_from_atoms  # noqa: E402


def total_energy_series(potential_file, timestep_ps, steps, samples=50):
    """Total energy (eV) sampled ``samples + 1`` times over an NVE run, and the kinetic energy."""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    atoms = rattled_li(repeat=(2, 2, 2), seed=5, amplitude=0.05)
    lmp = lammps_from_atoms(atoms, potential_file, elements=["Li", "Si"], dtype="float64")
    every = steps // samples
    lmp.commands_string(
        f"""
        velocity all create 600 11 loop all
        timestep {timestep_ps}
        fix nve all nve
        thermo_style custom step pe ke etotal
        variable etotal equal etotal
        fix record all vector {every} v_etotal
        run {steps}
        """
    )
    energies = np.array([lmp.extract_fix("record", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, k) for k in range(samples + 1)])
    kinetic = lmp.get_thermo("ke")
    lmp.close()
    return energies, kinetic


def test_nve_1000_steps_conserves_energy(md_potential_file):
    """Bounds relative to the kinetic energy K, so they hold for any energy scale of the potential.

    Measured (small test potential, K ~ 9.5 eV): max |E(t) - E(0)| = 7e-3 eV = 7e-4 K,
    linear drift 2.4e-3 eV/ps = 2.6e-4 K/ps; both shrink with dt (see the next test).
    A force inconsistent with the energy drifts by O(K) over the run.
    """
    energies, kinetic = total_energy_series(md_potential_file, timestep_ps=0.001, steps=1000)
    time_ps = np.linspace(0.0, 1.0, len(energies))
    drift_per_ps = np.polyfit(time_ps, energies, 1)[0]
    assert kinetic > 0.1  # the atoms moved (16 atoms at >= 600 K carry > 1 eV)
    assert np.abs(energies - energies[0]).max() < 1e-2 * kinetic
    assert abs(drift_per_ps) < 2e-3 * kinetic


def test_energy_error_scales_as_timestep_squared(md_potential_file):
    """Halving dt over the same 0.2 ps quarters the energy fluctuation (velocity Verlet is 2nd order)."""
    coarse, _ = total_energy_series(md_potential_file, timestep_ps=0.002, steps=100)
    fine, _ = total_energy_series(md_potential_file, timestep_ps=0.001, steps=200)
    ratio = coarse.std() / fine.std()
    assert ratio == pytest.approx(4.0, rel=0.25)
