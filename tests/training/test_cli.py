"""``mlip train`` and ``mlip evaluate`` sub-commands."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
import yaml
from ase import units

from ase_mlip import load_potential
from ase_mlip.cli import _COMMANDS, _evaluate, _train
from ase_mlip.training import evaluate
from tests.training.test_train import _config, small_li  # noqa: F401  (fixture)


def _parser():
    parser = argparse.ArgumentParser(prog="mlip")
    sub = parser.add_subparsers(dest="command")
    _train.register(sub)
    _evaluate.register(sub)
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def test_commands_are_registered():
    assert "_train" in _COMMANDS and "_evaluate" in _COMMANDS


def test_train_then_evaluate(small_li, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(_config(small_li, tmp_path / "run", max_epochs=5)))
    threads = torch.get_num_threads()
    try:
        assert _run(["train", str(cfg), "--max-epochs", "2", "--no-progress"]) == 0
        assert _run(["train", str(cfg), "--resume", "--max-epochs", "3", "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "resuming" in capsys.readouterr().out
    pot = tmp_path / "run" / "potential.mlip"
    out_json, parity = tmp_path / "errors.json", tmp_path / "parity.png"
    assert _run(["evaluate", str(pot), str(small_li), "--json", str(out_json),
                 "--parity", str(parity)]) == 0
    printed = capsys.readouterr().out
    assert "AIMD-NVT" in printed and "meV/atom" in printed
    result = json.loads(out_json.read_text())
    direct, collector = evaluate(pot, small_li)
    assert result["all"]["energy_mae_meV_per_atom"] == pytest.approx(direct["all"]["energy_mae_meV_per_atom"])
    assert result["groups"]["AIMD-NVT"]["num_structures"] == 10
    # the summary is the MAE of the collected errors, recomputed here by hand
    f_err = np.concatenate([p - r for p, r in collector.forces])
    assert result["all"]["forces_mae_eV_per_A"] == pytest.approx(np.abs(f_err).mean())
    assert parity.stat().st_size > 1000
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 1 + 3
    # per-structure errors: named by file and index, recomputed here from the collected arrays
    rows = result["structures"]
    assert [r["name"] for r in rows] == [f"{small_li}[{i}]" for i in range(len(collector.groups))]
    for row, (e_pred, e_ref), (f_pred, f_ref), (s_pred, s_ref) in zip(
            rows, collector.energy, collector.forces, collector.stress):
        assert row["stress_mae_GPa"] == pytest.approx(np.abs(s_pred - s_ref).mean() / units.GPa)
        assert row["energy_error_meV_per_atom"] == pytest.approx(1000 * (e_pred - e_ref), abs=1e-9)
        assert row["forces_rmse_eV_per_A"] == pytest.approx(np.sqrt(np.mean((f_pred - f_ref) ** 2)))
        assert row["forces_max_eV_per_A"] == pytest.approx(np.linalg.norm(f_pred - f_ref, axis=1).max())
    # the printed list holds the 5 largest force RMSEs, largest first
    worst = sorted(rows, key=lambda r: r["forces_rmse_eV_per_A"], reverse=True)[:5]
    listed = [line.split()[0] for line in printed.splitlines() if line.startswith(f"{small_li}[")]
    assert listed == [r["name"] for r in worst]
    # --validation-of: the validation structures of the config, where the file's recorded
    # best-epoch errors were measured; data files and the option together are refused
    val_json = tmp_path / "val.json"
    assert _run(["evaluate", str(pot), "--validation-of", str(cfg), "--json", str(val_json)]) == 0
    val = json.loads(val_json.read_text())
    recorded = load_potential(pot).metadata["training"]["best_validation"]
    assert val["all"]["num_structures"] == 2
    for key in ("energy_mae_meV_per_atom", "forces_mae_eV_per_A", "forces_rmse_eV_per_A"):
        assert val["all"][key] == pytest.approx(recorded[f"val_{key}"], rel=1e-9)
    with pytest.raises(ValueError, match="not both"):
        _run(["evaluate", str(pot), str(small_li), "--validation-of", str(cfg)])


def test_train_reports_bad_data(tmp_path, small_li):
    bad = tmp_path / "bad.json"
    records = json.loads(small_li.read_text())[:2]
    records[1]["outputs"]["forces"] = None
    bad.write_text(json.dumps(records))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(_config(bad, tmp_path / "run")))
    with pytest.raises(ValueError, match=r"bad.json\[1\]: missing forces"):
        _run(["train", str(cfg), "--no-progress"])
