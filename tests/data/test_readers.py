"""Readers: units, stress sign and order, source tags, bad-record reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.units import GPa

from ase_mlip.data import (
    DataError,
    dataset_statistics,
    format_statistics,
    get_labels,
    load_dataset,
    read_mlearn,
    read_structures,
)

MLEARN = Path(__file__).resolve().parents[2] / "data" / "mlearn"


def _record(symbols, positions, cell, energy, forces, virial):
    return {
        "structure": {"lattice": {"matrix": cell},
                      "sites": [{"species": [{"element": s, "occu": 1}], "xyz": list(p)}
                                for s, p in zip(symbols, positions)]},
        "outputs": {"energy": energy, "forces": forces, "virial_stress": virial},
        "group": "Test",
    }


def test_mlearn_units_and_voigt_order(tmp_path):
    """One synthetic record: eV and eV/A pass through; kbar -> -0.1 GPa, reordered to Voigt."""
    cell = [[3.0, 0, 0], [0, 3.1, 0], [0, 0, 3.2]]
    rec = _record(["Li", "Li"], [[0, 0, 0], [1.5, 1.5, 1.6]], cell, -3.5,
                  [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    path = tmp_path / "one.json"
    path.write_text(json.dumps([rec]))
    (atoms,) = read_structures(path)
    energy, forces, stress = get_labels(atoms)
    assert energy == -3.5
    np.testing.assert_array_equal(forces, [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]])
    # mlearn xx yy zz xy yz zx = 1..6 kbar; ASE Voigt xx yy zz yz xz xy, tensile positive.
    np.testing.assert_allclose(stress / GPa, [-0.1, -0.2, -0.3, -0.5, -0.6, -0.4], rtol=1e-12)
    np.testing.assert_allclose(atoms.cell[:], cell)
    assert atoms.info["group"] == "Test" and atoms.pbc.all()
    assert atoms.info["source_index"] == 0 and atoms.info["source_file"].endswith("one.json")


def test_mlearn_stress_sign_against_energy_finite_difference():
    """Li Elastic group: dE = V sigma_xx d(eps_xx) along the uniaxial strain series.

    The DFT energies of structures that differ only by the length of the first
    cell vector give dE/d(eps_xx) by finite differences; it must equal V times
    the reader's sigma_xx (ASE sign). A flipped sign would give the opposite slope.
    """
    frames = [a for a in read_mlearn(MLEARN / "Li" / "training.json") if a.info["group"] == "Elastic"]
    ref = frames[0].cell.cellpar()
    series = [a for a in frames if np.allclose(a.cell.cellpar()[1:], ref[1:])]
    series.sort(key=lambda a: a.cell[0, 0])
    assert len(series) >= 3
    checked = 0
    for a, b in zip(series[:-1], series[1:]):
        d_eps = b.cell[0, 0] / a.cell[0, 0] - 1.0
        d_energy = b.get_potential_energy() - a.get_potential_energy()
        sigma_xx = 0.5 * (a.get_stress()[0] + b.get_stress()[0])  # eV/A^3 at the midpoint
        volume = 0.5 * (a.get_volume() + b.get_volume())
        predicted = volume * sigma_xx * d_eps
        assert predicted * d_energy > 0
        assert math.isclose(predicted, d_energy, rel_tol=0.15), (predicted, d_energy)
        checked += 1
    assert checked >= 2


def test_mlearn_shear_components_land_in_voigt_slots():
    """A cell with angle alpha (b,c) != 90 deg is a yz shear: its stress is in Voigt slot 3."""
    frames = [a for a in read_mlearn(MLEARN / "Li" / "training.json") if a.info["group"] == "Elastic"]
    found = set()
    for atoms in frames:
        angles = atoms.cell.cellpar()[3:]
        off = np.abs(atoms.get_stress()[3:])
        if np.sum(np.abs(angles - 90) > 0.1) == 1:
            k = int(np.argmax(np.abs(angles - 90)))  # alpha -> yz (3), beta -> xz (4), gamma -> xy (5)
            assert int(np.argmax(off)) == k
            found.add(k)
    assert found == {0, 1, 2}


def test_extxyz_round_trip(tmp_path):
    atoms = Atoms("Si2", positions=[[0, 0, 0], [1.3, 1.4, 1.2]], cell=np.eye(3) * 5.4, pbc=True)
    forces = np.array([[0.5, -0.2, 0.1], [-0.5, 0.2, -0.1]])
    stress = np.array([0.01, 0.02, 0.03, 0.004, 0.005, 0.006])
    atoms.calc = SinglePointCalculator(atoms, energy=-10.5, forces=forces, stress=stress)
    atoms.info["config_type"] = "bulk"
    path = tmp_path / "data.extxyz"
    write(path, [atoms, atoms])
    frames = read_structures(path)
    assert len(frames) == 2 and frames[1].info["source_index"] == 1
    energy, f, s = get_labels(frames[1])
    assert energy == pytest.approx(-10.5)
    np.testing.assert_allclose(f, forces)
    np.testing.assert_allclose(s, stress)


def test_bad_records_are_reported_by_file_and_index(tmp_path):
    cell = [[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]]
    pos = [[0, 0, 0], [2, 2, 2]]
    good = _record(["Li", "Li"], pos, cell, -3.0, [[0, 0, 0], [0, 0, 0]], [0] * 6)
    no_forces = json.loads(json.dumps(good))
    no_forces["outputs"].pop("forces")
    nan_energy = json.loads(json.dumps(good))
    nan_energy["outputs"]["energy"] = float("nan")
    sodium = _record(["Li", "Na"], pos, cell, -3.0, [[0, 0, 0], [0, 0, 0]], [0] * 6)
    nan_force = json.loads(json.dumps(good))
    nan_force["outputs"]["forces"][1][2] = float("nan")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([good, no_forces, nan_energy, sodium, nan_force]))
    with pytest.raises(DataError) as info:
        load_dataset(path, species=["Li"])
    problems = info.value.problems
    assert len(problems) == 4
    assert f"{path}[1]: missing forces" in problems
    assert f"{path}[2]: energy is nan" in problems
    assert any(p.startswith(f"{path}[3]:") and "'Na'" in p for p in problems)
    assert f"{path}[4]: forces contain NaN or inf" in problems
    assert str(path) in str(info.value)


def test_bad_extxyz_record_without_forces(tmp_path):
    a = Atoms("Li2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=np.eye(3) * 3.4, pbc=True)
    b = a.copy()
    a.calc = SinglePointCalculator(a, energy=-3.8, forces=np.zeros((2, 3)))
    b.calc = SinglePointCalculator(b, energy=-3.7)
    path = tmp_path / "mixed.extxyz"
    write(path, [a, b])
    with pytest.raises(DataError, match=r"mixed.extxyz\[1\]: missing forces"):
        load_dataset(path)
    assert len(read_structures(path)) == 2  # reading alone keeps every record


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_dataset(tmp_path / "nope.json")


def test_statistics_of_hand_built_set():
    frames = []
    for energy, f in [(-4.0, 0.3), (-3.0, -0.6)]:
        a = Atoms("Li2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=np.eye(3) * 3.4, pbc=True)
        forces = np.array([[f, 0, 0], [-f, 0, 0]])
        a.calc = SinglePointCalculator(a, energy=energy, forces=forces)
        frames.append(a)
    stats = dataset_statistics(frames)
    assert stats["num_structures"] == 2 and stats["num_atoms"] == 4
    assert stats["species"] == {"Li": 4}
    assert stats["energy_per_atom_eV"][0] == pytest.approx(-1.75)
    assert stats["energy_per_atom_eV"][1] == pytest.approx(0.25)
    # components: 0.3, -0.3, -0.6, 0.6 and eight zeros -> RMS sqrt((2*0.09 + 2*0.36) / 12)
    assert stats["force_rms_eV_per_A"] == pytest.approx(math.sqrt(0.9 / 12))
    assert stats["force_max_eV_per_A"] == pytest.approx(0.6)
    assert "2 structures" in format_statistics(stats)


def test_ase_database(tmp_path):
    from ase.db import connect

    atoms = Atoms("Mo2", positions=[[0, 0, 0], [1.6, 1.6, 1.6]], cell=np.eye(3) * 3.16, pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-21.5, forces=np.full((2, 3), 0.25),
                                       stress=np.arange(6) * 0.001)
    path = tmp_path / "set.db"
    with connect(path) as db:
        db.write(atoms)
        db.write(atoms)
    frames = load_dataset(path, species=["Mo"])
    assert len(frames) == 2 and frames[1].info["source_index"] == 1
    energy, forces, stress = get_labels(frames[0])
    assert energy == pytest.approx(-21.5)
    np.testing.assert_allclose(forces, 0.25)
    np.testing.assert_allclose(stress, np.arange(6) * 0.001)
