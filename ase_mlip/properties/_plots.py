"""PNG plots of the property tools (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_phonons", "plot_thermal_properties", "plot_pimd", "plot_spectrum", "plot_rdf", "plot_msd"]


def _figure(ncols=1, figsize=(6, 4), **kwargs):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=figsize, **kwargs)


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_phonons(results, path: str | os.PathLike) -> Path:
    """Band structure (left) and total/projected DOS (right), frequencies in THz."""
    fig, (ax, ax_dos) = _figure(2, figsize=(8, 4.5), sharey=True, gridspec_kw={"width_ratios": [3, 1]})
    for distances, frequencies in zip(results.band_distances, results.band_frequencies):
        ax.plot(distances, frequencies, color="C0", lw=1.2)
    for at in results.label_distances:
        ax.axvline(at, color="0.7", lw=0.6)
    ax.axhline(0.0, color="0.5", lw=0.6, ls=":")
    ax.set_xticks(results.label_distances, results.band_labels)
    ax.set_xlim(results.label_distances[0], results.label_distances[-1])
    ax.set_ylabel("frequency (THz)")
    ax.set_title("phonon band structure")
    ax_dos.plot(results.total_dos, results.dos_frequencies, color="k", lw=1.2, label="total")
    if len(results.projected_dos) > 1:
        for k, (element, dos) in enumerate(results.projected_dos.items()):
            ax_dos.plot(dos, results.dos_frequencies, lw=1.0, color=f"C{k + 1}", label=element)
        ax_dos.legend(fontsize=8)
    ax_dos.set_xlabel("DOS (1/THz)")
    ax_dos.set_xlim(left=0)
    return _save(fig, path)


def plot_thermal_properties(results, path: str | os.PathLike) -> Path:
    """Free energy (kJ/mol), entropy and heat capacity (J/K/mol) against temperature (K)."""
    fig, ax = _figure(figsize=(6, 4))
    ax.plot(results.temperatures, results.free_energy, label="F (kJ/mol)")
    ax.plot(results.temperatures, results.entropy, label="S (J/K/mol)")
    ax.plot(results.temperatures, results.heat_capacity, label="$C_V$ (J/K/mol)")
    ax.axhline(0.0, color="0.5", lw=0.6, ls=":")
    ax.set_xlabel("temperature (K)")
    ax.set_title("harmonic thermal properties per mole of primitive cells")
    ax.legend()
    return _save(fig, path)


def plot_pimd(record: dict, path: str | os.PathLike, num_atoms: int) -> Path:
    """PIMD estimators per atom (eV) against time (fs)."""
    fig, ax = _figure(figsize=(6, 4))
    t = record["time_fs"]
    for key, label in (("kinetic_primitive", "K primitive"), ("kinetic_virial", "K centroid-virial"),
                       ("potential", "V (shifted)")):
        y = record[key] / num_atoms
        if key == "potential":
            y = y - y.mean() + (record["kinetic_virial"] / num_atoms).mean()
        ax.plot(t, y, lw=0.8, label=label)
    ax.set_xlabel("time (fs)")
    ax.set_ylabel("energy per atom (eV)")
    ax.legend()
    return _save(fig, path)


def plot_spectrum(spectra: dict, path: str | os.PathLike, unit: str = "THz", xmax: float | None = None) -> Path:
    """Overlay of vibrational densities of states ``{label: (frequency, dos)}``."""
    fig, ax = _figure(figsize=(6, 4))
    for label, (frequency, dos) in spectra.items():
        ax.plot(frequency, dos, lw=1.2, label=label)
    ax.set_xlabel(f"frequency ({unit})")
    ax.set_ylabel(f"VDOS (1/{unit})")
    ax.set_xlim(0, xmax if xmax is not None and xmax > 0 else None)
    ax.set_ylim(bottom=0)
    ax.legend()
    return _save(fig, path)


def plot_rdf(r: np.ndarray, g: np.ndarray, path: str | os.PathLike) -> Path:
    """Radial distribution function g(r) against r (Angstrom)."""
    fig, ax = _figure(figsize=(6, 4))
    ax.plot(r, g, lw=1.2)
    ax.axhline(1.0, color="0.5", lw=0.6, ls=":")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    return _save(fig, path)


def plot_msd(time_fs: np.ndarray, msd: np.ndarray, path: str | os.PathLike, fit=None) -> Path:
    """Mean squared displacement (Angstrom^2) against time (fs), with an optional linear fit."""
    fig, ax = _figure(figsize=(6, 4))
    ax.plot(time_fs, msd, lw=1.2, label="MSD")
    if fit is not None:
        slope, intercept = fit
        ax.plot(time_fs, slope * time_fs + intercept, ls="--", label="linear fit")
        ax.legend()
    ax.set_xlabel("time (fs)")
    ax.set_ylabel("MSD (Å$^2$)")
    return _save(fig, path)
