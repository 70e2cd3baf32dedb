"""The ``mlip`` command line.

Each sub-command lives in its own module ``ase_mlip/cli/_<name>.py`` that
defines ``register(subparsers)``; the parser it adds sets ``func`` to a
callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

# Sub-command modules, in the order `mlip --help` lists them.
_COMMANDS = [
    "_train",
    "_evaluate",
    "_committee",
    "_lammps",
    "_phonons",
    "_pimd",
]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``mlip`` command."""
    from ase_mlip import __version__

    parser = argparse.ArgumentParser(
        prog="mlip",
        description="Machine-learned interatomic potentials for ASE and LAMMPS.",
    )
    parser.add_argument("--version", action="version", version=f"ase-mlip {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"ase_mlip.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``mlip`` command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"mlip {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
