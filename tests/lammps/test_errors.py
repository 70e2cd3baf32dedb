"""Bad input stops LAMMPS with a message that says what to fix."""

from __future__ import annotations

import math

import pytest

from .conftest import require_lammps

require_lammps()
pytestmark = pytest.mark.lammps

from lammps_driver import open_lammps  # noqa: E402

BOX = """
units {units}
newton {newton}
boundary p p p
lattice bcc 3.44
region box block 0 2 0 2 0 2
create_box 2 box
create_atoms 1 box
mass * 6.94
"""


def lammps_with_box(units="metal", newton="on"):
    lmp = open_lammps(["-log", "none", "-screen", "none"])
    lmp.commands_string(BOX.format(units=units, newton=newton))
    return lmp


def expect_error(commands, match, **box):
    lmp = lammps_with_box(**box)
    with pytest.raises(Exception, match=match):
        lmp.commands_string(commands)
    lmp.close()


def test_unknown_species_in_pair_coeff(potential_file):
    expect_error(
        f"pair_style mlip {potential_file}\npair_coeff * * Li Mo",
        r"element 'Mo' is not in this potential's species \['Li', 'Si'\]",
    )


def test_wrong_number_of_species(potential_file):
    expect_error(
        f"pair_style mlip {potential_file}\npair_coeff * * Li",
        r"one element per atom type: got 1 element\(s\) for 2 atom type\(s\)",
    )


def test_pair_coeff_needs_stars(potential_file):
    expect_error(f"pair_style mlip {potential_file}\npair_coeff 1 1 Li Si", r"must start with \* \* for pair style mlip")


def test_newton_off(potential_file):
    expect_error(
        f"pair_style mlip {potential_file}\npair_coeff * * Li Si\nrun 0",
        r"requires newton pair on",
        newton="off",
    )


def test_units_not_metal(potential_file):
    expect_error(f"pair_style mlip {potential_file}", r"requires units metal .* but units are real", units="real")


def test_missing_file(tmp_path):
    expect_error(f"pair_style mlip {tmp_path / 'nothing.mlip'}", r"nothing\.mlip.*does not exist")


def test_damaged_file(potential_file, tmp_path):
    damaged = tmp_path / "damaged.mlip"
    damaged.write_bytes(potential_file.read_bytes()[: len(potential_file.read_bytes()) // 2])
    expect_error(f"pair_style mlip {damaged}", r"cannot load potential file .*damaged")


def test_unknown_keyword(potential_file):
    expect_error(f"pair_style mlip {potential_file} precision double", r"unknown keyword precision")


def test_bad_dtype(potential_file):
    expect_error(f"pair_style mlip {potential_file} dtype float16", r"dtype must be 'float32' or 'float64'")


def test_cuda_without_gpu(potential_file):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    expect_error(f"pair_style mlip {potential_file} device cuda", r"torch sees no CUDA GPU")


def test_usable_after_errors(potential_file):
    """An error leaves the plugin usable for the next LAMMPS instance."""
    expect_error(f"pair_style mlip {potential_file}\npair_coeff * * Li Mo", r"element 'Mo'")
    lmp = lammps_with_box()
    lmp.commands_string(f"pair_style mlip {potential_file}\npair_coeff * * Li Si\nrun 0")
    energy = lmp.get_thermo("pe")
    assert math.isfinite(energy) and energy != 0.0
    lmp.close()
