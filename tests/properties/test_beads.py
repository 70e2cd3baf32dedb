"""Batched bead evaluation of ase-mlip potentials equals bead-by-bead evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import units
from ase.build import bulk

from ase_mlip import MLIPCalculator, build_potential
from ase_mlip.properties import PIMD
from ase_mlip.properties._beads import CalculatorBeads, MLIPBatchedBeads, make_bead_evaluator


@pytest.fixture(scope="module")
def li_calculator():
    torch.manual_seed(0)
    potential = build_potential({
        "species": ["Li"], "r_cut": 4.0, "num_layers": 1, "l_max": 1, "num_tensor_features": 4,
        "num_scalar_features": 8, "two_body_mlp": [8], "latent_mlp": [8], "readout_mlp": [8],
        "avg_num_neighbors": 14.0, "seed": 0, "dtype": "float64",
    })
    return MLIPCalculator(potential, dtype="float64")


def test_batched_beads_equal_one_by_one(li_calculator):
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 1, 1))
    rng = np.random.default_rng(0)
    positions = atoms.positions[None] + 0.1 * rng.normal(size=(5, len(atoms), 3))  # [P, N, 3]
    batched = MLIPBatchedBeads(atoms, li_calculator, compute_stress=True)(positions)
    single = CalculatorBeads(atoms, li_calculator, compute_stress=True)(positions)
    assert np.ptp(single.energies) > 1e-4  # the beads differ
    np.testing.assert_allclose(batched.energies, single.energies, rtol=0, atol=1e-9)
    np.testing.assert_allclose(batched.forces, single.forces, rtol=0, atol=1e-9)
    np.testing.assert_allclose(batched.stresses, single.stresses, rtol=0, atol=1e-9)


def test_pimd_picks_the_batched_path(li_calculator):
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    assert isinstance(make_bead_evaluator(atoms, li_calculator), MLIPBatchedBeads)
    with pytest.raises(ValueError, match="MLIPCalculator"):
        from ase.calculators.emt import EMT

        make_bead_evaluator(atoms, EMT(), batched=True)
    runs = []
    for batched in (True, False):
        pimd = PIMD(atoms.copy(), 4, 1.0 * units.fs, temperature_K=50, rng=0, calculator=li_calculator,
                    batched=batched)
        runs.append(pimd.run(5))
    for key in ("kinetic_virial", "potential", "pressure"):
        np.testing.assert_allclose(runs[0][key], runs[1][key], rtol=1e-9, atol=1e-9)
