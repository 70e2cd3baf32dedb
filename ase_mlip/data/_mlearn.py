"""Reader for the mlearn JSON data sets (no pymatgen needed).

The mlearn benchmark of Zuo et al. (J. Phys. Chem. A 124, 731, 2020) stores
each DFT record as a JSON object::

    {"structure": {"lattice": {"matrix": 3x3}, "sites": [{"xyz": [...],
                   "species": [{"element": "Li", "occu": 1}]}, ...]},
     "outputs": {"energy": E, "forces": [[fx, fy, fz], ...],
                 "virial_stress": [xx, yy, zz, xy, yz, zx]},
     "group": "AIMD-NVT" | "Elastic" | "Surface" | "Vacancy", ...}

Units and signs
---------------
``energy`` is the total energy in eV and ``forces`` are in eV/Angstrom, as
ASE uses them. ``virial_stress`` is in kbar with the VASP sign convention
(positive = compressive, the cell wants to expand). ASE's stress is the
derivative of the energy with respect to strain divided by the volume,
positive = tensile, so

    stress_ASE [eV/A^3] = -0.1 * virial_stress [kbar] * GPa

(1 kbar = 0.1 GPa). The component order ``xx yy zz xy yz zx`` is reordered
to ASE's Voigt order ``xx yy zz yz xz xy``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import GPa

__all__ = ["read_mlearn", "mlearn_record_to_atoms", "KBAR_TO_EV_PER_A3"]

# 1 kbar = 0.1 GPa, expressed in ASE units (eV/Angstrom^3).
KBAR_TO_EV_PER_A3 = 0.1 * GPa

# mlearn order xx yy zz xy yz zx -> positions in ASE Voigt order xx yy zz yz xz xy
_MLEARN_TO_VOIGT = [0, 1, 2, 4, 5, 3]


def mlearn_record_to_atoms(record: dict[str, Any]) -> Atoms:
    """Convert one mlearn JSON record to ``ase.Atoms`` with attached results.

    Parameters
    ----------
    record : dict
        One entry of an mlearn ``training.json``/``test.json`` list.

    Returns
    -------
    ase.Atoms
        Periodic atoms with a ``SinglePointCalculator`` holding ``energy``
        (eV), ``forces`` (num_atoms, 3) eV/Angstrom and, when present,
        ``stress`` (6,) eV/Angstrom^3 in ASE sign and Voigt order.
        ``atoms.info`` carries ``group`` (the mlearn config type) and, when
        present, ``tag`` and ``description``.

    Raises
    ------
    KeyError
        If ``structure`` or ``outputs`` is missing.
    """
    structure = record["structure"]
    outputs = record["outputs"]
    cell = np.asarray(structure["lattice"]["matrix"], dtype=np.float64)  # (3, 3) A
    symbols = []
    positions = []
    for site in structure["sites"]:
        species = site["species"]
        if len(species) != 1:
            raise ValueError(
                f"site {site} has partial occupancy {species}; mlearn data must have one "
                "element per site"
            )
        symbols.append(species[0]["element"])
        if "xyz" in site:
            positions.append(site["xyz"])
        else:  # fractional coordinates only
            positions.append(np.asarray(site["abc"], dtype=np.float64) @ cell)
    atoms = Atoms(symbols=symbols, positions=np.asarray(positions, dtype=np.float64),
                  cell=cell, pbc=True)
    results: dict[str, Any] = {}
    if outputs.get("energy") is not None:
        results["energy"] = float(outputs["energy"])
    if outputs.get("forces") is not None:
        results["forces"] = np.asarray(outputs["forces"], dtype=np.float64).reshape(-1, 3)
    if outputs.get("virial_stress") is not None:
        virial_kbar = np.asarray(outputs["virial_stress"], dtype=np.float64)  # (6,) kbar
        results["stress"] = -KBAR_TO_EV_PER_A3 * virial_kbar[_MLEARN_TO_VOIGT]
    atoms.calc = SinglePointCalculator(atoms, **results)
    for key in ("group", "tag", "description"):
        if record.get(key) is not None:
            atoms.info[key] = record[key]
    return atoms


def read_mlearn(path: str | os.PathLike) -> list[Atoms]:
    """Read an mlearn JSON file into a list of ``ase.Atoms``.

    Parameters
    ----------
    path : str or path-like
        A JSON file holding a list of mlearn records (see module docstring).

    Returns
    -------
    list of ase.Atoms
        One per record, in file order, converted by
        :func:`mlearn_record_to_atoms`.

    Examples
    --------
    >>> frames = read_mlearn("data/mlearn/Li/training.json")  # doctest: +SKIP
    >>> frames[0].get_potential_energy()  # eV  # doctest: +SKIP
    """
    with open(path) as handle:
        records = json.load(handle)
    if not isinstance(records, list):
        raise ValueError(
            f"{path} holds a JSON {type(records).__name__}, not a list of mlearn records; "
            "give an mlearn training.json/test.json file"
        )
    frames = []
    for index, record in enumerate(records):
        try:
            frames.append(mlearn_record_to_atoms(record))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}, record {index}: not a valid mlearn record ({err!r})") from err
    return frames
