"""The training loop: data -> normalisation -> optimisation -> potential file.

One epoch visits the training structures in an order drawn from
``numpy.random.default_rng([seed, epoch])``, so the order depends only on
the seed and the epoch number. Everything else that changes during training
(weights, optimiser moments, EMA shadow, schedule, best weights, history) is
written to ``output_dir/checkpoint.pt`` after every epoch, atomically. A run
killed at any moment (even with SIGKILL) and restarted with ``resume=True``
repeats the interrupted epoch from the last checkpoint and reaches exactly
the same weights as an uninterrupted run on the same machine and thread count.

Files in ``output_dir``: ``checkpoint.pt``, ``metrics.csv`` (one row per
epoch), ``learning_curve.png`` (redrawn every minute and at the end); the best-validation EMA weights go to
``config.potential_path`` with the training record in ``metadata["training"]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ase_mlip.data import (
    AtomicGraph,
    batch_graphs,
    build_graphs,
    config_type,
    dataset_statistics,
    format_statistics,
    load_dataset,
)
from ase_mlip.potential import Potential, build_potential, load_potential, with_zbl

from ._checkpoint import load_checkpoint, save_checkpoint
from ._config import TrainConfig, load_config
from ._ema import ExponentialMovingAverage
from ._loss import batch_errors, predict, weighted_loss
from ._metrics import ErrorCollector, plot_learning_curve, write_csv
from ._parallel import Workers, launch
from ._sam import SAM
from ._schedule import LRSchedule
from ._statistics import average_num_neighbors, baseline_energies_forces, fit_energy_shift, force_rms

__all__ = ["train", "evaluate_graphs", "split_indices"]

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_VERSION = 1
PLOT_INTERVAL_S = 60.0  # redraw the learning curve at most this often (and at the end)
# Settings that may differ between a run and its resumption.
_RESUMABLE_CHANGES = {"max_epochs", "early_stopping_patience", "divergence_factor", "num_threads",
                      "num_workers", "device", "progress", "zbl_after_training", "committee_seeds"}
# Settings newer than checkpoint version 1, with the behaviour of the code before them.
_ADDED_SETTINGS = {"stage_two_restart": False, "group_weights": {}, "stratify_validation": False,
                   "stage_two_lr_scale": 1.0, "zbl_after_training": None, "num_workers": 1,
                   "split_seed": None, "committee_seeds": None}
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _num_validation(size: int, fraction: float) -> int:
    """Validation share of ``size`` (>= 2) structures: round(fraction * size), at least 1, never all."""
    return min(max(1, round(fraction * size)), size - 1)


def split_indices(num_structures: int, fraction: float, seed: int,
                  groups: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split into (train, validation) index arrays, each sorted.

    With ``groups`` (one name per structure) the split is stratified: every
    group of two or more structures gives ``round(fraction * size)`` of them,
    at least one and never all, to validation; a group of one stays in training.
    """
    if num_structures < 2:
        raise ValueError(
            f"cannot carve a validation set out of {num_structures} structure(s); "
            "add data or give a validation_file"
        )
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(num_structures)
        num_val = _num_validation(num_structures, fraction)
        return np.sort(order[num_val:]), np.sort(order[:num_val])
    groups = np.asarray(groups)
    if groups.shape != (num_structures,):
        raise ValueError(f"groups has {groups.size} entries for {num_structures} structures")
    val = []
    for name in sorted(set(groups.tolist())):
        members = rng.permutation(np.flatnonzero(groups == name))
        if members.size >= 2:
            val.extend(members[:_num_validation(members.size, fraction)])
    if not val:
        raise ValueError("a stratified validation split needs a group with two or more structures; "
                         "set stratify_validation: false or give a validation_file")
    is_val = np.zeros(num_structures, bool)
    is_val[val] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def evaluate_graphs(potential: torch.nn.Module, graphs: Sequence[AtomicGraph],
                    batch_size: int = 8) -> ErrorCollector:
    """Predict every graph and collect the errors (no training graph kept)."""
    collector = ErrorCollector()
    dtype = potential.energy_shift.dtype
    device = potential.energy_shift.device
    for start in range(0, len(graphs), batch_size):
        batch = batch_graphs(graphs[start:start + batch_size], dtype=dtype, device=device)
        collector.add(predict(potential, batch, create_graph=False), batch)
    return collector


def _load_data(cfg: TrainConfig, log: Callable[[str], None]):
    species = cfg.model.get("species")
    if isinstance(species, str):
        species = [species]
    kwargs = {"species": species, "require_stress": cfg.stress_weight > 0, "format": cfg.data_format}
    train_frames = load_dataset(cfg.train_file, **kwargs)
    if cfg.validation_file:
        val_frames = load_dataset(cfg.validation_file, **kwargs)
    else:
        groups = [config_type(atoms) for atoms in train_frames] if cfg.stratify_validation else None
        split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
        train_idx, val_idx = split_indices(len(train_frames), cfg.validation_fraction, split_seed, groups)
        val_frames = [train_frames[i] for i in val_idx]
        train_frames = [train_frames[i] for i in train_idx]
    if species is None:
        species = sorted({s for atoms in train_frames for s in atoms.get_chemical_symbols()})
    if cfg.group_weights:
        present = sorted({config_type(atoms) for atoms in train_frames})
        missing = sorted(set(cfg.group_weights) - set(present))
        if missing:
            raise ValueError(f"group_weights names {missing}, which no training structure belongs to; "
                             f"the groups of the training data are {present}")
        log("group weights: " + ", ".join(f"{g} {w:g}" for g, w in cfg.group_weights.items())
            + " (other groups 1)")
    log(format_statistics(dataset_statistics(train_frames), "training data"))
    log(format_statistics(dataset_statistics(val_frames), "validation data"))
    return list(species), train_frames, val_frames


def _build(cfg: TrainConfig, species: list[str], train_frames, val_frames, log):
    model_config = {**cfg.model, "species": species, "dtype": cfg.dtype, "seed": cfg.seed}
    potential = build_potential(model_config)
    train_graphs = build_graphs(train_frames, species, potential.r_cut)
    val_graphs = build_graphs(val_frames, species, potential.r_cut)
    record = {}
    if "avg_num_neighbors" not in cfg.model:
        potential.model.avg_num_neighbors = average_num_neighbors(train_graphs)
    record["avg_num_neighbors"] = potential.model.avg_num_neighbors
    base_e = base_f = None
    if potential.zbl is not None and (cfg.fit_energy_shift or cfg.fit_energy_scale):
        base_e, base_f = baseline_energies_forces(potential.zbl, train_graphs)
        record["zbl_energy_eV_per_atom"] = float(np.sum(base_e) / sum(g.num_atoms for g in train_graphs))
    with torch.no_grad():
        if cfg.fit_energy_shift:
            shift = fit_energy_shift(train_graphs, len(species), base_e)
            potential.energy_shift.copy_(torch.as_tensor(shift))
        if cfg.fit_energy_scale:
            potential.energy_scale.fill_(force_rms(train_graphs, base_f))
    record["energy_shift_eV"] = potential.energy_shift.tolist()
    record["energy_scale_eV"] = potential.energy_scale.tolist()
    log(f"normalisation: shift {np.round(record['energy_shift_eV'], 4).tolist()} eV, "
        f"scale {np.round(record['energy_scale_eV'], 4).tolist()} eV, "
        f"avg_num_neighbors {record['avg_num_neighbors']:.2f}"
        + (" (fitted to the data minus the ZBL repulsion, "
           f"{record['zbl_energy_eV_per_atom']:.4f} eV/atom on average)" if base_e is not None else ""))
    return potential, train_graphs, val_graphs, record


def _metadata(cfg: TrainConfig, record: dict, history: list[dict], best_epoch: int,
              num_train: int, num_val: int) -> dict:
    best = next((row for row in history if row["epoch"] == best_epoch), {})
    data_files = list(cfg.train_file) + list(cfg.validation_file or [])
    return {"training": {
        "config": cfg.to_dict(),
        "data_sha256": {os.path.basename(p): _sha256(p) for p in data_files},
        "num_train_structures": num_train,
        "num_validation_structures": num_val,
        "normalisation": record,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "best_validation": {k: v for k, v in best.items() if k.startswith("val_")},
    }}


def train(config: TrainConfig | str | os.PathLike | dict, resume: bool = False,
          log: Callable[[str], None] = print) -> Potential:
    """Train a potential and write it, its checkpoint and its metrics.

    Parameters
    ----------
    config : TrainConfig, YAML path or dict
        Settings (see :class:`TrainConfig`).
    resume : bool
        Continue from ``output_dir/checkpoint.pt`` if it exists.
    log : callable
        Receives the human-readable progress lines.

    Returns
    -------
    Potential
        The best-validation EMA potential (also written to ``config.potential_path``).
    """
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    if cfg.committee_seeds:
        return _train_committee(cfg, resume, log)
    if cfg.num_workers > 1:
        launch(_run, (cfg, resume), cfg.num_workers, log)
        return load_potential(cfg.potential_path)
    return _run(cfg, resume, log=log, workers=Workers())


def _run(cfg: TrainConfig, resume: bool, log: Callable[[str], None], workers: Workers) -> Potential | None:
    """The training loop of one worker; returns the potential on worker 0, else None."""
    threads = cfg.num_threads
    if threads is None and workers.world > 1:  # share the cores between the workers
        threads = max(1, (os.cpu_count() or 1) // workers.world)
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(cfg.seed)
    out = Path(cfg.output_dir)
    checkpoint_path = out / CHECKPOINT_NAME
    if checkpoint_path.exists() and not resume:
        raise ValueError(
            f"{checkpoint_path} exists from an earlier run; continue it with --resume "
            "(resume=True) or choose another output_dir"
        )
    out.mkdir(parents=True, exist_ok=True)

    species, train_frames, val_frames = _load_data(cfg, log)
    potential, train_graphs, val_graphs, record = _build(cfg, species, train_frames, val_frames, log)
    dtype = _DTYPES[cfg.dtype]
    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    potential.to(device)

    params = [p for p in potential.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        base = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        base = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    optimizer = SAM(base, rho=cfg.sam_rho, adaptive=cfg.sam_adaptive) if cfg.sam else base
    ema = ExponentialMovingAverage(potential, cfg.ema_decay)
    steps_per_epoch = math.ceil(len(train_graphs) / cfg.batch_size)
    schedule = LRSchedule(optimizer, cfg.lr_schedule, lr=cfg.lr,
                          total_steps=steps_per_epoch * cfg.max_epochs,
                          warmup_steps=round(cfg.warmup_epochs * steps_per_epoch),
                          lr_min=cfg.lr_min, factor=cfg.plateau_factor,
                          patience=cfg.plateau_patience)

    epoch, history, best_loss, best_epoch, bad_epochs, finished = 0, [], math.inf, 0, 0, False
    best_state = {k: v.detach().clone() for k, v in potential.state_dict().items()}
    if resume and checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path)
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{checkpoint_path} has checkpoint version {state.get('version')}, "
                             f"this code writes {CHECKPOINT_VERSION}; start a new run")
        # Settings added since the checkpoint was written take the value that reproduces
        # what the code did then.
        written = {**_ADDED_SETTINGS, **state["config"]}
        changed = sorted(k for k, v in cfg.to_dict().items()
                         if k not in _RESUMABLE_CHANGES and written.get(k) != v)
        if changed:
            raise ValueError(
                f"the config changed since {checkpoint_path} was written ({changed}); resuming "
                "would not reproduce either run: restore those settings or start a new output_dir"
            )
        potential.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        ema.load_state_dict(state["ema"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        epoch, history = int(state["epoch"]), list(state["history"])
        best_loss, best_epoch = float(state["best_loss"]), int(state["best_epoch"])
        bad_epochs, finished = int(state["bad_epochs"]), bool(state["stopped_early"])
        best_state = state["best_model"]
        log(f"resuming {checkpoint_path} after epoch {epoch}")
    elif resume:
        log(f"no checkpoint at {checkpoint_path}; starting a new run")

    def clip() -> None:
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)

    from tqdm.auto import tqdm

    bar = tqdm(total=steps_per_epoch * cfg.max_epochs, initial=steps_per_epoch * epoch,
               disable=not (cfg.progress and workers.main), unit="step", dynamic_ncols=True)
    stage_two_start = _stage_two_start(cfg)
    stage_two_energy = (cfg.energy_weight if cfg.stage_two_energy_weight is None
                        else cfg.stage_two_energy_weight)
    postfix = {}
    last_plot = time.perf_counter()
    while not finished and epoch < cfg.max_epochs:
        epoch += 1
        start_time = time.perf_counter()
        stage_two = epoch > stage_two_start
        weights = {"energy_weight": stage_two_energy if stage_two else cfg.energy_weight,
                   "forces_weight": cfg.forces_weight, "stress_weight": cfg.stress_weight,
                   "kind": cfg.loss, "delta": cfg.huber_delta}
        if stage_two and epoch == stage_two_start + 1:
            # The validation loss changes meaning: choose the best among stage-two epochs.
            best_loss, bad_epochs = math.inf, 0
            schedule.reset_best()
            schedule.scale = cfg.stage_two_lr_scale
            if cfg.stage_two_restart:
                base.state.clear()  # moment estimates of the old loss scale
                schedule.rewarm(max(round(cfg.warmup_epochs * steps_per_epoch), steps_per_epoch))
            log(f"epoch {epoch}: stage two, energy weight {stage_two_energy:g}"
                + (", optimiser restarted" if cfg.stage_two_restart else ""))
        potential.train()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_graphs))
        sums = {"loss": 0.0, "energy": 0.0, "forces": 0.0, "stress": 0.0}
        for step in range(steps_per_epoch):
            chosen = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            share = workers.share(chosen)
            # With several workers each loss term is divided by the entry count of the whole batch.
            counts = _entry_counts([train_graphs[i] for i in chosen]) if workers.world > 1 else None
            batch = batch_graphs([train_graphs[i] for i in share], dtype=dtype, device=device) if share else None
            terms_box = {}

            def closure():
                optimizer.zero_grad()
                if batch is None:  # more workers than structures left in the last batch
                    loss, terms = torch.zeros((), dtype=dtype), {"energy": 0.0, "forces": 0.0, "stress": 0.0}
                else:
                    errors = batch_errors(predict(potential, batch, True), batch, cfg.group_weights)
                    loss, terms = weighted_loss(errors, **weights, counts=counts)
                    loss.backward()
                workers.sum_gradients(params)
                terms_box.setdefault("terms", terms)
                terms_box.setdefault("loss", float(loss.detach()))
                return loss

            if cfg.sam:
                optimizer.step(closure, before_base_step=clip)
            else:
                closure()
                clip()
                optimizer.step()
            ema.update(potential)
            schedule.step()
            step_terms = dict(zip(("loss", "energy", "forces", "stress"), workers.sum_floats(
                [terms_box["loss"], *(terms_box["terms"][k] for k in ("energy", "forces", "stress"))])))
            for key in sums:
                sums[key] += step_terms[key] * len(chosen)
            terms_box["loss"] = step_terms["loss"]
            postfix["loss"] = f"{terms_box['loss']:.3g}"
            bar.set_postfix(postfix, refresh=False)
            bar.update(1)

        potential.eval()
        with ema.average_parameters(potential):
            collector = evaluate_graphs(potential, val_graphs, batch_size=max(cfg.batch_size, 8))
            val_loss, _ = weighted_loss(collector.errors(dtype=dtype, group_weights=cfg.group_weights),
                                        **weights)
            val_loss = float(val_loss)
            improved = val_loss < best_loss
            if improved:
                best_state = {k: v.detach().clone() for k, v in potential.state_dict().items()}
        schedule.epoch_end(val_loss)
        summary = collector.summary(by_group=False)["all"]
        row = {"epoch": epoch, "lr": base.param_groups[0]["lr"],
               **{f"train_{k}": v / len(train_graphs) for k, v in sums.items()},
               "val_loss": val_loss,
               **{f"val_{k}": v for k, v in summary.items() if k != "num_structures"},
               "epoch_time_s": time.perf_counter() - start_time}
        history.append(row)
        if improved:
            best_loss, best_epoch, bad_epochs = val_loss, epoch, 0
        else:
            bad_epochs += 1
        if cfg.early_stopping_patience is not None and bad_epochs >= cfg.early_stopping_patience:
            log(f"early stopping after epoch {epoch}: no improvement for {bad_epochs} epochs")
            finished = True
        jump = _divergence(history, stage_two_start, cfg.divergence_factor)
        if jump is not None:
            log(f"training diverged at epoch {epoch}: {jump}; stopping. The potential file holds "
                f"epoch {best_epoch}, the best by validation loss. Lower lr (now {cfg.lr:g}) and start "
                "again in a new output_dir.")
            finished = True

        workers.check_same(params)
        if not workers.main:
            continue
        if improved:  # the best potential so far, usable while training runs
            _write_potential(potential, best_state, cfg, record, history, best_epoch,
                             len(train_graphs), len(val_graphs))
        save_checkpoint({
            "version": CHECKPOINT_VERSION, "config": cfg.to_dict(), "epoch": epoch,
            "history": history,
            "model": potential.state_dict(), "optimizer": optimizer.state_dict(),
            "ema": ema.state_dict(), "schedule": schedule.state_dict(),
            "torch_rng": torch.get_rng_state(), "best_loss": best_loss,
            "best_epoch": best_epoch, "bad_epochs": bad_epochs, "stopped_early": finished,
            "best_model": best_state,
        }, checkpoint_path)
        write_csv(out / "metrics.csv", history)
        if time.perf_counter() - last_plot > PLOT_INTERVAL_S:  # a plot costs ~0.5 s
            plot_learning_curve(out / "learning_curve.png", history)
            last_plot = time.perf_counter()
        postfix.update({"val_E": f"{row['val_energy_mae_meV_per_atom']:.2f}meV/at",
                        "val_F": f"{row['val_forces_mae_eV_per_A']:.3f}eV/A"})
        bar.set_postfix(postfix)
    bar.close()
    if not workers.main:
        return None
    plot_learning_curve(out / "learning_curve.png", history)

    best = _write_potential(potential, best_state, cfg, record, history, best_epoch,
                            len(train_graphs), len(val_graphs))
    log(f"best epoch {best_epoch}: potential written to {cfg.potential_path}")
    return best


def member_config(cfg: TrainConfig, seed: int) -> TrainConfig:
    """The config of the committee member of ``seed``: the committee's settings, its own
    seed, folder and file, the committee's validation split."""
    folder = Path(cfg.output_dir) / f"member_{seed}"
    return dataclasses.replace(
        cfg, seed=seed, split_seed=cfg.seed if cfg.split_seed is None else cfg.split_seed,
        committee_seeds=None, output_dir=str(folder), potential_file=str(folder / "potential.mlip"))


def _train_committee(cfg: TrainConfig, resume: bool, log: Callable[[str], None]):
    """Train every member of ``cfg.committee_seeds`` in turn, then write their committee."""
    members = [member_config(cfg, seed) for seed in cfg.committee_seeds]
    for k, member in enumerate(members):
        log(f"committee member {k + 1} of {len(members)}: seed {member.seed}, in {member.output_dir}")
        # A member whose run ended is not trained again: its last checkpoint says it is done.
        done = _finished(member)
        train(member, resume=resume or done, log=log)
    return write_committee(cfg, log)


def write_committee(cfg: TrainConfig, log: Callable[[str], None] = print):
    """Join the members' files of a committee config (``member_config(cfg, seed).potential_path``)
    into ``cfg.potential_path``, with the committee's errors on the shared validation set."""
    from ase_mlip import make_committee

    from ._evaluate import evaluate

    if not cfg.committee_seeds:
        raise ValueError("the config has no committee_seeds: there are no members to join")
    members = [member_config(cfg, seed) for seed in cfg.committee_seeds]
    files = [m.potential_path for m in members]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"member files {missing} do not exist; train the committee first")
    committee = make_committee(files)
    # Each member keeps its own training record in the file; the committee's adds up to them.
    records = [member.metadata.get("training", {}) for member in committee.members]
    summary, _ = evaluate(committee, validation_of=members[0])  # the members' shared split
    validation = {f"val_{k}": v for k, v in summary["all"].items() if k != "num_structures"}
    committee.metadata["members_from"] = [str(Path(f).relative_to(cfg.output_dir)) for f in files]
    committee.metadata["training"] = {
        "config": cfg.to_dict(),
        "committee_seeds": list(cfg.committee_seeds),
        "epochs_run": [r.get("epochs_run") for r in records],
        "best_epoch": [r.get("best_epoch") for r in records],
        "best_validation": validation,
        "num_train_structures": records[0].get("num_train_structures"),
        "num_validation_structures": records[0].get("num_validation_structures"),
    }
    committee.save(cfg.potential_path)
    log(f"committee of {len(members)} written to {cfg.potential_path}; validation energy MAE "
        f"{validation['val_energy_mae_meV_per_atom']:.3f} meV/atom, force MAE "
        f"{validation['val_forces_mae_eV_per_A']:.4f} eV/A")
    return committee


def _finished(cfg: TrainConfig) -> bool:
    """Whether ``cfg.output_dir`` holds the checkpoint of a run that has ended."""
    path = Path(cfg.output_dir) / CHECKPOINT_NAME
    if not path.exists():
        return False
    state = load_checkpoint(path)
    return bool(state.get("stopped_early")) or int(state.get("epoch", 0)) >= cfg.max_epochs


def _entry_counts(graphs: Sequence[AtomicGraph]) -> dict[str, int]:
    """Entries of each loss term in a batch: structures, force components, stress components."""
    return {"energy": len(graphs), "forces": 3 * sum(g.num_atoms for g in graphs),
            "stress": 9 * sum(g.stress is not None for g in graphs)}


def _divergence(history: list[dict], stage_two_start: int,
                factor: float | None) -> str | None:
    """Why the last epoch of ``history`` counts as diverged, or None if it does not.

    It does when its mean training loss is not finite or is above ``factor`` times the
    lowest one of its stage (the second stage weights the loss differently).
    """
    if factor is None or not history:
        return None
    last = history[-1]
    loss = last["train_loss"]
    if not math.isfinite(loss):
        return f"the mean training loss is {loss}"
    stage = last["epoch"] > stage_two_start
    earlier = [row["train_loss"] for row in history[:-1]
               if (row["epoch"] > stage_two_start) == stage and math.isfinite(row["train_loss"])]
    lowest = min(earlier, default=math.inf)
    if loss > factor * lowest:
        return (f"the mean training loss {loss:.3g} is {loss / lowest:.3g}x the lowest "
                f"of this stage ({lowest:.3g})")
    return None


def _stage_two_start(cfg: TrainConfig) -> int:
    """The last epoch of the first stage (``max_epochs`` when there is no second stage)."""
    return cfg.max_epochs - round(cfg.stage_two_fraction * cfg.max_epochs)


def _write_potential(potential: Potential, best_state: dict, cfg: TrainConfig, record: dict,
                     history: list[dict], best_epoch: int, num_train: int,
                     num_val: int) -> Potential:
    """Write the best weights to ``cfg.potential_path`` without touching ``potential``."""
    model_config = {**potential.config, "dtype": cfg.dtype, "seed": cfg.seed}
    best = build_potential(model_config)
    best.load_state_dict({k: v.cpu() for k, v in best_state.items()})
    best.metadata = _metadata(cfg, record, history, best_epoch, num_train, num_val)
    if cfg.zbl_after_training is not None:
        best = with_zbl(best, cfg.zbl_after_training)
    best.save(cfg.potential_path)
    return best
