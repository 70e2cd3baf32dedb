"""``mlip evaluate POTENTIAL DATA...``: test errors, parity plot, JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from ase_mlip.training import evaluate, format_errors, format_worst

    summary, collector = evaluate(args.potential, args.data, batch_size=args.batch_size,
                                  data_format=args.format, dtype=args.dtype,
                                  validation_of=args.validation_of)
    print(format_errors(summary))
    structures = collector.per_structure()
    if args.worst > 0:
        print()
        print(format_worst(structures, args.worst))
    data = [str(p) for p in args.data] or [f"validation set of {args.validation_of}"]
    result = {"potential": str(args.potential), "data": data, **summary,
              "structures": structures}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"errors written to {args.json}")
    if args.parity:
        Path(args.parity).parent.mkdir(parents=True, exist_ok=True)
        collector.plot_parity(args.parity, title=Path(args.potential).name)
        print(f"parity plot written to {args.parity}")
    return 0


def register(subparsers) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="errors of a potential on labelled data",
        description="MAE and RMSE of energy (meV/atom), force components (eV/A) and stress "
        "(GPa), overall and per group/config type.",
    )
    parser.add_argument("potential", help="potential file")
    parser.add_argument("data", nargs="*", help="data files (mlearn JSON, extxyz, OUTCAR, ASE db, ...)")
    parser.add_argument("--validation-of", default=None, metavar="CONFIG",
                        help="instead of data files: the validation structures that this training config "
                        "holds out (to compare potentials on the same structures)")
    parser.add_argument("--json", default=None, help="write the errors to this JSON file")
    parser.add_argument("--parity", default=None, help="write a parity plot to this PNG file")
    parser.add_argument("--worst", type=int, default=5, metavar="N",
                        help="list the N structures with the largest force RMSE (5; 0: none); "
                        "the JSON holds the errors of every structure")
    parser.add_argument("--batch-size", type=int, default=8, help="structures per batch (8)")
    parser.add_argument("--format", default=None, help="force a reader: mlearn or an ase.io format")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=None,
                        help="evaluate in this precision (default: the potential's)")
    parser.set_defaults(func=_run)
