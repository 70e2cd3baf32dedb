"""Path-integral estimators and block averages.

With ``P`` beads ``q_k`` (``(P, N, 3)``, unwrapped, Angstrom), masses ``m``
(amu), ``beta = 1 / (k_B T)`` and ``omega_P = P / (beta hbar)``:

- primitive kinetic energy (Barker, J. Chem. Phys. 70, 2914, 1979)

  .. math:: K_{prim} = \\frac{3 N P}{2 \\beta}
            - \\frac{1}{P} \\sum_k \\sum_i \\tfrac12 m_i \\omega_P^2 |q_{k,i} - q_{k+1,i}|^2

- centroid-virial kinetic energy (Herman, Bruskin and Berne, J. Chem. Phys. 76,
  5150, 1982; Ceperley, Rev. Mod. Phys. 67, 279, 1995)

  .. math:: K_{cv} = \\frac{3 N}{2 \\beta}
            - \\frac{1}{2P} \\sum_k \\sum_i (q_{k,i} - \\bar q_i) \\cdot F_{k,i}

  It has the same mean as ``K_prim`` and a variance that does not grow with ``P``.

- centroid-virial pressure tensor (thermodynamic sign, positive = compressive),
  obtained by straining the centroid and the cell while the bead deviations
  ``q_k - q_bar`` stay fixed:

  .. math:: \\Pi_{ab} = \\frac{2 K^{cv}_{ab}}{V} - \\frac{1}{P} \\sum_k \\sigma_{ab}(q_k),

  with the kinetic tensor ``K^cv_ab = N/(2 beta) delta_ab - 1/(2P) sum (q - q_bar)_a F_b``
  (symmetrised) and the ASE stress ``sigma`` of each bead (positive = tensile).
  At ``P = 1`` this is the classical virial pressure with the kinetic part at its
  ensemble value ``N k_B T / V``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "spring_energy",
    "kinetic_primitive",
    "kinetic_virial_tensor",
    "pressure_tensor_virial",
    "block_average",
]


def spring_energy(positions: np.ndarray, masses: np.ndarray, omega_p: float) -> float:
    """Ring-polymer spring energy ``sum_k sum_i m_i omega_P^2 |q_k - q_{k+1}|^2 / 2`` in eV.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(P, N, 3)`` bead positions, Angstrom (unwrapped).
    masses : numpy.ndarray
        ``(N,)`` amu.
    omega_p : float
        Spring frequency, 1/(ASE time).
    """
    diff = positions - np.roll(positions, -1, axis=0)  # [P, N, 3]
    return float(0.5 * omega_p**2 * np.sum(masses[None, :, None] * diff**2))


def kinetic_primitive(positions: np.ndarray, masses: np.ndarray, kT: float, omega_p: float) -> float:
    """Primitive kinetic-energy estimator of the whole system, eV.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(P, N, 3)`` bead positions, Angstrom.
    masses : numpy.ndarray
        ``(N,)`` amu.
    kT : float
        Physical ``k_B T`` in eV (not the bead temperature).
    omega_p : float
        Spring frequency ``P kT / hbar``, 1/(ASE time).
    """
    P, N = positions.shape[:2]
    return 1.5 * N * P * kT - spring_energy(positions, masses, omega_p) / P


def kinetic_virial_tensor(positions: np.ndarray, forces: np.ndarray, kT: float) -> np.ndarray:
    """Centroid-virial kinetic-energy tensor ``(3, 3)`` in eV; its trace is ``K_cv``.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(P, N, 3)`` unwrapped bead positions, Angstrom.
    forces : numpy.ndarray
        ``(P, N, 3)`` bead forces ``-dV/dq``, eV/Angstrom.
    kT : float
        Physical ``k_B T`` in eV.
    """
    P, N = positions.shape[:2]
    dev = positions - positions.mean(axis=0, keepdims=True)  # [P, N, 3]
    tensor = -np.einsum("kna,knb->ab", dev, forces) / (2.0 * P)
    tensor = 0.5 * (tensor + tensor.T)
    return tensor + 0.5 * N * kT * np.eye(3)


def pressure_tensor_virial(
    positions: np.ndarray, forces: np.ndarray, stresses: np.ndarray, kT: float, volume: float
) -> np.ndarray:
    """Centroid-virial pressure tensor ``(3, 3)`` in eV/Angstrom^3 (positive = compressive).

    Parameters
    ----------
    positions, forces : numpy.ndarray
        ``(P, N, 3)`` bead positions (Angstrom) and forces (eV/Angstrom).
    stresses : numpy.ndarray
        ``(P, 3, 3)`` ASE stress of each bead, eV/Angstrom^3.
    kT : float
        Physical ``k_B T`` in eV.
    volume : float
        Cell volume, Angstrom^3.
    """
    kinetic = kinetic_virial_tensor(positions, forces, kT)
    return 2.0 * kinetic / volume - stresses.mean(axis=0)


def block_average(samples, num_blocks: int = 10) -> tuple[float, float]:
    """Mean and its standard error from the scatter of block means.

    Parameters
    ----------
    samples : array_like
        ``(T,)`` time series (correlated samples are fine when a block is much
        longer than the correlation time).
    num_blocks : int
        Number of contiguous blocks; the tail that does not fill a block is dropped.

    Returns
    -------
    tuple of float
        ``(mean, standard_error)`` in the units of ``samples``.
    """
    x = np.asarray(samples, dtype=float).ravel()
    if num_blocks < 2 or len(x) < num_blocks:
        raise ValueError(
            f"need at least num_blocks >= 2 samples per block; got {len(x)} samples and "
            f"num_blocks={num_blocks}: run longer or use fewer blocks"
        )
    size = len(x) // num_blocks
    means = x[: size * num_blocks].reshape(num_blocks, size).mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1) / np.sqrt(num_blocks))
