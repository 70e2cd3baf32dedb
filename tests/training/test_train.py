"""End-to-end training: loss goes down, the file loads, resume after SIGKILL is exact."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from ase_mlip import load_potential
from ase_mlip.data import batch_graphs, build_graphs, load_dataset
from ase_mlip.training import (baseline_energies_forces, fit_energy_shift, force_rms, load_config, predict,
                               split_indices, train)
from tests.conftest import SMALL

REPO = Path(__file__).resolve().parents[2]
LI_TRAIN = REPO / "data" / "mlearn" / "Li" / "training.json"


@pytest.fixture(scope="module")
def small_li(tmp_path_factory):
    """Ten Li AIMD structures (54 atoms each) from the shipped mlearn training split."""
    records = json.loads(LI_TRAIN.read_text())
    chosen = [r for r in records if r["group"] == "AIMD-NVT"][:10]
    path = tmp_path_factory.mktemp("li") / "small.json"
    path.write_text(json.dumps(chosen))
    return path


def _config(data, out, **overrides):
    model = {k: v for k, v in SMALL.items() if k != "avg_num_neighbors"}
    return {"train_file": str(data), "output_dir": str(out), "model": model,
            "validation_fraction": 0.2, "batch_size": 2, "max_epochs": 5, "lr": 0.01,
            "energy_weight": 10.0, "forces_weight": 1.0, "stress_weight": 1.0,
            "ema_decay": 0.5, "num_threads": 1, "progress": False, "seed": 3, **overrides}


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_short_training_reduces_loss_and_writes_loadable_file(small_li, tmp_path):
    threads = torch.get_num_threads()
    try:
        pot = train(load_config(_config(small_li, tmp_path / "run")), log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    rows = _rows(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 5
    train_loss = [float(r["train_loss"]) for r in rows]
    val_loss = [float(r["val_loss"]) for r in rows]
    assert train_loss[-1] < 0.9 * train_loss[0]
    assert min(val_loss) < val_loss[0]
    val_forces = [float(r["val_forces_mae_eV_per_A"]) for r in rows]
    assert val_forces[-1] < 0.95 * val_forces[0]
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 1000

    loaded = load_potential(tmp_path / "run" / "potential.mlip")
    record = loaded.metadata["training"]
    assert record["best_epoch"] == 1 + val_loss.index(min(val_loss))
    assert record["config"]["lr"] == 0.01 and record["num_train_structures"] == 8
    assert loaded.model.avg_num_neighbors == pytest.approx(record["normalisation"]["avg_num_neighbors"])
    assert loaded.model.avg_num_neighbors != SMALL["avg_num_neighbors"]
    graphs = build_graphs(load_dataset(small_li), loaded.species, loaded.r_cut)
    batch = batch_graphs(graphs)
    a, b = predict(pot, batch), predict(loaded, batch)
    torch.testing.assert_close(a.energy, b.energy, rtol=0, atol=1e-12)
    torch.testing.assert_close(a.forces, b.forces, rtol=0, atol=1e-12)


def test_zbl_normalisation_is_fitted_to_the_residual(small_li, tmp_path):
    threads = torch.get_num_threads()
    try:
        pot = train(load_config(_config(small_li, tmp_path / "run", max_epochs=1,
                                        model={**_config(small_li, tmp_path)["model"], "zbl": True})),
                    log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    assert pot.zbl is not None
    graphs = build_graphs(load_dataset(small_li), ["Li"], pot.r_cut)
    graphs = [graphs[i] for i in split_indices(len(graphs), 0.2, 3)[0]]
    base_e, base_f = baseline_energies_forces(pot.zbl, graphs)
    assert base_e.min() > 1.0  # about 0.3 eV/atom for 54 Li atoms: not negligible
    shift = fit_energy_shift(graphs, 1, base_e)
    assert pot.energy_shift.item() == pytest.approx(shift[0], rel=1e-6)
    assert abs(shift[0] - fit_energy_shift(graphs, 1)[0]) > 0.1
    assert pot.energy_scale.item() == pytest.approx(force_rms(graphs, base_f), rel=1e-5)
    record = load_potential(tmp_path / "run" / "potential.mlip").metadata["training"]["normalisation"]
    assert record["zbl_energy_eV_per_atom"] == pytest.approx(base_e.sum() / sum(g.num_atoms for g in graphs), rel=1e-5)


def test_close_range_zbl_trains_the_same_network(small_li, tmp_path):
    # With zbl_r_cut below every distance of the data the term and its gradients are
    # zero on every structure: the run, and so its network, are bit for bit the same.
    from ase.neighborlist import neighbor_list

    assert min(neighbor_list("d", atoms, 4.0).min() for atoms in load_dataset(small_li)) > 2.0
    threads = torch.get_num_threads()
    model = _config(small_li, tmp_path)["model"]
    try:
        plain = train(load_config(_config(small_li, tmp_path / "plain", max_epochs=2)), log=lambda _: None)
        zbl = train(load_config(_config(small_li, tmp_path / "zbl", max_epochs=2,
                                        model={**model, "zbl": True, "zbl_r_cut": 2.0})), log=lambda _: None)
        after = train(load_config(_config(small_li, tmp_path / "after", max_epochs=2, zbl_after_training=2.0)),
                      log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    a, b = plain.state_dict(), zbl.state_dict()
    assert sorted(set(b) - set(a)) == ["zbl.phi_c", "zbl.phi_d", "zbl.z"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert zbl.zbl_r_cut == 2.0
    # zbl_after_training: the network trained without the term, which the file then holds
    written = load_potential(tmp_path / "after" / "potential.mlip")
    assert written.zbl_r_cut == 2.0 and after.zbl_r_cut == 2.0
    for key, value in b.items():
        assert torch.equal(written.state_dict()[key], value), key
    meta = written.metadata
    assert meta["zbl_added_after_training"] == {"zbl_r_cut": 2.0}
    assert meta["training"]["config"]["zbl_after_training"] == 2.0
    assert meta["training"]["best_validation"] == plain.metadata["training"]["best_validation"]
    with pytest.raises(ValueError, match="keep one of the two"):
        load_config(_config(small_li, tmp_path / "x", zbl_after_training=2.0, model={**model, "zbl": True}))
    with pytest.raises(ValueError, match=r"zbl_after_training must lie in \(0, r_cut = 4.0\]"):
        load_config(_config(small_li, tmp_path / "x", zbl_after_training=4.5))


def _state(path):
    return load_potential(path).state_dict()


@pytest.mark.parametrize("sam, dtype", [(False, "float64"), (True, "float32")])
def test_resume_after_sigkill_equals_uninterrupted(small_li, tmp_path, sam, dtype):
    epochs = 6
    # The kill usually falls before the stage-two switch (epoch 5), whose optimiser restart
    # must then happen on resume exactly as in the uninterrupted run.
    settings = {"max_epochs": epochs, "sam": sam, "lr_schedule": "cosine", "warmup_epochs": 1,
                "grad_clip": 5.0, "dtype": dtype, "stage_two_fraction": 1 / 3,
                "stage_two_energy_weight": 100.0}
    threads = torch.get_num_threads()
    try:
        train(load_config(_config(small_li, tmp_path / "full", **settings)), log=lambda _: None)
    finally:
        torch.set_num_threads(threads)

    cfg_path = tmp_path / "killed.yaml"
    cfg_path.write_text(yaml.safe_dump(_config(small_li, tmp_path / "killed", **settings)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    script = "import sys; from ase_mlip.training import train; train(sys.argv[1], resume=True)"
    proc = subprocess.Popen([sys.executable, "-c", script, str(cfg_path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "killed" / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(_rows(metrics)) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_rows(metrics))
    assert 2 <= done < epochs

    try:
        train(load_config(str(cfg_path)), resume=True, log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    full, resumed = _state(tmp_path / "full" / "potential.mlip"), _state(tmp_path / "killed" / "potential.mlip")
    assert full.keys() == resumed.keys()
    for key in full:
        assert torch.equal(full[key], resumed[key]), key
    rows_full, rows_resumed = _rows(tmp_path / "full" / "metrics.csv"), _rows(metrics)
    assert len(rows_resumed) == epochs
    for r1, r2 in zip(rows_full, rows_resumed):
        r1.pop("epoch_time_s"), r2.pop("epoch_time_s")
        assert r1 == r2


def test_existing_checkpoint_needs_resume(small_li, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(ValueError, match="--resume"):
        train(load_config(_config(small_li, out)), log=lambda _: None)


def test_separate_validation_file(small_li, tmp_path):
    records = json.loads(small_li.read_text())
    train_path, val_path = tmp_path / "t.json", tmp_path / "v.json"
    train_path.write_text(json.dumps(records[:7]))
    val_path.write_text(json.dumps(records[7:]))
    threads = torch.get_num_threads()
    try:
        pot = train(load_config(_config(train_path, tmp_path / "run", validation_file=str(val_path),
                                        max_epochs=1)), log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    record = pot.metadata["training"]
    assert record["num_train_structures"] == 7 and record["num_validation_structures"] == 3
    assert set(record["data_sha256"]) == {"t.json", "v.json"}


def test_resume_refuses_a_changed_config(small_li, tmp_path):
    threads = torch.get_num_threads()
    try:
        train(load_config(_config(small_li, tmp_path / "run", max_epochs=1)), log=lambda _: None)
        with pytest.raises(ValueError, match=r"config changed .*\['lr'\]"):
            train(load_config(_config(small_li, tmp_path / "run", max_epochs=2, lr=0.5)),
                  resume=True, log=lambda _: None)
        # A checkpoint written before stage_two_restart existed (no restart then) resumes only
        # with the restart switched off.
        path = tmp_path / "run" / "checkpoint.pt"
        state = torch.load(path, weights_only=False)
        del state["config"]["stage_two_restart"]
        torch.save(state, path)
        with pytest.raises(ValueError, match=r"config changed .*\['stage_two_restart'\]"):
            train(load_config(_config(small_li, tmp_path / "run", max_epochs=2)),
                  resume=True, log=lambda _: None)
        train(load_config(_config(small_li, tmp_path / "run", max_epochs=2,
                                  stage_two_restart=False)), resume=True, log=lambda _: None)
        assert len(_rows(tmp_path / "run" / "metrics.csv")) == 2
    finally:
        torch.set_num_threads(threads)


def test_group_weights_reach_the_training_and_validation_losses(small_li, tmp_path):
    threads = torch.get_num_threads()
    try:
        with pytest.raises(ValueError, match=r"names \['Surface'\].*groups of the training data are \['AIMD-NVT'\]"):
            train(load_config(_config(small_li, tmp_path / "bad", group_weights={"Surface": 5.0})),
                  log=lambda _: None)
        train(load_config(_config(small_li, tmp_path / "plain", max_epochs=2)), log=lambda _: None)
        train(load_config(_config(small_li, tmp_path / "double", max_epochs=2,
                                  group_weights={"AIMD-NVT": 2.0})), log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    # Every structure is in the weighted group: each loss doubles, and Adam (no clipping)
    # takes the same steps, so the whole history is the plain one times two.
    plain, double = _rows(tmp_path / "plain" / "metrics.csv"), _rows(tmp_path / "double" / "metrics.csv")
    for a, b in zip(plain, double, strict=True):
        for key in ("train_loss", "train_forces", "val_loss"):
            assert float(b[key]) == pytest.approx(2 * float(a[key]), rel=1e-4), key
        assert float(b["val_forces_mae_eV_per_A"]) == pytest.approx(float(a["val_forces_mae_eV_per_A"]),
                                                                     rel=1e-4)


def test_early_stopping_when_validation_stalls(small_li, tmp_path):
    # lr = 1e-30 leaves every float64 weight unchanged, so the validation loss never improves.
    # Without EMA (decay 0) validation sees those weights exactly; an EMA of unchanged weights,
    # d w + (1 - d) w, can move them by a rounding error, and the loss with them.
    threads = torch.get_num_threads()
    try:
        pot = train(load_config(_config(small_li, tmp_path / "run", lr=1e-30, lr_schedule="constant",
                                        max_epochs=10, early_stopping_patience=2, ema_decay=0.0)),
                    log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    rows = _rows(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 3
    assert len({r["val_loss"] for r in rows}) == 1
    assert pot.metadata["training"]["best_epoch"] == 1


def test_a_diverged_run_stops_and_keeps_the_best_file(small_li, tmp_path, monkeypatch):
    # From the third epoch on every loss (training and validation) is scaled by 1e6, as
    # when the weights have blown up: the run must stop there, not train on to max_epochs.
    from ase_mlip.training import _trainer

    calls = {"n": 0}
    steps = 4 + 1  # per epoch: 8 training structures in batches of 2, one validation
    real = _trainer.weighted_loss

    def blown_up(*args, **kwargs):
        calls["n"] += 1
        loss, terms = real(*args, **kwargs)
        return (loss * 1e6, terms) if calls["n"] > 2 * steps else (loss, terms)

    monkeypatch.setattr(_trainer, "weighted_loss", blown_up)
    lines = []
    threads = torch.get_num_threads()
    try:
        pot = train(load_config(_config(small_li, tmp_path / "run", max_epochs=6)),
                    log=lines.append)
    finally:
        torch.set_num_threads(threads)
    rows = _rows(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 3
    assert any("training diverged at epoch 3" in line and "Lower lr" in line for line in lines)
    assert pot.metadata["training"]["best_epoch"] in (1, 2)
    assert load_potential(tmp_path / "run" / "potential.mlip").metadata["training"]["epochs_run"] == 3
    # The stop is final: resuming does not train the ruined weights further.
    monkeypatch.setattr(_trainer, "weighted_loss", real)
    train(load_config(_config(small_li, tmp_path / "run", max_epochs=6)), resume=True,
          log=lambda _: None)
    assert len(_rows(tmp_path / "run" / "metrics.csv")) == 3


def test_divergence_rule():
    from ase_mlip.training._trainer import _divergence

    def history(*losses):
        return [{"epoch": i + 1, "train_loss": x} for i, x in enumerate(losses)]

    assert _divergence(history(1.0, 0.1, 0.05, 40.0), 100, 1000.0) is None
    assert "1e+03x" in _divergence(history(1.0, 0.1, 0.05, 50.1), 100, 1000.0)
    assert _divergence(history(1.0, 0.1, float("nan")), 100, 1000.0) is not None
    assert _divergence(history(1.0, 0.1, float("inf")), 100, None) is None
    assert _divergence(history(5.0), 100, 1000.0) is None
    # The second stage (epochs after 2) is compared only with itself: its loss scale differs.
    assert _divergence(history(1.0, 1e-4, 0.5, 0.3), 2, 1000.0) is None
    assert _divergence(history(1.0, 0.5, 1e-4, 0.2), 2, 1000.0) is not None
    with pytest.raises(ValueError, match="divergence_factor"):
        load_config({"train_file": "x.json", "divergence_factor": 0.5})


@pytest.mark.parametrize("restart", [True, False])
def test_stage_two_switches_the_energy_weight_and_picks_its_best(small_li, tmp_path, restart):
    lines = []
    threads = torch.get_num_threads()
    try:
        pot = train(load_config(_config(small_li, tmp_path / "run", max_epochs=4,
                                        energy_weight=1.0, stage_two_fraction=0.5,
                                        stage_two_energy_weight=1000.0,
                                        stage_two_restart=restart)),
                    log=lines.append)
    finally:
        torch.set_num_threads(threads)
    assert ("epoch 3: stage two, energy weight 1000" + (", optimiser restarted" if restart else "")
            in lines)
    # 8 training structures, batch 2: 4 steps an epoch. A restart clears Adam's state at the
    # switch, so its step count covers only stage two, and the rate ramps up over one epoch.
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    steps = {float(s["step"]) for s in state["optimizer"]["state"].values()}
    assert steps == {8.0 if restart else 16.0}
    assert state["schedule"]["rewarm_steps"] == (4 if restart else 0)
    assert state["schedule"]["rewarm_start"] == (8 if restart else 0)
    rows = _rows(tmp_path / "run" / "metrics.csv")
    # The training loss of a stage-two epoch is the stage-two sum of its terms.
    for row, weight in zip(rows, (1.0, 1.0, 1000.0, 1000.0)):
        expected = (weight * float(row["train_energy"]) + float(row["train_forces"])
                    + float(row["train_stress"]))
        assert float(row["train_loss"]) == pytest.approx(expected, rel=1e-6)
    # The best potential comes from stage two even if a stage-one epoch had a lower loss.
    assert pot.metadata["training"]["best_epoch"] in (3, 4)


def test_stage_two_lr_scale_scales_only_the_second_stage(small_li, tmp_path):
    threads = torch.get_num_threads()
    rows = {}
    try:
        for scale in (1.0, 0.1):
            train(load_config(_config(small_li, tmp_path / str(scale), max_epochs=4, lr_schedule="cosine",
                                      warmup_epochs=0, lr_min=1e-4, stage_two_fraction=0.5,
                                      stage_two_energy_weight=100.0, stage_two_lr_scale=scale)),
                  log=lambda _: None)
            rows[scale] = _rows(tmp_path / str(scale) / "metrics.csv")
    finally:
        torch.set_num_threads(threads)
    for full, scaled in zip(rows[1.0], rows[0.1]):
        ratio = 0.1 if int(full["epoch"]) > 2 else 1.0
        assert float(scaled["lr"]) == pytest.approx(ratio * float(full["lr"]), rel=1e-9)
    # Stage one is the same run; stage two takes smaller steps from the same start.
    assert rows[0.1][1]["train_loss"] == rows[1.0][1]["train_loss"]
    assert rows[0.1][3]["train_loss"] != rows[1.0][3]["train_loss"]
    # The scale is part of the schedule's checkpointed state, so a resumed run keeps it.
    state = torch.load(tmp_path / "0.1" / "checkpoint.pt", weights_only=False)
    assert state["schedule"]["scale"] == 0.1


@pytest.mark.parametrize("overrides", [{"stage_two_fraction": 1.0}, {"stage_two_fraction": -0.1},
                                       {"stage_two_energy_weight": -1.0},
                                       {"stage_two_lr_scale": 0.0}])
def test_stage_two_settings_are_checked(small_li, tmp_path, overrides):
    with pytest.raises(ValueError, match="stage_two"):
        load_config(_config(small_li, tmp_path / "run", **overrides))


def test_split_seed_fixes_the_validation_set_across_seeds(small_li, tmp_path):
    """seed draws weights, order and (by default) the split; split_seed, when given, draws the
    split alone, so runs of different seeds can share one validation set."""
    from ase_mlip.training._trainer import _load_data

    def validation(**overrides):
        cfg = load_config(_config(small_li, tmp_path / "run", **overrides))
        _, _, val = _load_data(cfg, lambda _: None)
        return sorted(round(a.get_potential_energy(), 8) for a in val)

    assert validation(seed=1, split_seed=3) == validation(seed=3)
    assert validation(seed=1, split_seed=3) != validation(seed=1)
    assert validation(seed=1, split_seed=None) == validation(seed=1)


def test_committee_training_writes_the_committee_of_its_members(small_li, tmp_path):
    """committee_seeds trains one member per seed, on one validation split, then writes their
    committee; each member equals the single run of its seed and split; a second call resumes
    nothing that has ended; the record holds the committee's validation errors."""
    from ase_mlip import Committee, load_potential
    from ase_mlip.training import evaluate
    from ase_mlip.training._trainer import member_config

    threads = torch.get_num_threads()
    try:
        cfg = load_config(_config(small_li, tmp_path / "committee", max_epochs=2, committee_seeds=[3, 5],
                                  potential_file=str(tmp_path / "committee.mlip")))
        committee = train(cfg, log=lambda _: None)
        single = train(load_config(_config(small_li, tmp_path / "single", max_epochs=2, seed=5, split_seed=3)),
                       log=lambda _: None)
        lines = []
        again = train(cfg, resume=True, log=lines.append)
    finally:
        torch.set_num_threads(threads)
    loaded = load_potential(tmp_path / "committee.mlip")
    assert isinstance(committee, Committee) and isinstance(loaded, Committee)
    assert [m.metadata["training"]["config"]["seed"] for m in loaded.members] == [3, 5]
    for name, value in single.state_dict().items():
        torch.testing.assert_close(loaded.members[1].state_dict()[name], value, rtol=0, atol=0)
    record = loaded.metadata["training"]
    assert record["committee_seeds"] == [3, 5] and record["epochs_run"] == [2, 2]
    summary, _ = evaluate(loaded, validation_of=member_config(cfg, 3))
    assert record["best_validation"]["val_forces_mae_eV_per_A"] == pytest.approx(
        summary["all"]["forces_mae_eV_per_A"], rel=1e-12)
    # the second call resumed both ended members without training an epoch more
    assert sum("resuming" in line for line in lines) == 2
    for seed in (3, 5):
        assert len(_rows(tmp_path / "committee" / f"member_{seed}" / "metrics.csv")) == 2
    assert again.metadata["training"]["best_validation"] == record["best_validation"]


def test_committee_seeds_are_checked(small_li, tmp_path):
    for bad in ([1], [1, 1], [1, "2"]):
        with pytest.raises(ValueError, match="committee_seeds"):
            load_config(_config(small_li, tmp_path / "run", committee_seeds=bad))
