"""Summary statistics of a labelled data set, printed before training."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from ._read import config_type, get_labels

__all__ = ["dataset_statistics", "format_statistics"]


def dataset_statistics(frames: Sequence[Atoms]) -> dict:
    """Return species, sizes, energy and force statistics of a data set.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Labelled structures (energy and forces attached).

    Returns
    -------
    dict
        ``num_structures``, ``num_atoms`` (total), ``species`` (element ->
        atom count), ``groups`` (group -> structure count),
        ``atoms_per_structure`` (min, mean, max),
        ``energy_per_atom_eV`` (mean, std, min, max),
        ``force_rms_eV_per_A`` (root mean square force component),
        ``force_max_eV_per_A`` (largest force norm) and
        ``num_with_stress``. All JSON-able.
    """
    if len(frames) == 0:
        raise ValueError("no structures given; the data set is empty")
    sizes = np.array([len(a) for a in frames])
    species = Counter()
    groups = Counter()
    energy_per_atom = []
    force_sq_sum = 0.0
    force_max = 0.0
    num_with_stress = 0
    for atoms in frames:
        species.update(atoms.get_chemical_symbols())
        groups[config_type(atoms)] += 1
        energy, forces, stress = get_labels(atoms)
        if energy is not None:
            energy_per_atom.append(energy / len(atoms))
        if forces is not None:
            force_sq_sum += float(np.sum(forces**2))
            force_max = max(force_max, float(np.max(np.linalg.norm(forces, axis=1))))
        num_with_stress += stress is not None
    e = np.array(energy_per_atom) if energy_per_atom else np.full(1, np.nan)
    return {
        "num_structures": len(frames),
        "num_atoms": int(sizes.sum()),
        "species": dict(sorted(species.items())),
        "groups": dict(sorted(groups.items())),
        "atoms_per_structure": [int(sizes.min()), float(sizes.mean()), int(sizes.max())],
        "energy_per_atom_eV": [float(e.mean()), float(e.std()), float(e.min()), float(e.max())],
        "force_rms_eV_per_A": float(np.sqrt(force_sq_sum / (3 * sizes.sum()))),
        "force_max_eV_per_A": force_max,
        "num_with_stress": int(num_with_stress),
    }


def format_statistics(stats: dict, title: str = "data") -> str:
    """Format :func:`dataset_statistics` output as a short human-readable block."""
    n_min, n_mean, n_max = stats["atoms_per_structure"]
    e_mean, e_std, e_min, e_max = stats["energy_per_atom_eV"]
    species = ", ".join(f"{k} {v}" for k, v in stats["species"].items())
    groups = ", ".join(f"{k} {v}" for k, v in stats["groups"].items())
    return "\n".join([
        f"{title}: {stats['num_structures']} structures, {stats['num_atoms']} atoms "
        f"({n_min}-{n_max} per structure, mean {n_mean:.1f})",
        f"  species: {species}",
        f"  groups: {groups}",
        f"  energy per atom: mean {e_mean:.4f} eV, std {e_std * 1000:.1f} meV, "
        f"range [{e_min:.4f}, {e_max:.4f}] eV",
        f"  forces: RMS {stats['force_rms_eV_per_A']:.4f} eV/A, "
        f"max |F| {stats['force_max_eV_per_A']:.3f} eV/A",
        f"  with stress: {stats['num_with_stress']}",
    ])
