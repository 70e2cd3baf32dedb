"""SAM and ASAM steps against updates computed by hand on a quadratic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ase_mlip.training import SAM

A = np.array([[3.0, 1.0], [1.0, 2.0]])
B = np.array([0.5, -1.0])
W0 = np.array([1.0, -2.0])


def _loss(w):
    return 0.5 * w @ torch.as_tensor(A) @ w + torch.as_tensor(B) @ w


def _grad(w):  # dL/dw = A w + b
    return A @ w + B


def _one_step(rho, adaptive, lr=0.1):
    w = torch.tensor(W0, requires_grad=True)
    opt = SAM(torch.optim.SGD([w], lr=lr), rho=rho, adaptive=adaptive)
    calls = []

    def closure():
        opt.zero_grad()
        loss = _loss(w)
        loss.backward()
        calls.append(w.detach().clone().numpy())
        return loss

    loss = opt.step(closure)
    return w.detach().numpy(), loss.item(), calls


@pytest.mark.parametrize("rho", [0.005, 0.3])
def test_sam_step_matches_hand_computation(rho):
    lr = 0.1
    g = _grad(W0)
    e = rho * g / np.linalg.norm(g)  # ascent to the worst point of the rho-ball
    expected = W0 - lr * _grad(W0 + e)  # descent with the gradient found there
    w, loss, calls = _one_step(rho, adaptive=False, lr=lr)
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(calls[1], W0 + e, atol=1e-12)  # second pass at w + e
    assert loss == pytest.approx(0.5 * W0 @ A @ W0 + B @ W0)
    # and it differs from plain SGD by the perturbation's effect
    assert np.linalg.norm(w - (W0 - lr * g)) == pytest.approx(lr * np.linalg.norm(A @ e), rel=1e-12)


def test_adaptive_sam_step_matches_hand_computation():
    rho, lr = 0.05, 0.1
    g = _grad(W0)
    t = np.abs(W0)
    e = rho * t**2 * g / np.linalg.norm(t * g)
    expected = W0 - lr * _grad(W0 + e)
    w, _, _ = _one_step(rho, adaptive=True, lr=lr)
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-12)


def test_sam_rejects_non_positive_rho():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="rho"):
        SAM(torch.optim.SGD([w], lr=0.1), rho=0.0)


def test_sam_state_round_trip_with_adam():
    w = torch.tensor(W0, requires_grad=True)
    opt = SAM(torch.optim.Adam([w], lr=0.01), rho=0.01)

    def closure():
        opt.zero_grad()
        loss = _loss(w)
        loss.backward()
        return loss

    opt.step(closure)
    state = opt.state_dict()
    w2 = torch.tensor(w.detach().numpy(), requires_grad=True)
    opt2 = SAM(torch.optim.Adam([w2], lr=0.01), rho=0.5)
    opt2.load_state_dict(state)
    assert opt2.rho == 0.01
    torch.testing.assert_close(opt2.base_optimizer.state_dict()["state"][0]["exp_avg"],
                               opt.base_optimizer.state_dict()["state"][0]["exp_avg"])
