"""Test errors of a potential on labelled data, overall and per group."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ase_mlip.data import build_graphs, load_dataset

from ._metrics import ErrorCollector
from ._trainer import evaluate_graphs

__all__ = ["evaluate", "format_errors"]


def evaluate(potential, data: str | os.PathLike | Sequence[str | os.PathLike],
             batch_size: int = 8, data_format: str | None = None,
             dtype: str | None = None) -> tuple[dict, ErrorCollector]:
    """Errors of a potential on one or more data files.

    Parameters
    ----------
    potential : Potential or path
        The potential or its file.
    data : path or sequence of paths
        Labelled data (mlearn JSON or any ``ase.io`` file with energy and forces).
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
    frames = load_dataset(data, species=potential.species, format=data_format)
    graphs = build_graphs(frames, potential.species, potential.r_cut)
    potential.eval()
    collector = evaluate_graphs(potential, graphs, batch_size=batch_size)
    return collector.summary(by_group=True), collector


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
