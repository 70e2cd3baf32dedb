"""Vibrational spectra and structure from trajectories: VDOS, RDF, MSD, diffusion.

All functions take ASE ``Atoms`` frames (from an ASE trajectory, an extended XYZ
file, a LAMMPS text dump, or the centroid trajectory of :class:`PIMD`) or plain
arrays.  Units are ASE's inside; results say their unit in their names.

Vibrational density of states (Dickey and Paskin, Phys. Rev. 188, 1407, 1969):
the mass-weighted velocity autocorrelation
``C(t) = < sum_i m_i v_i(0) . v_i(t) >`` (averaged over time origins), damped by a
Hann window so the finite run does not ring, and cosine-transformed,

.. math:: g(\\nu) \\propto \\int_0^{t_{max}} C(t) w(t) \\cos(2 \\pi \\nu t)\\, dt,

normalised so that ``int g dnu = 3 N``.  For a harmonic crystal in equilibrium
``C(t) = N_dof k_B T sum_modes cos(omega t)/N_modes``, so ``g`` is the phonon DOS
broadened by the window.  The same holds for PIMD centroid (or TRPMD) velocities.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from ase import Atoms, units

__all__ = [
    "read_frames",
    "frame_velocities",
    "velocity_autocorrelation",
    "vibrational_dos",
    "radial_distribution",
    "unwrap_positions",
    "mean_squared_displacement",
    "diffusion_coefficient",
]

# THz per 1/(ASE time)
_THZ = units.s * 1e-12
# cm^-1 per THz
THZ_TO_CM1 = 1e12 / 2.99792458e10


def read_frames(path: str | os.PathLike, index: str | int | slice = ":", format: str | None = None,
                **kwargs) -> list[Atoms]:
    """Read frames from an ASE-readable trajectory or a LAMMPS text dump.

    Parameters
    ----------
    path : str or path
        ``.traj``, ``.xyz`` or any ASE format; ``.dump`` / ``.lammpstrj`` files are read
        as LAMMPS text dumps (``units="metal"`` unless given in ``kwargs``).
    index : str, int or slice
        Frames to read (ASE syntax, ``":"`` = all).
    format : str, optional
        ASE format name, overriding the guess.

    Returns
    -------
    list of ase.Atoms
    """
    from ase.io import read

    path = str(path)
    if format is None and (path.endswith(".dump") or path.endswith(".lammpstrj") or ".dump." in path):
        format = "lammps-dump-text"
        kwargs.setdefault("units", "metal")
    frames = read(path, index=index, format=format, **kwargs)
    return frames if isinstance(frames, list) else [frames]


def unwrap_positions(frames: Sequence[Atoms]) -> np.ndarray:
    """Positions ``(T, N, 3)`` (Angstrom) made continuous across periodic boundaries.

    Each step's displacement is folded to its minimum image, so atoms must move
    less than half a cell between frames.
    """
    positions = np.array([f.positions for f in frames])  # [T, N, 3]
    first = frames[0]
    if not first.pbc.any():
        return positions
    cell = first.cell.array
    steps = np.diff(positions, axis=0)  # [T-1, N, 3]
    frac = steps @ np.linalg.inv(cell)
    frac[..., first.pbc] -= np.round(frac[..., first.pbc])
    return np.concatenate([positions[:1], positions[:1] + np.cumsum(frac @ cell, axis=0)])


def frame_velocities(frames: Sequence[Atoms], timestep: float | None = None) -> np.ndarray:
    """Velocities ``(T, N, 3)`` in Angstrom/(ASE time).

    Stored velocities (momenta in the frames) are used; otherwise central
    differences of the unwrapped positions with the frame spacing ``timestep``
    (ASE time) — then the first and last frames are dropped.
    """
    if all(f.has("momenta") for f in frames):
        return np.array([f.get_velocities() for f in frames])
    if timestep is None:
        raise ValueError("the frames hold no velocities; pass timestep= (frame spacing in ASE time units)")
    positions = unwrap_positions(frames)
    return (positions[2:] - positions[:-2]) / (2.0 * timestep)


def velocity_autocorrelation(velocities: np.ndarray, masses: np.ndarray | None = None,
                             max_lag: int | None = None) -> np.ndarray:
    """Mass-weighted velocity autocorrelation ``sum_i m_i <v_i(0) . v_i(t)>``.

    Parameters
    ----------
    velocities : numpy.ndarray
        ``(T, N, 3)`` velocities, Angstrom/(ASE time).
    masses : numpy.ndarray, optional
        ``(N,)`` amu; ``None`` weighs all atoms by 1.
    max_lag : int, optional
        Longest lag in frames (default ``T // 2``).

    Returns
    -------
    numpy.ndarray
        ``(max_lag,)``, averaged over all time origins; in eV (amu A^2/time^2) with masses.
    """
    v = np.asarray(velocities, dtype=float)
    T = len(v)
    max_lag = T // 2 if max_lag is None else int(max_lag)
    if not 1 <= max_lag <= T:
        raise ValueError(f"max_lag={max_lag} must be between 1 and the number of frames {T}")
    weights = np.ones(v.shape[1]) if masses is None else np.asarray(masses, dtype=float)
    n_fft = 2 ** int(np.ceil(np.log2(2 * T)))
    spectrum = np.fft.rfft(v, n=n_fft, axis=0)  # [F, N, 3]
    power = np.einsum("fnd,n->f", np.abs(spectrum) ** 2, weights)
    correlation = np.fft.irfft(power, n=n_fft)[:max_lag]
    return correlation / (T - np.arange(max_lag))  # origins per lag


def vibrational_dos(velocities: np.ndarray, timestep: float, masses: np.ndarray | None = None,
                    max_lag: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vibrational density of states from velocities (see the module notes).

    Parameters
    ----------
    velocities : numpy.ndarray
        ``(T, N, 3)`` velocities, Angstrom/(ASE time), equally spaced in time.
    timestep : float
        Spacing of the frames, ASE time units (e.g. ``5 * ase.units.fs``).
    masses : numpy.ndarray, optional
        ``(N,)`` amu (mass weighting as in the kinetic energy).
    max_lag : int, optional
        Correlation length in frames (default ``T // 2``); sets the resolution
        ``~ 1 / (max_lag * timestep)``.

    Returns
    -------
    frequency_THz : numpy.ndarray
        ``(F,)`` frequencies, THz (times 33.356 for cm^-1).
    dos : numpy.ndarray
        ``(F,)`` states per THz, integrating to ``3 N``.
    """
    if not timestep > 0:
        raise ValueError(f"timestep={timestep!r} must be the positive frame spacing in ASE time units")
    c = velocity_autocorrelation(velocities, masses, max_lag)
    window = np.hanning(2 * len(c) - 1)[len(c) - 1:]  # 1 at t = 0, 0 at t_max
    damped = c * window
    symmetric = np.concatenate([damped, damped[-2:0:-1]])  # even in t
    spectrum = np.fft.rfft(symmetric).real
    frequency = np.fft.rfftfreq(len(symmetric), d=timestep) * _THZ
    spectrum = np.clip(spectrum, 0.0, None)
    norm = np.trapezoid(spectrum, frequency)
    num_dof = 3 * np.asarray(velocities).shape[1]
    return frequency, spectrum * (num_dof / norm if norm > 0 else 0.0)


def radial_distribution(frames: Sequence[Atoms], r_max: float, num_bins: int = 200,
                        elements: tuple[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function averaged over frames.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Periodic frames (or clusters: then ``g`` is normalised by the cell volume).
    r_max : float
        Largest distance, Angstrom.
    num_bins : int
        Histogram bins.
    elements : tuple of two str, optional
        Partial ``g_AB(r)``; default all pairs.

    Returns
    -------
    r : numpy.ndarray
        ``(num_bins,)`` bin centres, Angstrom.
    g : numpy.ndarray
        ``(num_bins,)`` dimensionless, tending to 1 in a liquid.
    """
    from ase.neighborlist import neighbor_list

    edges = np.linspace(0.0, r_max, num_bins + 1)
    counts = np.zeros(num_bins)
    norm = 0.0
    for atoms in frames:
        i, j, d = neighbor_list("ijd", atoms, r_max)
        symbols = np.array(atoms.get_chemical_symbols())
        if elements is not None:
            keep = (symbols[i] == elements[0]) & (symbols[j] == elements[1])
            d = d[keep]
            n_a, n_b = np.sum(symbols == elements[0]), np.sum(symbols == elements[1])
        else:
            n_a = n_b = len(atoms)
        counts += np.histogram(d, bins=edges)[0]
        volume = atoms.get_volume()
        if volume <= 0:
            raise ValueError("the frames need a cell with a volume to normalise g(r); set atoms.cell")
        norm += n_a * n_b / volume
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    return 0.5 * (edges[1:] + edges[:-1]), counts / (shell * norm)


def mean_squared_displacement(frames: Sequence[Atoms], timestep: float, max_lag: int | None = None,
                              indices: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean squared displacement, averaged over atoms and time origins.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Equally spaced frames (wrapped positions are unwrapped).
    timestep : float
        Frame spacing, ASE time units.
    max_lag : int, optional
        Longest lag in frames (default half the run).
    indices : sequence of int, optional
        Atoms to average over (default all).

    Returns
    -------
    time_fs : numpy.ndarray
        ``(max_lag,)`` lag times, fs.
    msd : numpy.ndarray
        ``(max_lag,)`` Angstrom^2.
    """
    x = unwrap_positions(frames)
    if indices is not None:
        x = x[:, np.asarray(indices)]
    T = len(x)
    max_lag = T // 2 if max_lag is None else int(max_lag)
    msd = np.array([np.mean(np.sum((x[lag:] - x[: T - lag]) ** 2, axis=-1)) for lag in range(max_lag)])
    return np.arange(max_lag) * timestep / units.fs, msd


def diffusion_coefficient(time_fs: np.ndarray, msd: np.ndarray, fit_from: float = 0.2,
                          dimensions: int = 3) -> tuple[float, tuple[float, float]]:
    """Einstein diffusion coefficient from the slope of the MSD.

    Parameters
    ----------
    time_fs, msd : numpy.ndarray
        From :func:`mean_squared_displacement`.
    fit_from : float
        Fraction of the lag range skipped before the linear fit (ballistic regime).
    dimensions : int
        Dimensionality of the motion (``MSD = 2 d D t``).

    Returns
    -------
    diffusion_cm2_per_s : float
        ``D`` in cm^2/s.
    fit : tuple of float
        ``(slope, intercept)`` of the fit, Angstrom^2/fs and Angstrom^2.
    """
    start = int(fit_from * len(time_fs))
    if len(time_fs) - start < 2:
        raise ValueError(f"too few points to fit after skipping fit_from={fit_from} of {len(time_fs)}")
    slope, intercept = np.polyfit(time_fs[start:], msd[start:], 1)
    return float(slope / (2 * dimensions) * 1e-16 / 1e-15), (float(slope), float(intercept))
