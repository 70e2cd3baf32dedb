"""The example decks in examples/lammps run (small potential, few steps).

They are run from a copy in a temporary folder with ``-var potential`` pointing
at the small test potential; the checks are that each deck finishes, prints
its result line, and that the numbers it prints are consistent with the run.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest

from .conftest import REPO, mpirun, require_lammps, run

require_lammps()
pytestmark = pytest.mark.lammps

from lammps_driver import run_deck  # noqa: E402

EXAMPLES = REPO / "examples" / "lammps"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for deck in EXAMPLES.glob("in.*"):
        shutil.copy(deck, tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_example(name, potential_file, workdir, **variables):
    """Run deck ``name``; return (natoms, step, volume) at its end and its log text."""
    log = workdir / f"log.{name}"
    lmp = run_deck(
        workdir / name,
        variables={"potential": str(potential_file), "device": "cpu", **variables},
        cmdargs=["-log", str(log), "-screen", "none"],
    )
    state = lmp.get_natoms(), lmp.extract_global("ntimestep"), lmp.get_thermo("vol")
    lmp.close()  # flushes the log
    return state, log.read_text()


@pytest.fixture(scope="module")
def li_potential(tmp_path_factory):
    from ..conftest import small_potential

    path = tmp_path_factory.mktemp("li") / "li.mlip"
    small_potential(species=("Li",), seed=3).save(path)
    return path


def test_nvt_example(li_potential, workdir):
    (natoms, step, _), log = run_example("in.nvt_li", li_potential, workdir, steps=20, cells=3)
    assert (natoms, step) == (54, 20)
    assert re.search(r"^NVT done: T = [\d.]+ K", log, re.M)


def test_npt_example(li_potential, workdir):
    (natoms, _, volume), log = run_example("in.npt_li", li_potential, workdir, steps=100, cells=3)
    a = float(re.search(r"^NPT done: lattice parameter a = ([\d.]+) A", log, re.M).group(1))
    assert a == pytest.approx((2 * volume / natoms) ** (1 / 3), abs=1e-4)
    assert volume != pytest.approx((3 * 3.44) ** 3, rel=1e-6)  # the barostat moved the box


def test_minimize_example(li_potential, workdir):
    (natoms, _, _), log = run_example("in.minimize_li", li_potential, workdir, cells=2, max_iter=50)
    assert natoms == 15  # one vacancy in 2x2x2 bcc
    assert re.search(r"^relaxed lattice parameter a = [\d.]+ A", log, re.M)
    assert re.search(r"^vacancy formation energy E_vac = -?[\d.]+ eV", log, re.M)


def test_pimd_example_four_beads(li_potential, workdir):
    """fix pimd/langevin over 4 partitions of one rank each, `lmp` executable."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run(
        [mpirun(), "-np", "4", sys.executable, "-m", "lammps_driver", "lmp", "-partition", "4x1",
         "-in", "in.pimd_li", "-var", "potential", str(li_potential), "-var", "steps", "10",
         "-var", "cells", "2", "-var", "device", "cpu"],
        cwd=workdir, env=env,
    )  # fmt: skip
    energies = []
    for bead in range(4):
        text = (workdir / f"log.lammps.{bead}").read_text()
        energies.append(float(re.search(r"^PIMD done: this bead has PE = (\S+) eV", text, re.M).group(1)))
    assert len(set(energies)) == 4  # four distinct replicas were propagated
