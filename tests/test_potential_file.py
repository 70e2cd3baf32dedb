"""The potential file: round trip, and refusal of damaged, pickled or unknown files."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
import torch

from ase_mlip import build_potential, load_potential
from ase_mlip.potential import FORMAT_VERSION, NEWEST_FORMAT_VERSION

from .conftest import small_potential


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "li.mlip"
    pot = small_potential()
    pot.metadata = {"epochs": 3}
    pot.save(path)
    return path, pot


def _rewrite(src, dst, meta_change=None, weights=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        meta = json.loads(zin.read("meta.json"))
        if meta_change:
            meta_change(meta)
        zout.writestr("meta.json", json.dumps(meta))
        zout.writestr("weights.npz", weights if weights is not None else zin.read("weights.npz"))


def test_file_holds_what_it_must(saved):
    path, pot = saved
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["species"] == ["Li"] and meta["r_cut"] == pot.r_cut
    assert meta["units"] == {"energy": "eV", "length": "Angstrom"}
    assert meta["architecture"] == "allegro" and meta["hyperparameters"]["num_layers"] == 2
    assert meta["metadata"] == {"epochs": 3}
    loaded = load_potential(path)
    for (k, a), (_, b) in zip(pot.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_truncated_file_is_refused(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    bad = tmp_path / "truncated.mlip"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged"):
        load_potential(bad)


def test_flipped_weight_bytes_are_refused(saved, tmp_path):
    path, _ = saved
    with zipfile.ZipFile(path) as zf:
        weights = bytearray(zf.read("weights.npz"))
    weights[len(weights) // 2] ^= 0xFF
    bad = tmp_path / "flipped.mlip"
    _rewrite(path, bad, weights=bytes(weights))
    with pytest.raises(ValueError, match="checksum"):
        load_potential(bad)


def test_newer_format_version_is_refused(saved, tmp_path):
    path, _ = saved
    bad = tmp_path / "future.mlip"
    _rewrite(path, bad, meta_change=lambda m: m.update(format_version=NEWEST_FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"format version {NEWEST_FORMAT_VERSION + 1}.*upgrade"):
        load_potential(bad)


def test_pickled_torch_object_is_refused_not_run(tmp_path):
    marker = tmp_path / "was_run"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.mlip"
    torch.save({"model": Evil()}, path)
    with pytest.raises(ValueError, match="pickled"):
        load_potential(path)
    assert not marker.exists()


def test_not_a_zip_and_missing_file(tmp_path):
    bad = tmp_path / "text.mlip"
    bad.write_text("pair_style lj/cut 2.5\n")
    with pytest.raises(ValueError, match="damaged or not a potential file"):
        load_potential(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_potential(tmp_path / "nope.mlip")


def test_weights_of_another_architecture_are_refused(saved, tmp_path):
    path, _ = saved
    bad = tmp_path / "mismatch.mlip"
    _rewrite(path, bad, meta_change=lambda m: m["hyperparameters"].update(num_tensor_features=7))
    with pytest.raises(ValueError, match="do not fit the architecture"):
        load_potential(bad)


def test_build_potential_rejects_bad_config(tmp_path):
    with pytest.raises(ValueError, match=r"unknown allegro hyperparameters \['n_layers'\]"):
        build_potential({"species": ["Li"], "n_layers": 2})
    with pytest.raises(ValueError, match="needs 'species'"):
        build_potential({"r_cut": 4.0})
    with pytest.raises(ValueError, match="not chemical symbols"):
        build_potential({"species": ["Xx"]})
    with pytest.raises(ValueError, match="dtype"):
        build_potential({"species": ["Li"], "dtype": "half"})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("species: [Li, Si]\nr_cut: 4.5\nnum_layers: 1\nseed: 7\n")
    pot = build_potential(cfg)
    assert pot.species == ["Li", "Si"] and pot.r_cut == 4.5
    again = build_potential(cfg)
    assert all(torch.equal(a, b) for a, b in zip(pot.state_dict().values(), again.state_dict().values()))


def test_version_1_file_loads_without_radial_normalisation(tmp_path):
    # Format version 1 predates normalize_radial; its files used the raw Bessel basis.
    pot = small_potential(normalize_radial=False)
    pot.save(tmp_path / "new.mlip")

    def as_version_1(meta):
        meta["format_version"] = 1
        del meta["hyperparameters"]["normalize_radial"]

    _rewrite(tmp_path / "new.mlip", tmp_path / "v1.mlip", meta_change=as_version_1)
    loaded = load_potential(tmp_path / "v1.mlip")
    assert loaded.model.config.normalize_radial is False
    assert loaded.model.bessel.prefactor == pot.model.bessel.prefactor
    # New potentials use the normalised basis.
    assert build_potential({"species": ["Li"]}).model.config.normalize_radial is True


def test_version_2_file_with_stored_coupling_constants_loads(tmp_path):
    # Format version 2 also stored each tensor product's dense coupling matrix
    # and its index buffers; version 3 rebuilds them from the irreps.
    pot = small_potential()
    pot.save(tmp_path / "new.mlip")
    with zipfile.ZipFile(tmp_path / "new.mlip") as zf:
        with np.load(io.BytesIO(zf.read("weights.npz"))) as npz:
            arrays = {k: npz[k] for k in npz.files}
    for i in range(len(pot.model.products)):
        prefix = f"model.products.{i}."
        arrays[prefix + "coupling"] = np.ones((5, 7), dtype=np.float32)
        arrays[prefix + "_pair_in"] = np.zeros(7, dtype=np.int64)
        arrays[prefix + "_pair_sh"] = np.zeros(7, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    weights = buffer.getvalue()

    def as_version_2(meta):
        meta["format_version"] = 2
        meta["weights_sha256"] = hashlib.sha256(weights).hexdigest()

    _rewrite(tmp_path / "new.mlip", tmp_path / "v2.mlip", meta_change=as_version_2, weights=weights)
    loaded = load_potential(tmp_path / "v2.mlip")
    for (k, a), (_, b) in zip(pot.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    # Anything else the architecture does not know is still refused.
    arrays["model.products.0.stray"] = np.zeros(1)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    weights = buffer.getvalue()
    _rewrite(tmp_path / "new.mlip", tmp_path / "stray.mlip", meta_change=as_version_2, weights=weights)
    with pytest.raises(ValueError, match="stray"):
        load_potential(tmp_path / "stray.mlip")


def test_saved_files_get_the_usual_permissions(tmp_path):
    """Potential files and checkpoints are readable as the umask allows, like any
    file ``open()`` creates; replacing a file keeps that file's permissions."""
    import os
    import stat

    from ase_mlip.training._checkpoint import load_checkpoint, save_checkpoint

    pot = small_potential()
    old = os.umask(0o022)
    try:
        pot.save(tmp_path / "a.mlip")
        save_checkpoint({"step": 1}, tmp_path / "checkpoint.pt")
        os.umask(0o027)
        pot.save(tmp_path / "b.mlip")
        (tmp_path / "c.mlip").write_bytes(b"old")
        os.chmod(tmp_path / "c.mlip", 0o640)
        os.umask(0o077)
        pot.save(tmp_path / "c.mlip")
    finally:
        os.umask(old)

    def mode(name):
        return stat.S_IMODE((tmp_path / name).stat().st_mode)

    assert mode("a.mlip") == 0o644
    assert mode("checkpoint.pt") == 0o644
    assert mode("b.mlip") == 0o640
    assert mode("c.mlip") == 0o640
    load_potential(tmp_path / "c.mlip")
    assert load_checkpoint(tmp_path / "checkpoint.pt") == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mlip", "b.mlip", "c.mlip", "checkpoint.pt"]


def test_failed_save_leaves_the_old_file_and_no_temporary(saved, tmp_path, monkeypatch):
    path, pot = saved
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(OSError, match="disk full"):
        pot.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def _dimer_energy(pot, r):
    from ase import Atoms

    from ase_mlip import MLIPCalculator

    atoms = Atoms("Li2", positions=[[0, 0, 0], [r, 0, 0]])
    atoms.calc = MLIPCalculator(pot)
    return atoms.get_potential_energy(), atoms.get_forces()[1, 0]


def test_short_range_zbl_ends_at_its_radius_and_survives_the_file(tmp_path):
    from ase_mlip.models import ZBLRepulsion

    plain = small_potential()
    short = small_potential(zbl=True, zbl_r_cut=2.0)
    full = small_potential(zbl=True)
    assert short.r_cut == plain.r_cut == 4.0 and full.zbl_r_cut == 4.0
    # same seed, same network: the difference is the ZBL term alone, with the
    # envelope of zbl_r_cut (zero from 2.0 A on) instead of that of r_cut
    for r in (1.0, 1.5, 1.9, 2.0, 2.5, 3.5):
        de = _dimer_energy(short, r)[0] - _dimer_energy(plain, r)[0]
        zbl = ZBLRepulsion(["Li"], 2.0).double()
        edge_vec = torch.tensor([[r, 0.0, 0.0], [-r, 0.0, 0.0]], dtype=torch.float64)
        expected = zbl(torch.tensor([0, 0]), torch.tensor([[0, 1], [1, 0]]), edge_vec, 2).sum().item()
        assert de == pytest.approx(expected, rel=1e-6, abs=1e-9)
        assert (expected > 0.1) if r <= 1.5 else (expected < 1e-2)
        if r >= 2.0:
            assert de == 0.0
            assert _dimer_energy(full, r)[0] - _dimer_energy(plain, r)[0] > 1e-3
    h = 1e-5
    force = _dimer_energy(short, 1.6)[1]
    fd = -(_dimer_energy(short, 1.6 + h)[0] - _dimer_energy(short, 1.6 - h)[0]) / (2 * h)
    assert force == pytest.approx(fd, rel=1e-6)

    path = tmp_path / "short.mlip"
    short.save(path)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
    assert meta["zbl"] is True and meta["zbl_r_cut"] == 2.0
    loaded = load_potential(path)
    assert loaded.zbl_r_cut == 2.0 and loaded.config == short.config
    assert _dimer_energy(loaded, 1.5)[0] == pytest.approx(_dimer_energy(short, 1.5)[0], rel=1e-12)
    # a file without the key (format 3 and older) keeps ZBL up to r_cut
    old = tmp_path / "old.mlip"
    _rewrite(path, old, meta_change=lambda m: (m.pop("zbl_r_cut"), m.update(format_version=3)))
    assert load_potential(old).zbl_r_cut == 4.0


def test_zbl_r_cut_is_checked():
    with pytest.raises(ValueError, match="zbl_r_cut is set but zbl is not"):
        small_potential(zbl_r_cut=2.0)
    with pytest.raises(ValueError, match=r"zbl_r_cut must lie in \(0, r_cut = 4.0\]"):
        small_potential(zbl=True, zbl_r_cut=4.5)


def test_with_zbl_adds_the_term_only_below_its_radius(tmp_path):
    from ase.build import bulk

    from ase_mlip import MLIPCalculator, with_zbl

    pot = small_potential()
    pot.metadata = {"training": {"best_epoch": 7}}
    far = bulk("Li", "bcc", a=3.44, cubic=True) * (2, 2, 2)
    far.rattle(0.05, seed=2)  # shortest pair about 2.9 A
    close = far.copy()
    close.positions[0] = close.positions[1] + [1.2, 0.3, 0.0]
    safe = with_zbl(pot, 2.0, structures=[far])
    assert safe.zbl_r_cut == 2.0 and safe.r_cut == pot.r_cut and pot.zbl is None
    assert safe.metadata == {"training": {"best_epoch": 7}, "zbl_added_after_training": {"zbl_r_cut": 2.0}}
    path = tmp_path / "safe.mlip"
    safe.save(path)
    loaded = load_potential(path)
    results = {}
    for name, p in [("plain", pot), ("zbl", loaded)]:
        for label, atoms in [("far", far), ("close", close)]:
            atoms = atoms.copy()
            atoms.calc = MLIPCalculator(p)
            results[name, label] = (atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress())
    for a, b in zip(results["plain", "far"], results["zbl", "far"]):
        np.testing.assert_array_equal(a, b)  # exactly: the term is zero there
    assert results["zbl", "close"][0] - results["plain", "close"][0] > 0.5
    with pytest.raises(ValueError, match="structure 1 has a pair 1.2.. A apart, closer than zbl_r_cut = 2.0"):
        with_zbl(pot, 2.0, structures=[far, close])
    with pytest.raises(ValueError, match="already has a ZBL term"):
        with_zbl(safe, 1.5)
