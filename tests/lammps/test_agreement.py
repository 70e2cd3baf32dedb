"""pair_style mlip in-process equals the ASE calculator (float64), cell shapes and species mixed.

Reference: ase_mlip.MLIPCalculator on the same structure and potential file.
LAMMPS builds its graph from ghost atoms and its own neighbour list, the
calculator from a periodic neighbour list with cell shifts; agreement to
1e-8 checks the edge construction, the force and virial accumulation and
the rotation into LAMMPS's triclinic frame.
"""

from __future__ import annotations

import numpy as np
import pytest

from ase_mlip import MLIPCalculator

from .conftest import li_slab, rattled_li, require_lammps, triclinic_li

require_lammps()
pytestmark = pytest.mark.lammps

from lammps_driver import lammps_from_atoms, lammps_results  # noqa: E402

TOLERANCE = 1e-8  # eV, eV/A, eV/A^3 (float64)


def ase_reference(atoms, potential_file, stress=True):
    atoms = atoms.copy()
    atoms.calc = MLIPCalculator(potential_file, dtype="float64")
    reference = {
        "energy": atoms.get_potential_energy(),
        "energies": atoms.get_potential_energies(),
        "forces": atoms.get_forces(),
    }
    if stress:
        reference["stress"] = atoms.get_stress()
    return reference


@pytest.mark.parametrize("which", ["potential_file", "committee_file"])
@pytest.mark.parametrize(
    "make_atoms", [rattled_li, triclinic_li, li_slab], ids=["orthogonal", "triclinic", "slab"]
)
def test_lammps_equals_ase(make_atoms, which, request):
    """Also for a committee file, which runs unchanged in pair_style mlip (the members' average)."""
    potential_file = request.getfixturevalue(which)
    atoms = make_atoms()
    periodic = bool(atoms.pbc.all())
    reference = ase_reference(atoms, potential_file, stress=periodic)
    lmp = lammps_from_atoms(atoms, potential_file, elements=["Li", "Si"], dtype="float64")
    lmp.command("run 0")
    found = lammps_results(lmp)
    lmp.close()

    assert abs(found["energy"] - reference["energy"]) < TOLERANCE
    np.testing.assert_allclose(found["energies"], reference["energies"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(found["forces"], reference["forces"], rtol=0, atol=TOLERANCE)
    if periodic:
        np.testing.assert_allclose(found["stress"], reference["stress"], rtol=0, atol=TOLERANCE)
    # the structures are not trivial: forces and energies are far above the tolerance
    assert np.abs(reference["forces"]).max() > 1e3 * TOLERANCE
    assert np.ptp(reference["energies"]) > 1e3 * TOLERANCE


def test_per_atom_virial_sums_to_global(potential_file):
    """compute stress/atom (per-edge virial split half/half) sums to the global virial."""
    atoms = triclinic_li()
    lmp = lammps_from_atoms(atoms, potential_file, elements=["Li", "Si"], dtype="float64")
    lmp.command("compute mlip_stress_atom all stress/atom NULL virial")
    lmp.command("compute mlip_stress_sum all reduce sum c_mlip_stress_atom[*]")
    lmp.command("thermo_style custom step pe c_mlip_virial[*] c_mlip_stress_sum[*]")
    lmp.command("run 0")
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    pressure = [lmp.extract_compute("mlip_virial", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[k] for k in range(6)]
    summed = [lmp.extract_compute("mlip_stress_sum", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[k] for k in range(6)]
    volume = lmp.get_thermo("vol")
    lmp.close()
    # stress/atom is -(pressure * volume) per atom, in bar A^3
    np.testing.assert_allclose(-np.array(summed) / volume, pressure, rtol=1e-10, atol=1e-6)
    assert np.abs(pressure).max() > 1.0  # bar: a strained cell has a virial


def test_float32_close_to_float64(potential_file):
    """dtype float32 in the pair_style line evaluates in single precision."""
    atoms = rattled_li()
    values = {}
    for dtype in ("float32", "float64"):
        lmp = lammps_from_atoms(atoms, potential_file, elements=["Li", "Si"], dtype=dtype)
        lmp.command("run 0")
        values[dtype] = lammps_results(lmp)
        lmp.close()
    difference = np.abs(values["float32"]["forces"] - values["float64"]["forces"]).max()
    assert difference < 1e-4
    assert difference > 0.0  # single precision really was used


def test_hybrid_overlay_and_null_types(potential_file):
    """`pair_coeff * * mlip Li NULL` under pair_style hybrid: NULL-type atoms are invisible to mlip.

    The energy and the forces on the Li atoms then equal the ASE calculator's for the
    structure with the NULL-type atoms removed (type 2 here: the Si sites).
    """
    atoms = rattled_li()
    is_si = np.array([s == "Si" for s in atoms.get_chemical_symbols()])
    reference = ase_reference(atoms[~is_si], potential_file, stress=True)
    lmp = lammps_from_atoms(atoms, potential_file, elements=["Li", "Si"], dtype="float64")
    lmp.commands_string(
        f"""
        pair_style hybrid/overlay mlip {potential_file} dtype float64 device cpu zero 4.0
        pair_coeff * * mlip Li NULL
        pair_coeff * * zero
        run 0
        """
    )
    found = lammps_results(lmp)
    lmp.close()
    assert abs(found["energy"] - reference["energy"]) < TOLERANCE
    np.testing.assert_allclose(found["forces"][~is_si], reference["forces"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(found["forces"][is_si], 0.0, atol=TOLERANCE)
    np.testing.assert_allclose(found["stress"], reference["stress"], rtol=0, atol=TOLERANCE)


def test_md_recipe_matches_ase_velocity_verlet(potential_file):
    """20 NVE steps of 1 fs in LAMMPS (run_atoms) and with ASE's VelocityVerlet end in the same state.

    Both integrate with velocity Verlet from the same positions and velocities; the
    only differences are round-off and LAMMPS's metal-unit constants.
    """
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from lammps_driver import run_atoms

    start = triclinic_li()
    start.set_velocities(np.random.default_rng(0).normal(0.0, 0.02, (len(start), 3)))
    final = run_atoms(
        start, potential_file, "timestep 0.001\nfix nve all nve\nrun 20", elements=["Li", "Si"], dtype="float64"
    )
    ase_atoms = start.copy()
    ase_atoms.calc = MLIPCalculator(potential_file, dtype="float64")
    VelocityVerlet(ase_atoms, timestep=1.0 * units.fs).run(20)

    moved = np.abs(ase_atoms.positions - start.positions).max()
    assert moved > 1e-2  # the atoms really moved
    difference = ase_atoms.positions - final.positions
    difference -= np.round(difference @ np.linalg.inv(start.cell.array)) @ start.cell.array  # wrapping
    # measured: 1.3e-9 A, 1.3e-9 A/fs-units, 1.6e-9 eV
    assert np.abs(difference).max() < 1e-7
    np.testing.assert_allclose(final.get_velocities(), ase_atoms.get_velocities(), rtol=0, atol=1e-7)
    assert final.get_potential_energy() == pytest.approx(ase_atoms.get_potential_energy(), abs=1e-7)

