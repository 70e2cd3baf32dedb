"""Training: configuration, losses, SAM, EMA, schedules, checkpoints, metrics.

``train(config)`` runs the whole loop (see :mod:`ase_mlip.training._trainer`);
the pieces are public for custom loops.
"""

from ._checkpoint import load_checkpoint, save_checkpoint
from ._config import TrainConfig, load_config
from ._evaluate import evaluate, format_errors, format_worst
from ._ema import ExponentialMovingAverage
from ._loss import Errors, Prediction, batch_errors, predict, weighted_loss
from ._metrics import ErrorCollector, error_summary, plot_learning_curve, plot_parity, write_csv
from ._sam import SAM
from ._schedule import LRSchedule
from ._statistics import average_num_neighbors, baseline_energies_forces, fit_energy_shift, force_rms
from ._trainer import evaluate_graphs, member_config, split_indices, train, write_committee

__all__ = [
    "load_checkpoint",
    "save_checkpoint",
    "TrainConfig",
    "load_config",
    "evaluate",
    "format_errors",
    "format_worst",
    "ExponentialMovingAverage",
    "Errors",
    "Prediction",
    "batch_errors",
    "predict",
    "weighted_loss",
    "ErrorCollector",
    "error_summary",
    "plot_learning_curve",
    "plot_parity",
    "write_csv",
    "SAM",
    "LRSchedule",
    "average_num_neighbors",
    "fit_energy_shift",
    "baseline_energies_forces",
    "force_rms",
    "evaluate_graphs",
    "member_config",
    "split_indices",
    "train",
    "write_committee",
]
