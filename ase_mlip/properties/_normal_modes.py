"""Ring-polymer normal modes and the exact free ring-polymer propagator.

The ring polymer of ``P`` beads has the Hamiltonian (ASE units: eV, Angstrom, amu)

.. math::

    H_P = \\sum_{k=0}^{P-1} \\left[ \\frac{|p_k|^2}{2m}
          + \\tfrac12 m \\omega_P^2 |q_k - q_{k+1}|^2 + V(q_k) \\right],
    \\qquad \\omega_P = \\frac{P k_B T}{\\hbar},

sampled at the bead temperature ``P T`` (Ceriotti, Parrinello, Markland and
Manolopoulos, J. Chem. Phys. 133, 124104, 2010).  The spring term is diagonal in
the real orthonormal normal-mode basis ``C`` (``P x P``, columns are modes)

- ``C[j, 0] = 1/sqrt(P)`` (the centroid mode),
- ``C[j, k] = sqrt(2/P) cos(2 pi j k / P)`` for ``1 <= k < P/2``,
- ``C[j, P/2] = (-1)**j / sqrt(P)`` for even ``P``,
- ``C[j, k] = sqrt(2/P) sin(2 pi j k / P)`` for ``P/2 < k < P``,

with frequencies ``omega_k = 2 omega_P sin(pi k / P)``.  Normal-mode coordinates
are ``q~ = C^T q`` and ``q = C q~``; all modes keep the physical mass ``m``, so
the centroid coordinate is ``q~_0 = sqrt(P) q_centroid``.

In these coordinates the free ring polymer is a set of independent harmonic
oscillators, integrated exactly over a time ``dt``:

.. math::

    \\begin{pmatrix} p' \\\\ q' \\end{pmatrix} =
    \\begin{pmatrix} \\cos\\omega_k dt & -m\\omega_k \\sin\\omega_k dt \\\\
                    \\sin(\\omega_k dt)/(m\\omega_k) & \\cos\\omega_k dt \\end{pmatrix}
    \\begin{pmatrix} p \\\\ q \\end{pmatrix},

and the free flight ``q' = q + p dt / m`` for the centroid (``omega_0 = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units

__all__ = [
    "HBAR",
    "normal_mode_matrix",
    "normal_mode_frequencies",
    "FreeRingPolymerStep",
    "to_normal_modes",
    "from_normal_modes",
]

# hbar in ASE units: eV * (ASE time)
HBAR = units._hbar * units.J * units.s


def normal_mode_matrix(num_beads: int) -> np.ndarray:
    """Return the real orthonormal ring-polymer normal-mode matrix.

    Parameters
    ----------
    num_beads : int
        Number of beads ``P >= 1``.

    Returns
    -------
    numpy.ndarray
        ``(P, P)`` matrix ``C``; column ``k`` is normal mode ``k`` on the beads,
        ``C.T @ C = 1``.
    """
    if int(num_beads) < 1:
        raise ValueError(f"num_beads={num_beads!r} must be a positive integer (e.g. 16).")
    P = int(num_beads)
    j = np.arange(P)[:, None]
    C = np.empty((P, P))
    C[:, 0] = 1.0 / np.sqrt(P)
    for k in range(1, P):
        if 2 * k < P:
            C[:, k] = np.sqrt(2.0 / P) * np.cos(2.0 * np.pi * j[:, 0] * k / P)
        elif 2 * k == P:
            C[:, k] = (-1.0) ** j[:, 0] / np.sqrt(P)
        else:
            C[:, k] = np.sqrt(2.0 / P) * np.sin(2.0 * np.pi * j[:, 0] * k / P)
    return C


def normal_mode_frequencies(num_beads: int, omega_p: float) -> np.ndarray:
    """Free ring-polymer frequencies ``omega_k = 2 omega_P sin(pi k / P)``.

    Parameters
    ----------
    num_beads : int
        Number of beads ``P``.
    omega_p : float
        Spring frequency ``P k_B T / hbar`` in 1/(ASE time).

    Returns
    -------
    numpy.ndarray
        ``(P,)`` frequencies in 1/(ASE time), ordered as the columns of
        :func:`normal_mode_matrix`; ``omega_0 = 0``.
    """
    k = np.arange(int(num_beads))
    return 2.0 * omega_p * np.sin(np.pi * k / int(num_beads))


def to_normal_modes(x: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Transform bead arrays ``(P, N, 3)`` to normal modes ``(P, N, 3)``: ``C^T x``."""
    return np.einsum("jk,jnd->knd", C, x)


def from_normal_modes(x_nm: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Transform normal-mode arrays ``(P, N, 3)`` back to beads ``(P, N, 3)``: ``C x~``."""
    return np.einsum("jk,knd->jnd", C, x_nm)


@dataclass(frozen=True)
class FreeRingPolymerStep:
    """Exact propagator of the free ring polymer over one time interval.

    Parameters
    ----------
    omega : numpy.ndarray
        ``(P,)`` normal-mode frequencies in 1/(ASE time) (``omega[0] = 0``).
    dt : float
        Time interval in ASE time units.
    """

    omega: np.ndarray
    dt: float

    def __call__(self, q_nm: np.ndarray, p_nm: np.ndarray, masses: np.ndarray):
        """Advance normal-mode coordinates and momenta by ``dt``.

        Parameters
        ----------
        q_nm, p_nm : numpy.ndarray
            ``(P, N, 3)`` normal-mode positions (Angstrom) and momenta
            (amu * Angstrom / ASE time).
        masses : numpy.ndarray
            ``(N,)`` atomic masses in amu.

        Returns
        -------
        tuple of numpy.ndarray
            New ``(q_nm, p_nm)``, each ``(P, N, 3)``.
        """
        m = masses[None, :, None]  # [1, N, 1]
        omega = self.omega[:, None, None]  # [P, 1, 1]
        wt = omega * self.dt
        cos, sin = np.cos(wt), np.sin(wt)
        moving = omega > 0.0
        # sin(w dt) / w -> dt for the centroid (w = 0)
        sin_over_w = np.where(moving, sin / np.where(moving, omega, 1.0), self.dt)
        q_new = cos * q_nm + sin_over_w * p_nm / m
        p_new = cos * p_nm - m * omega * sin * q_nm
        return q_new, p_new
