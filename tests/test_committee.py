"""Committees: the member average as a potential, its file, its spread, its errors."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from ase import Atoms

from ase_mlip import Committee, MLIPCalculator, load_potential, make_committee

from .conftest import small_potential
from .physics import PotentialPhysicsTests, evaluate, rattled_bcc


def _members(r_cuts=(4.0, 4.0, 3.5)):
    """Members of different seeds and cutoffs; the last one has a ZBL term."""
    return [small_potential(species=("Li", "Si"), seed=10 + k, r_cut=r, **({"zbl": True} if k == 2 else {}))
            for k, r in enumerate(r_cuts)]


class TestCommitteePhysics(PotentialPhysicsTests):
    """Everything a potential obeys, for a committee whose members have different cutoffs."""

    @pytest.fixture
    def potential(self):
        return Committee(_members())


def test_committee_is_the_member_average():
    """Energies, per-atom energies, forces and stress are the averages of the members' own results."""
    members = _members()
    atoms = rattled_bcc(seed=4)
    alone = [evaluate(atoms, MLIPCalculator(m)) for m in members]
    together = evaluate(atoms, MLIPCalculator(Committee(members)))
    for key in ("energy", "energies", "forces", "stress"):
        np.testing.assert_allclose(together[key], np.mean([a[key] for a in alone], axis=0), rtol=0, atol=1e-12)
    assert np.ptp([a["energy"] for a in alone]) > 1e-3  # the members really differ


def test_spread_of_the_members():
    """energy_std and forces_std are the spread of the members' own energies and forces;
    asking for them leaves the mean results unchanged."""
    members = _members()
    atoms = rattled_bcc(seed=5)
    alone = [evaluate(atoms, MLIPCalculator(m)) for m in members]
    energies = np.array([a["energy"] for a in alone])
    forces = np.array([a["forces"] for a in alone])  # [K, N, 3]
    calc = MLIPCalculator(Committee(members))
    atoms.calc = calc
    assert calc.get_property("energy_std", atoms) == pytest.approx(energies.std(), abs=1e-12)
    want = np.sqrt(((forces - forces.mean(0)) ** 2).sum(-1).mean(0))
    np.testing.assert_allclose(calc.get_property("forces_std", atoms), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), forces.mean(0), rtol=0, atol=1e-12)
    assert atoms.get_potential_energy() == pytest.approx(energies.mean(), abs=1e-12)
    assert want.max() > 1e-3
    # A single potential has no spread to give.
    single = MLIPCalculator(members[0])
    assert "forces_std" not in single.implemented_properties


def test_file_round_trip_and_make_committee(tmp_path):
    """A committee file loads as the same committee; make_committee takes files, potentials and
    committees (flattened), and records where its members came from."""
    members = _members()
    for k, m in enumerate(members):
        m.metadata = {"training": {"seed": k}}
        m.save(tmp_path / f"m{k}.mlip")
    committee = make_committee([tmp_path / "m0.mlip", tmp_path / "m1.mlip", members[2]], {"note": "x"})
    assert committee.metadata["members_from"] == ["m0.mlip", "m1.mlip", "object"]
    assert committee.metadata["note"] == "x"
    path = tmp_path / "committee.mlip"
    committee.save(path)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
    assert meta["architecture"] == "committee" and meta["format_version"] == 5 and len(meta["members"]) == 3
    loaded = load_potential(path)
    assert isinstance(loaded, Committee)
    assert loaded.config == committee.config
    assert [m.metadata for m in loaded.members] == [{"training": {"seed": k}} for k in range(3)]
    assert loaded.r_cut == 4.0
    atoms = rattled_bcc(seed=6)
    a, b = evaluate(atoms, MLIPCalculator(committee)), evaluate(atoms, MLIPCalculator(loaded))
    assert a["energy"] == b["energy"]
    np.testing.assert_array_equal(a["forces"], b["forces"])
    # Committees of committees are flattened into one list of members.
    bigger = make_committee([path, tmp_path / "m0.mlip"])
    assert len(bigger.members) == 4
    # Single-model files stay at format version 4 (readable by older versions).
    with zipfile.ZipFile(tmp_path / "m0.mlip") as zf:
        assert json.loads(zf.read("meta.json"))["format_version"] == 4


def test_bad_committees_are_refused(tmp_path):
    li = small_potential(species=("Li",))
    li_si = small_potential(species=("Li", "Si"))
    with pytest.raises(ValueError, match="at least two members"):
        Committee([li])
    with pytest.raises(ValueError, match="same species in the same order"):
        Committee([li_si, small_potential(species=("Si", "Li"))])
    with pytest.raises(ValueError, match="one dtype"):
        Committee([li, small_potential(species=("Li",), dtype="float32")])
    with pytest.raises(TypeError, match="committees of committees"):
        Committee([Committee([li, li]), li])
    # A file whose weights were tampered with, or that lists one member, is refused.
    path = tmp_path / "c.mlip"
    Committee([li, small_potential(species=("Li",), seed=1)]).save(path)
    with zipfile.ZipFile(path) as zf:
        meta, weights = json.loads(zf.read("meta.json")), zf.read("weights.npz")
    meta["members"] = meta["members"][:1]
    bad = tmp_path / "one.mlip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("meta.json", json.dumps(meta))
        zf.writestr("weights.npz", weights)
    with pytest.raises(ValueError, match="fewer than two members"):
        load_potential(bad)


def test_member_cutoffs_are_respected():
    """A member with a shorter cutoff contributes nothing for a pair beyond it, as on its own."""
    members = _members(r_cuts=(4.0, 3.0))
    committee = Committee(members)
    dimer = Atoms("LiSi", positions=[[0, 0, 0], [3.5, 0, 0]])
    isolated = [sum(evaluate(Atoms(s, positions=[[0, 0, 0]]), MLIPCalculator(m))["energy"] for s in ("Li", "Si"))
                for m in members]
    short = evaluate(dimer, MLIPCalculator(members[1]))
    assert short["energy"] == pytest.approx(isolated[1], abs=1e-12)
    together = evaluate(dimer, MLIPCalculator(committee))
    alone = evaluate(dimer, MLIPCalculator(members[0]))
    assert together["energy"] == pytest.approx(0.5 * (alone["energy"] + isolated[1]), abs=1e-12)
    # The shorter member is not even given the edges beyond its cutoff (it would spend work on
    # them for an exact zero).
    seen = []
    handle = members[1].register_forward_pre_hook(lambda module, args: seen.append(args[2].norm(dim=1)))
    try:
        evaluate(rattled_bcc(seed=8), MLIPCalculator(committee))
    finally:
        handle.remove()
    assert seen and all(len(d) and d.max() < 3.0 for d in seen)


def test_committee_in_evaluate(tmp_path):
    """mlip evaluate runs a committee file; its errors are those of the averaged predictions."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from ase_mlip.training import evaluate as evaluate_errors

    members = _members()
    frames = []
    for seed in range(3):
        atoms = rattled_bcc(seed=20 + seed)
        atoms.calc = SinglePointCalculator(atoms, energy=-float(len(atoms)), forces=np.zeros((len(atoms), 3)),
                                           stress=np.zeros(6))
        frames.append(atoms)
    data = tmp_path / "data.extxyz"
    write(data, frames)
    path = tmp_path / "c.mlip"
    Committee(members).save(path)
    summary, _ = evaluate_errors(path, [data])
    predicted = [evaluate(a, MLIPCalculator(Committee(members))) for a in frames]
    energy_mae = np.mean([abs(p["energy"] + len(a)) / len(a) for p, a in zip(predicted, frames)])
    assert summary["all"]["energy_mae_meV_per_atom"] == pytest.approx(1000 * energy_mae, rel=1e-9)


def test_cli_writes_a_committee(tmp_path, capsys):
    """mlip committee OUT A B writes the file; a single member is an error that says why."""
    from ase_mlip.cli import main

    members = _members(r_cuts=(4.0, 3.5))
    for k, m in enumerate(members):
        m.save(tmp_path / f"m{k}.mlip")
    out = tmp_path / "c.mlip"
    assert main(["committee", str(out), str(tmp_path / "m0.mlip"), str(tmp_path / "m1.mlip")]) == 0
    assert "committee of 2 members" in capsys.readouterr().out
    atoms = rattled_bcc(seed=7)
    a = evaluate(atoms, MLIPCalculator(out))
    b = evaluate(atoms, MLIPCalculator(Committee(members)))
    np.testing.assert_array_equal(a["forces"], b["forces"])
    assert main(["committee", str(tmp_path / "x.mlip"), str(tmp_path / "m0.mlip")]) == 1
    assert "at least two members" in capsys.readouterr().err
