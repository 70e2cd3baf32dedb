"""Data-parallel training (num_workers > 1): the same steps as one process, resumable."""

from __future__ import annotations

import json

import pytest
import torch

from ase_mlip import load_potential
from ase_mlip.data import batch_graphs, build_graphs, load_dataset
from ase_mlip.training import batch_errors, load_config, predict, train, weighted_loss
from ase_mlip.training._trainer import _entry_counts
from tests.conftest import SMALL
from tests.training.test_train import LI_TRAIN, _config, _rows


def _mixed(records):
    aimd = [r for r in records if r["group"] == "AIMD-NVT"][:9]
    small = [r for r in records if r["group"] == "Elastic" and len(r["structure"]["sites"]) == 2][:2]
    assert len(small) == 2
    return aimd + small


@pytest.fixture(scope="module")
def mixed_li(tmp_path_factory):
    """Nine Li AIMD structures (54 atoms) and two 2-atom Elastic cells."""
    path = tmp_path_factory.mktemp("li") / "mixed.json"
    path.write_text(json.dumps(_mixed(json.loads(LI_TRAIN.read_text()))))
    return path


@pytest.fixture(scope="module")
def mixed_li_one_without_stress(tmp_path_factory):
    """The same, the last structure without its stress label."""
    records = _mixed(json.loads(LI_TRAIN.read_text()))
    records[-1] = {**records[-1], "outputs": {k: v for k, v in records[-1]["outputs"].items()
                                              if k != "virial_stress"}}
    path = tmp_path_factory.mktemp("li") / "mixed_no_stress.json"
    path.write_text(json.dumps(records))
    return path


@pytest.mark.parametrize("kind", ["mse", "huber"])
def test_shares_of_a_batch_add_up_to_its_loss_and_gradient(mixed_li_one_without_stress, kind):
    from ase_mlip import build_potential

    pot = build_potential({"species": ["Li"], **SMALL})
    graphs = build_graphs(load_dataset(mixed_li_one_without_stress), ["Li"], pot.r_cut)
    assert sum(g.stress is None for g in graphs) == 1
    weights = {"AIMD-NVT": 2.0}
    terms_w = {"energy_weight": 10.0, "forces_weight": 1.0, "stress_weight": 3.0, "kind": kind, "delta": 0.05}

    def loss_and_grad(part, counts=None):
        pot.zero_grad()
        batch = batch_graphs(part)
        loss, terms = weighted_loss(batch_errors(predict(pot, batch, True), batch, weights), **terms_w,
                                    counts=counts)
        loss.backward()
        return loss.item(), terms, [p.grad.clone() for p in pot.parameters()]

    whole_loss, whole_terms, whole_grad = loss_and_grad(graphs)
    counts = _entry_counts(graphs)
    assert counts == {"energy": 11, "forces": 3 * (9 * 54 + 4), "stress": 9 * 10}
    parts = [loss_and_grad(graphs[r::3], counts) for r in range(3)]
    assert sum(p[0] for p in parts) == pytest.approx(whole_loss, rel=1e-12)
    for key in whole_terms:
        assert sum(p[1][key] for p in parts) == pytest.approx(whole_terms[key], rel=1e-12)
    for k, g in enumerate(whole_grad):
        torch.testing.assert_close(sum(p[2][k] for p in parts), g, rtol=1e-10, atol=1e-14)
    # Without the counts each part would be its own mean, and the sum would not be the loss.
    plain = sum(loss_and_grad(graphs[r::3])[0] for r in range(3))
    assert abs(plain - whole_loss) > 0.1 * whole_loss


def test_two_workers_take_the_steps_of_one_process(mixed_li, tmp_path):
    # 9 of the 11 structures train; batches of 2 leave one structure in the last batch,
    # so worker 1 then has none and must still join the gradient sum.
    settings = {"batch_size": 2, "max_epochs": 3, "dtype": "float64", "sam": True, "grad_clip": 5.0,
                "stage_two_fraction": 1 / 3, "stage_two_energy_weight": 50.0}
    one = train(load_config(_config(mixed_li, tmp_path / "one", **settings)), log=lambda _: None)
    lines = []
    two = train(load_config(_config(mixed_li, tmp_path / "two", num_workers=2, **settings)), log=lines.append)
    assert any(line.startswith("training data: 9 structures") for line in lines)
    assert lines[-1].startswith("best epoch")
    assert two.metadata["training"]["config"]["num_workers"] == 2
    a, b = one.state_dict(), two.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-9, atol=1e-12)
    rows_one, rows_two = _rows(tmp_path / "one" / "metrics.csv"), _rows(tmp_path / "two" / "metrics.csv")
    for r1, r2 in zip(rows_one, rows_two, strict=True):
        for key in ("train_loss", "train_forces", "val_loss", "val_forces_mae_eV_per_A"):
            assert float(r2[key]) == pytest.approx(float(r1[key]), rel=1e-9), key


def test_a_worker_run_resumes_exactly(mixed_li, tmp_path):
    settings = {"batch_size": 2, "dtype": "float32", "num_workers": 2, "lr_schedule": "constant"}
    train(load_config(_config(mixed_li, tmp_path / "straight", max_epochs=3, **settings)), log=lambda _: None)
    train(load_config(_config(mixed_li, tmp_path / "split", max_epochs=2, **settings)), log=lambda _: None)
    train(load_config(_config(mixed_li, tmp_path / "split", max_epochs=3, **settings)), resume=True,
          log=lambda _: None)
    straight = load_potential(tmp_path / "straight" / "potential.mlip").state_dict()
    split = load_potential(tmp_path / "split" / "potential.mlip").state_dict()
    for key in straight:
        assert torch.equal(straight[key], split[key]), key


def test_a_worker_error_reaches_the_caller(mixed_li, tmp_path):
    cfg = _config(mixed_li, tmp_path / "run", num_workers=2)
    cfg["model"] = {**cfg["model"], "species": ["Mo"]}
    with pytest.raises(ValueError, match="Li"):
        train(load_config(cfg), log=lambda _: None)


@pytest.mark.parametrize("overrides, match", [
    ({"num_workers": 0}, "num_workers must be an integer >= 1"),
    ({"num_workers": 3, "batch_size": 2}, "must not exceed batch_size"),
    ({"num_workers": 2, "device": "cuda"}, "CPU only"),
])
def test_worker_settings_are_checked(mixed_li, tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        load_config(_config(mixed_li, tmp_path / "run", **overrides))
