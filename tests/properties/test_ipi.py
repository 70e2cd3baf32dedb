"""Our calculator as an i-PI client, served by ASE's i-PI-protocol SocketIOCalculator."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.socketio import SocketIOCalculator

from ase_mlip import MLIPCalculator, build_potential
from ase_mlip.properties import run_ipi_client


def test_mlip_calculator_answers_an_ipi_server():
    torch.manual_seed(0)
    potential = build_potential({
        "species": ["Li"], "r_cut": 4.0, "num_layers": 1, "l_max": 1, "num_tensor_features": 4,
        "num_scalar_features": 8, "two_body_mlp": [8], "latent_mlp": [8], "readout_mlp": [8],
        "avg_num_neighbors": 14.0, "seed": 0, "dtype": "float64",
    })
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 1, 1))
    name = f"ase_mlip_test_{os.getpid()}"
    errors = []

    def client():
        try:
            run_ipi_client(atoms, MLIPCalculator(potential), unixsocket=name, timeout=30)
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)

    thread = threading.Thread(target=client, daemon=True)
    direct = MLIPCalculator(potential)
    rng = np.random.default_rng(0)
    with SocketIOCalculator(unixsocket=name, timeout=30) as server:
        thread.start()
        for _ in range(3):  # the server sends new positions, the client answers
            moved = atoms.copy()
            moved.positions += 0.1 * rng.normal(size=moved.positions.shape)
            moved.calc = server
            energy, forces, stress = moved.get_potential_energy(), moved.get_forces(), moved.get_stress()
            moved.calc = direct
            assert energy == pytest.approx(moved.get_potential_energy(), abs=1e-8)
            np.testing.assert_allclose(forces, moved.get_forces(), atol=1e-8)
            np.testing.assert_allclose(stress, moved.get_stress(), atol=1e-8)
            assert np.abs(forces).max() > 1e-3
    thread.join(timeout=30)
    assert not thread.is_alive() and not errors, errors


def test_client_needs_one_address():
    with pytest.raises(ValueError, match="exactly one"):
        run_ipi_client(bulk("Li"), MLIPCalculator(build_potential({"species": ["Li"]})))
