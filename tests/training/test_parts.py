"""EMA, learning-rate schedule, config loading and data-derived normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ase_mlip import load_potential
from ase.build import bulk

from ase_mlip.data import AtomicGraph, atoms_to_graph, batch_graphs
from ase_mlip.models import ZBLRepulsion
from ase_mlip.training import (
    ErrorCollector,
    LRSchedule,
    Prediction,
    batch_errors,
    ExponentialMovingAverage,
    TrainConfig,
    average_num_neighbors,
    baseline_energies_forces,
    fit_energy_shift,
    force_rms,
    load_config,
    split_indices,
    weighted_loss,
    Errors,
)


def test_ema_follows_the_warmed_up_recursion():
    module = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        module.weight.fill_(0.0)
    ema = ExponentialMovingAverage(module, decay=0.9)
    expected = 0.0
    for n, value in enumerate([1.0, 2.0, 3.0, 4.0], start=1):
        with torch.no_grad():
            module.weight.fill_(value)
        ema.update(module)
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * value
    assert ema.shadow["weight"].item() == pytest.approx(expected, abs=1e-12)
    with ema.average_parameters(module):
        assert module.weight.item() == pytest.approx(expected, abs=1e-12)
    assert module.weight.item() == 4.0  # restored


def _schedule(kind, **kw):
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=1.0)
    return opt, LRSchedule(opt, kind, **kw)


def test_warmup_then_cosine():
    opt, s = _schedule("cosine", lr=1.0, total_steps=14, warmup_steps=4, lr_min=0.0)
    lrs = _rates(opt, s, 14)
    np.testing.assert_allclose(lrs[:4], [0.25, 0.5, 0.75, 1.0])
    t = np.arange(10) / 10
    np.testing.assert_allclose(lrs[4:], 0.5 * (1 + np.cos(np.pi * t)), atol=1e-12)


def _rates(opt, schedule, steps):
    """The learning rate of each of the next ``steps`` steps."""
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        schedule.step()
    return np.array(lrs)


def _restored_rate(schedule):
    _, restored = _schedule("cosine", lr=1.0, total_steps=20, warmup_steps=0, lr_min=0.0)
    restored.load_state_dict(schedule.state_dict())
    return restored.current_lr()


def test_rewarm_ramps_the_scheduled_rate_up_again():
    opt, s = _schedule("cosine", lr=1.0, total_steps=20, warmup_steps=0, lr_min=0.0)
    _rates(opt, s, 10)
    s.rewarm(4)
    cosine = 0.5 * (1 + np.cos(np.pi * np.arange(10, 16) / 20))
    np.testing.assert_allclose(_rates(opt, s, 6), cosine * [0.25, 0.5, 0.75, 1.0, 1.0, 1.0],
                               atol=1e-12)
    assert _restored_rate(s) == s.current_lr()


def test_scale_multiplies_the_rate_from_when_it_is_set():
    opt, s = _schedule("cosine", lr=1.0, total_steps=20, warmup_steps=0, lr_min=0.0)
    _rates(opt, s, 10)
    s.scale = 0.1
    s.rewarm(2)
    cosine = 0.5 * (1 + np.cos(np.pi * np.arange(10, 14) / 20))
    np.testing.assert_allclose(_rates(opt, s, 4), 0.1 * cosine * [0.5, 1.0, 1.0, 1.0], atol=1e-12)
    assert _restored_rate(s) == s.current_lr()


def test_plateau_reduces_after_patience():
    opt, s = _schedule("plateau", lr=1.0, factor=0.5, patience=2, lr_min=0.2)
    for loss in [1.0, 0.9, 0.95, 0.95]:
        s.epoch_end(loss)
    assert opt.param_groups[0]["lr"] == 1.0
    s.epoch_end(0.95)  # third epoch without improvement
    assert opt.param_groups[0]["lr"] == 0.5
    for _ in range(20):
        s.epoch_end(2.0)
    assert opt.param_groups[0]["lr"] == 0.2  # floor


def test_config_defaults_paths_and_errors(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text("train_file: ../d.json\nmodel: {r_cut: 4.0}\nsam: true\n")
    cfg = load_config(path)
    assert cfg.train_file == [str(tmp_path / "d.json")]
    assert cfg.output_dir == "runs/train"  # defaults stay relative to the working directory
    assert cfg.sam and cfg.sam_rho == 0.005 and cfg.lr_schedule == "plateau"
    assert str(cfg.potential_path) == "runs/train/potential.mlip"
    path.write_text("train_file: d.json\noutput_dir: out\npotential_file: p.mlip\n")
    cfg = load_config(path)
    assert cfg.output_dir == str(tmp_path / "sub" / "out")
    assert cfg.potential_path == tmp_path / "sub" / "p.mlip"
    with pytest.raises(ValueError, match="unknown training settings \\['learning_rate'\\]"):
        load_config({"train_file": "x", "learning_rate": 1})
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(train_file="x", optimizer="sgd")
    with pytest.raises(ValueError, match="train_file is required"):
        TrainConfig()


def _graph(species, energy, forces=None, edges=0):
    n = len(species)
    return AtomicGraph(species=np.array(species), edge_index=np.zeros((2, edges), np.int64),
                       edge_vec=np.zeros((edges, 3)), energy=energy,
                       forces=np.zeros((n, 3)) if forces is None else forces,
                       stress=None, volume=0.0, group="x")


def test_energy_shift_recovers_per_species_energies():
    mu = np.array([-1.9, -5.4])
    compositions = [[0, 0, 1], [0, 1, 1, 1], [0, 0, 0, 0, 1], [1, 1]]
    graphs = [_graph(c, float(np.bincount(c, minlength=2) @ mu)) for c in compositions]
    np.testing.assert_allclose(fit_energy_shift(graphs, 2), mu, atol=1e-12)


def test_force_rms_and_neighbours():
    graphs = [_graph([0, 0], 0.0, np.array([[3.0, 0, 0], [0, -4.0, 0]]), edges=6),
              _graph([0], 0.0, edges=1)]
    assert force_rms(graphs) == pytest.approx(math.sqrt(25.0 / 9))
    assert average_num_neighbors(graphs) == pytest.approx(7 / 3)


def test_baseline_forces_and_normalisation_of_the_residual():
    # ZBL energies and forces of a rattled, compressed Si cell: forces are minus the
    # finite-difference gradient of the baseline energy in the positions.
    zbl = ZBLRepulsion(["Si"], 4.0).double()
    atoms = bulk("Si", "diamond", a=5.0, cubic=True)
    atoms.rattle(0.15, seed=1)
    (energy,), (forces,) = baseline_energies_forces(zbl, [atoms_to_graph(atoms, ["Si"], 4.0)])
    h = 1e-5
    for i, c in [(0, 0), (3, 1), (7, 2)]:
        e = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[i, c] += sign * h
            e.append(baseline_energies_forces(zbl, [atoms_to_graph(moved, ["Si"], 4.0)])[0][0])
        assert forces[i, c] == pytest.approx(-(e[0] - e[1]) / (2 * h), rel=1e-6)
    assert abs(forces).max() > 0.5 and energy > 0
    # shift and scale are fitted to the reference minus the baseline
    mu = np.array([-1.9, -5.4])
    compositions = [[0, 0, 1], [0, 1, 1, 1], [0, 0, 0, 0, 1], [1, 1]]
    base = np.array([0.3, 2.0, -0.7, 1.1])
    graphs = [_graph(c, float(np.bincount(c, minlength=2) @ mu) + b) for c, b in zip(compositions, base)]
    np.testing.assert_allclose(fit_energy_shift(graphs, 2, base), mu, atol=1e-12)
    residual = np.array([[3.0, 0, 0], [0, -4.0, 0]])
    base_f = [np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 7.0]])]
    graphs = [_graph([0, 0], 0.0, residual + base_f[0])]
    assert force_rms(graphs, base_f) == pytest.approx(math.sqrt(25.0 / 6))


def test_huber_equals_mse_for_small_errors_and_is_linear_beyond():
    small = Errors(torch.tensor([0.001]), torch.full((1, 3), 0.002), torch.zeros(0, 3, 3))
    mse, _ = weighted_loss(small, kind="mse")
    huber, _ = weighted_loss(small, kind="huber", delta=0.01)
    assert huber.item() == pytest.approx(mse.item(), rel=1e-12)
    big = Errors(torch.tensor([1.0]), torch.zeros(1, 3), torch.zeros(0, 3, 3))
    huber, terms = weighted_loss(big, kind="huber", delta=0.01, forces_weight=0.0)
    assert huber.item() == pytest.approx(2 * 0.01 * 1.0 - 0.01**2)
    assert terms["stress"] == 0.0


def _labelled(n, group, stress, rng):
    sym = rng.normal(size=(3, 3))
    return AtomicGraph(species=np.zeros(n, np.int64), edge_index=np.zeros((2, 0), np.int64),
                       edge_vec=np.zeros((0, 3)), energy=float(rng.normal()),
                       forces=rng.normal(size=(n, 3)), stress=sym + sym.T if stress else None,
                       volume=10.0 if stress else 0.0, group=group)


@pytest.mark.parametrize("kind", ["mse", "huber"])
def test_group_weights_scale_each_structures_terms(kind):
    rng = np.random.default_rng(7)
    graphs = [_labelled(2, "bulk", True, rng), _labelled(1, "surface", False, rng),
              _labelled(3, "surface", True, rng), _labelled(2, "bulk", False, rng)]
    batch = batch_graphs(graphs)
    sym = rng.normal(size=(4, 3, 3))
    prediction = Prediction(energy=batch.energy + torch.as_tensor(rng.normal(size=4)),
                            forces=batch.forces + torch.as_tensor(rng.normal(size=(8, 3))),
                            stress=torch.as_tensor(sym + sym.transpose(0, 2, 1)))
    weights = {"surface": 4.0, "vacancy": 9.0}  # a group absent from the batch changes nothing
    w = np.array([1.0, 4.0, 4.0, 1.0])

    def rho(x):
        x = np.asarray(x)
        return x * x if kind == "mse" else np.where(abs(x) < 0.3, x * x, 2 * 0.3 * abs(x) - 0.09)

    n = np.array([2, 1, 3, 2])
    de = (prediction.energy - batch.energy).numpy() / n
    df = (prediction.forces - batch.forces).numpy()
    ds = (prediction.stress - batch.stress).numpy()[[0, 2]]
    expected = {"energy": np.mean(w * rho(de)),
                "forces": np.mean(np.repeat(w, n)[:, None] * rho(df)),
                "stress": np.mean(w[[0, 2], None, None] * rho(ds))}
    loss, terms = weighted_loss(batch_errors(prediction, batch, weights), energy_weight=10.0,
                                stress_weight=0.5, kind=kind, delta=0.3)
    for key in expected:
        assert terms[key] == pytest.approx(expected[key], rel=1e-12), key
    total = 10.0 * expected["energy"] + expected["forces"] + 0.5 * expected["stress"]
    assert loss.item() == pytest.approx(total, rel=1e-12)
    # The validation path (errors gathered structure by structure) weights the same way.
    collector = ErrorCollector()
    collector.add(prediction, batch)
    _, val_terms = weighted_loss(collector.errors(group_weights=weights), kind=kind, delta=0.3)
    for key in expected:
        assert val_terms[key] == pytest.approx(expected[key], rel=1e-12), key
    # No weights, or an empty mapping, is the plain mean.
    for none in (None, {}):
        _, plain = weighted_loss(batch_errors(prediction, batch, none), kind=kind, delta=0.3)
        assert plain["energy"] == pytest.approx(np.mean(rho(de)), rel=1e-12)
        _, plain = weighted_loss(collector.errors(group_weights=none), kind=kind, delta=0.3)
        assert plain["forces"] == pytest.approx(np.mean(rho(df)), rel=1e-12)


def test_group_weights_are_checked():
    with pytest.raises(ValueError, match=r"group_weights\['Surface'\] must be a finite number >= 0"):
        TrainConfig(train_file="x", group_weights={"Surface": -1})
    with pytest.raises(TypeError, match="group_weights must be a mapping"):
        TrainConfig(train_file="x", group_weights=[2.0])
    assert TrainConfig(train_file="x", group_weights={"Surface": 5}).group_weights == {"Surface": 5.0}


def test_stratified_split_takes_the_fraction_of_every_group():
    groups = ["bulk"] * 40 + ["surface"] * 9 + ["vacancy"] * 3 + ["dimer"]
    train_idx, val_idx = split_indices(len(groups), 0.1, 5, groups)
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(len(groups)))
    val_groups = [groups[i] for i in val_idx]
    # round(0.1 n), at least one and never the whole group; a lone structure stays in training
    assert {g: val_groups.count(g) for g in set(val_groups)} == {"bulk": 4, "surface": 1, "vacancy": 1}
    again = split_indices(len(groups), 0.1, 5, groups)
    assert np.array_equal(again[1], val_idx)
    assert not np.array_equal(split_indices(len(groups), 0.1, 6, groups)[1], val_idx)
    with pytest.raises(ValueError, match="needs a group with two or more structures"):
        split_indices(3, 0.5, 0, ["a", "b", "c"])
    # Without groups the split is the plain seeded draw (shipped configs rely on it).
    plain = split_indices(53, 0.1, 5)
    order = np.random.default_rng(5).permutation(53)
    assert np.array_equal(plain[1], np.sort(order[:5]))


def test_stratified_validation_of_mlearn_mo_holds_a_surface_slab():
    from pathlib import Path

    from ase_mlip.training._trainer import _load_data

    data = Path(__file__).resolve().parents[2] / "data" / "mlearn" / "Mo" / "training.json"
    seen = {}
    for stratify in (False, True):
        cfg = TrainConfig(train_file=str(data), stratify_validation=stratify, model={"species": ["Mo"]})
        _, train_frames, val_frames = _load_data(cfg, log=lambda _: None)
        seen[stratify] = sorted({f.info["group"] for f in val_frames})
        assert len(train_frames) + len(val_frames) == 194
    assert seen[False] == ["AIMD-NVT", "Elastic", "Vacancy"]  # the shipped Mo split has no slab
    assert seen[True] == ["AIMD-NVT", "Elastic", "Surface", "Vacancy"]


@pytest.mark.parametrize("element", ["Li", "Mo", "Si"])
def test_shipped_configs_load_and_point_at_shipped_data(element):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(repo / "potentials" / element / "config.yaml")
    assert [Path(p).resolve() for p in cfg.train_file] == [
        (repo / "data" / "mlearn" / element / "training.json").resolve()]
    assert Path(cfg.train_file[0]).is_file()
    assert cfg.model["species"] == [element]
    assert cfg.potential_path.resolve() == (repo / "potentials" / element / f"{element}.mlip").resolve()
    assert "test" not in Path(cfg.train_file[0]).name  # the test split is for the final report only
    # The config is the one that made the shipped file (paths, threads and workers aside; a setting
    # newer than the file takes the value that reproduces what the code did then, as on resume).
    # For a committee: the committee's record, and each member's against member_config.
    from ase_mlip import Committee
    from ase_mlip.training import member_config

    pot = load_potential(cfg.potential_path)
    checks = [(pot.metadata["training"]["config"], cfg, repo / "potentials" / element / "metrics.csv")]
    if cfg.committee_seeds:
        assert isinstance(pot, Committee)
        assert pot.metadata["training"]["committee_seeds"] == cfg.committee_seeds
        checks = [(checks[0][0], cfg, None)] + [
            (member.metadata["training"]["config"], member_config(cfg, seed),
             repo / "potentials" / element / f"metrics_seed{seed}.csv")
            for member, seed in zip(pot.members, cfg.committee_seeds)]
    else:
        assert not isinstance(pot, Committee)
    for recorded, config, metrics in checks:
        _check_recorded_config(recorded, config, metrics)


def _check_recorded_config(recorded, cfg, metrics):
    from ase_mlip.training._trainer import _ADDED_SETTINGS

    made = {**_ADDED_SETTINGS, **recorded}
    here = cfg.to_dict()
    # divergence_factor only stops a run. A file made before it existed ran to the end, so
    # the stop would have changed nothing if no epoch of its metrics trips the rule.
    if "divergence_factor" not in made:
        import csv

        from ase_mlip.training._trainer import _divergence, _stage_two_start

        with open(metrics) as handle:
            rows = [{"epoch": int(r["epoch"]), "train_loss": float(r["train_loss"])}
                    for r in csv.DictReader(handle)]
        stage_two_start = _stage_two_start(cfg)
        assert len(rows) == cfg.max_epochs
        assert all(_divergence(rows[:n], stage_two_start, here["divergence_factor"]) is None
                   for n in range(1, len(rows) + 1))
        made["divergence_factor"] = here["divergence_factor"]
    if not here["stage_two_fraction"]:
        made.pop("stage_two_restart"), here.pop("stage_two_restart")
    # A split seed equal to the seed, or unset, is the same split.
    for d in (made, here):
        if d.get("split_seed") is None:
            d["split_seed"] = d["seed"]
    paths = {"train_file", "validation_file", "output_dir", "potential_file", "num_threads", "num_workers"}
    assert {k: v for k, v in made.items() if k not in paths} == {
        k: v for k, v in here.items() if k not in paths}
