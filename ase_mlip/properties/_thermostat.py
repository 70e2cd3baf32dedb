"""Path-integral Langevin thermostats (PILE-L and thermostatted RPMD).

Each ring-polymer normal mode ``k`` gets a Langevin (Ornstein-Uhlenbeck) step of
length ``dt``

.. math::

    \\tilde p_k \\leftarrow c_1 \\tilde p_k + \\sqrt{m k_B T_P}\\, c_2\\, \\xi,
    \\qquad c_1 = e^{-\\gamma_k dt},\\quad c_2 = \\sqrt{1 - c_1^2},

with ``T_P = P T`` and standard normal ``xi``.  PILE-L (Ceriotti, Parrinello,
Markland and Manolopoulos, J. Chem. Phys. 133, 124104, 2010) uses the critical
damping ``gamma_k = 2 lambda omega_k`` (``lambda = 1``) for the internal modes and
``gamma_0 = 1 / tau_centroid`` for the centroid.  Thermostatted RPMD (Rossi,
Ceriotti and Manolopoulos, J. Chem. Phys. 140, 234116, 2014) leaves the centroid
free (``gamma_0 = 0``) so that its dynamics give vibrational spectra, with
``lambda = 1/2`` by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["THERMOSTATS", "pile_friction", "LangevinModes"]

THERMOSTATS = ("pile_l", "trpmd", "none")


def pile_friction(
    omega: np.ndarray, thermostat: str, tau_centroid: float, pile_lambda: float | None
) -> np.ndarray:
    """Return the friction of each normal mode.

    Parameters
    ----------
    omega : numpy.ndarray
        ``(P,)`` free ring-polymer frequencies in 1/(ASE time).
    thermostat : {"pile_l", "trpmd", "none"}
        Thermostat kind.
    tau_centroid : float
        Centroid relaxation time in ASE time units (PILE-L only).
    pile_lambda : float or None
        Scale of the internal-mode friction ``gamma_k = 2 lambda omega_k``;
        ``None`` means 1 for PILE-L and 1/2 for TRPMD.

    Returns
    -------
    numpy.ndarray
        ``(P,)`` friction coefficients in 1/(ASE time).
    """
    if thermostat not in THERMOSTATS:
        raise ValueError(f"thermostat={thermostat!r} is unknown; use one of {THERMOSTATS}.")
    if thermostat == "none":
        return np.zeros_like(omega)
    if pile_lambda is None:
        pile_lambda = 1.0 if thermostat == "pile_l" else 0.5
    if pile_lambda < 0:
        raise ValueError(f"pile_lambda={pile_lambda!r} must be >= 0 (1 for PILE-L, 0.5 for TRPMD).")
    gamma = 2.0 * pile_lambda * np.asarray(omega, dtype=float)
    if thermostat == "pile_l":
        if not tau_centroid > 0:
            raise ValueError(
                f"tau_centroid={tau_centroid!r} must be a positive time in ASE units "
                "(e.g. 100 * ase.units.fs)."
            )
        gamma[0] = 1.0 / tau_centroid
    else:
        gamma[0] = 0.0
    return gamma


@dataclass(frozen=True)
class LangevinModes:
    """Ornstein-Uhlenbeck step on ring-polymer normal-mode momenta.

    Parameters
    ----------
    friction : numpy.ndarray
        ``(P,)`` friction of each mode in 1/(ASE time).
    dt : float
        Length of the step in ASE time.
    kT_beads : float
        ``k_B P T`` in eV.
    """

    friction: np.ndarray
    dt: float
    kT_beads: float

    def __call__(self, p_nm: np.ndarray, masses: np.ndarray, rng: np.random.Generator):
        """Return the new normal-mode momenta ``(P, N, 3)`` and the heat taken out (eV).

        Parameters
        ----------
        p_nm : numpy.ndarray
            ``(P, N, 3)`` normal-mode momenta, amu * Angstrom / ASE time.
        masses : numpy.ndarray
            ``(N,)`` masses in amu.
        rng : numpy.random.Generator
            Source of the noise; always draws ``P * N * 3`` normals.
        """
        m = masses[None, :, None]  # [1, N, 1]
        c1 = np.exp(-self.friction * self.dt)[:, None, None]  # [P, 1, 1]
        c2 = np.sqrt(1.0 - c1**2)
        noise = rng.standard_normal(p_nm.shape)
        p_new = c1 * p_nm + np.sqrt(m * self.kT_beads) * c2 * noise
        heat = 0.5 * np.sum((p_nm**2 - p_new**2) / m)
        return p_new, float(heat)
