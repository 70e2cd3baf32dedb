"""Shared fixtures: fixed seeds, dtype tolerances, small potentials."""

from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

# Small but complete hyperparameters: every code path of the full model, fast in tests.
SMALL = {
    "r_cut": 4.0,
    "num_layers": 2,
    "l_max": 1,
    "parity": True,
    "num_tensor_features": 4,
    "num_scalar_features": 8,
    "num_bessel": 4,
    "two_body_mlp": [16],
    "latent_mlp": [16],
    "readout_mlp": [8],
    "avg_num_neighbors": 10.0,
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(params=["float32", "float64"])
def float_tolerance(request):
    """(dtype name, absolute tolerance) pairs: 1e-3 in float32, 1e-9 in float64."""
    return request.param, {"float32": 1e-3, "float64": 1e-9}[request.param]


def small_potential(species=("Li",), seed=0, **overrides):
    """A small untrained potential whose energy scale makes forces O(0.1-1) eV/A."""
    from ase_mlip import build_potential

    pot = build_potential({**SMALL, "species": list(species), "seed": seed, **overrides})
    with torch.no_grad():
        pot.energy_scale.fill_(1.0)
    return pot


def with_live_atom_readout(potential, seed=1):
    """The per-atom readout (``atom_mlp``) starts at zero; draw its last layer so tests see it."""
    gen = torch.Generator().manual_seed(seed)
    last = potential.model.atom_readout.weights[-1]
    with torch.no_grad():
        last.copy_(torch.randn(last.shape, generator=gen, dtype=last.dtype))
    return potential
