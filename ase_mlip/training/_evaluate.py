"""Test errors of a potential on labelled data, overall and per group."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ase_mlip.data import build_graphs, load_dataset, source_name

from ._metrics import ErrorCollector
from ._trainer import evaluate_graphs

__all__ = ["evaluate", "format_errors", "format_worst"]


def evaluate(potential, data: str | os.PathLike | Sequence[str | os.PathLike] = (),
             batch_size: int = 8, data_format: str | None = None,
             dtype: str | None = None,
             validation_of: str | os.PathLike | None = None) -> tuple[dict, ErrorCollector]:
    """Errors of a potential on one or more data files, or on a training run's validation set.

    Parameters
    ----------
    potential : Potential or path
        The potential or its file.
    data : path or sequence of paths
        Labelled data (mlearn JSON or any ``ase.io`` file with energy and forces).
    validation_of : path or TrainConfig, optional
        A training config: evaluate on the validation structures that
        ``mlip train`` would use with it (its ``validation_file``, or the part
        of ``train_file`` its seeds hold out), instead of ``data``. Two
        potentials are then compared on the same structures, whatever their
        own training configs held out.
    batch_size : int
        Structures per evaluation batch.
    data_format : str, optional
        Forced reader (``"mlearn"`` or an ``ase.io`` format).
    dtype : {"float32", "float64"}, optional
        Evaluate in this precision (default: the potential's).

    Returns
    -------
    summary : dict
        ``{"all": {...}, "groups": {group: {...}}}`` with MAE and RMSE of
        energy (meV/atom), forces (eV/A) and stress (GPa), see
        :func:`ase_mlip.training.error_summary`.
    collector : ErrorCollector
        Predictions and references, e.g. for :meth:`ErrorCollector.plot_parity`.
    """
    from ase_mlip.potential import load_potential

    if isinstance(potential, (str, os.PathLike)):
        potential = load_potential(potential)
    if dtype is not None:
        potential = potential.to({"float32": torch.float32, "float64": torch.float64}[dtype])
    if validation_of is not None:
        if data:
            raise ValueError("give data files or validation_of, not both")
        from ._config import load_config
        from ._trainer import _load_data

        from ._config import TrainConfig

        cfg = validation_of if isinstance(validation_of, TrainConfig) else load_config(validation_of)
        _, _, frames = _load_data(cfg, lambda _: None)
    else:
        if isinstance(data, (str, os.PathLike)):
            data = [data]
        if not data:
            raise ValueError("no data to evaluate on: give data files or validation_of (a training config)")
        frames = load_dataset(data, species=potential.species, format=data_format)
    graphs = build_graphs(frames, potential.species, potential.r_cut)
    potential.eval()
    collector = evaluate_graphs(potential, graphs, batch_size=batch_size)
    collector.names = [source_name(atoms) for atoms in frames]
    return collector.summary(by_group=True), collector


def format_worst(rows: Sequence[dict], count: int = 5) -> str:
    """The ``count`` structures with the largest force RMSE, as a plain-text table.

    ``rows`` as from :meth:`ErrorCollector.per_structure`. The energy error is
    signed (predicted minus reference); ``F max`` is the largest per-atom
    force error (length of the error vector).
    """
    worst = sorted(rows, key=lambda r: -r["forces_rmse_eV_per_A"])[:max(count, 0)]
    if not worst:
        return ""
    width = max(len("structure"), *(len(r["name"]) for r in worst))
    lines = [f"largest force errors ({len(worst)} of {len(rows)} structures):",
             f"{'structure':<{width}} {'group':<12} {'atoms':>5} {'dE meV/at':>10} "
             f"{'F MAE':>8} {'F RMSE':>8} {'F max':>8}"]
    for r in worst:
        lines.append(f"{r['name']:<{width}} {r['group']:<12} {r['num_atoms']:>5} "
                     f"{r['energy_error_meV_per_atom']:>10.3f} {r['forces_mae_eV_per_A']:>8.4f} "
                     f"{r['forces_rmse_eV_per_A']:>8.4f} {r['forces_max_eV_per_A']:>8.3f}")
    return "\n".join(lines)


def format_errors(summary: dict) -> str:
    """A plain-text table of :func:`evaluate`'s summary."""
    header = (f"{'group':<12} {'n':>4} {'E MAE':>9} {'E RMSE':>9} {'F MAE':>8} {'F RMSE':>8} "
              f"{'S MAE':>8} {'S RMSE':>8}")
    units = f"{'':<12} {'':>4} {'meV/atom':>9} {'meV/atom':>9} {'eV/A':>8} {'eV/A':>8} {'GPa':>8} {'GPa':>8}"
    lines = [header, units]
    rows = [("all", summary["all"])] + sorted(summary.get("groups", {}).items())
    for name, m in rows:
        lines.append(
            f"{name:<12} {m['num_structures']:>4} {m['energy_mae_meV_per_atom']:>9.3f} "
            f"{m['energy_rmse_meV_per_atom']:>9.3f} {m['forces_mae_eV_per_A']:>8.4f} "
            f"{m['forces_rmse_eV_per_A']:>8.4f} {m['stress_mae_GPa']:>8.4f} {m['stress_rmse_GPa']:>8.4f}"
        )
    return "\n".join(lines)
