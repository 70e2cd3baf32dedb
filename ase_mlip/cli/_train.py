"""``mlip train CONFIG.yaml [--resume]``: train a potential from a YAML config."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from ase_mlip.training import load_config, train

    overrides = {}
    if args.output_dir is not None:
        overrides["output_dir"] = args.output_dir
    if args.max_epochs is not None:
        overrides["max_epochs"] = args.max_epochs
    if args.threads is not None:
        overrides["num_threads"] = args.threads
    if args.workers is not None:
        overrides["num_workers"] = args.workers
    if args.no_progress:
        overrides["progress"] = False
    config = load_config(args.config, **overrides)
    train(config, resume=args.resume)
    return 0


def register(subparsers) -> None:
    """Add the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train a potential from a YAML config",
        description="Train a potential. Writes a checkpoint every epoch, metrics.csv and "
        "learning_curve.png to output_dir, and the best-validation EMA weights to "
        "potential_file. See ase_mlip.training.TrainConfig for every setting and its default.",
    )
    parser.add_argument("config", help="training config (YAML)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from output_dir/checkpoint.pt (after a crash or kill)")
    parser.add_argument("--output-dir", default=None, help="override output_dir of the config")
    parser.add_argument("--max-epochs", type=int, default=None, help="override max_epochs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per worker (num_threads)")
    parser.add_argument("--workers", type=int, default=None,
                        help="data-parallel worker processes sharing each batch (num_workers, CPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
