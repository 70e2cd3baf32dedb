"""The ``mlip phonons`` and ``mlip pimd`` commands, with ASE's EMT as the potential."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.io import write

from ase_mlip.cli import main


def test_mlip_phonons_writes_phonopy_files_and_plots(tmp_path, capsys):
    structure = tmp_path / "cu.xyz"
    write(structure, bulk("Cu", cubic=True))
    out = tmp_path / "ph"
    assert main(["phonons", "emt", str(structure), "--supercell", "2", "2", "2", "--mesh", "10",
                 "-o", str(out)]) == 0
    for name in ("phonopy_params.yaml", "band.yaml", "total_dos.dat", "thermal_properties.yaml",
                 "phonons.png", "thermal_properties.png"):
        assert (out / name).stat().st_size > 0
    assert "C_V" in capsys.readouterr().out


def test_mlip_pimd_runs_and_restarts(tmp_path):
    structure = tmp_path / "cu.xyz"
    write(structure, bulk("Cu", cubic=True))
    out = tmp_path / "pimd"
    args = ["pimd", "emt", str(structure), "--beads", "4", "--temperature", "100", "-o", str(out)]
    assert main(args + ["--steps", "6"]) == 0
    assert main(args + ["--steps", "4", "--restart"]) == 0
    steps = np.loadtxt(out / "pimd.log")[:, 0]
    assert steps.tolist() == list(range(1, 11))
    assert (out / "pimd_energies.png").stat().st_size > 0


def test_missing_potential_is_a_clear_error(tmp_path, capsys):
    structure = tmp_path / "cu.xyz"
    write(structure, bulk("Cu", cubic=True))
    assert main(["phonons", "nope.mlip", str(structure)]) == 1
    assert "does not exist" in capsys.readouterr().err
