"""Harmonic phonons of any ASE calculator with phonopy.

The finite-displacement method (Parlinski, Li and Kawazoe, Phys. Rev. Lett. 78,
4063, 1997; Togo and Tanaka, Scr. Mater. 108, 1, 2015): each symmetry-distinct
atom of a supercell is displaced by ``displacement`` (Angstrom), the calculator
gives the forces, and phonopy builds the force constants ``Phi`` (eV/Angstrom^2),
the dynamical matrix ``D(q) = sum_L Phi(0, L) exp(i q . R_L) / sqrt(m m')`` and its
eigenfrequencies (THz).  Forces of the undisplaced supercell are subtracted, so a
structure that is not perfectly relaxed still gives a symmetric set of force
constants.  Units at the phonopy boundary are phonopy's defaults for eV and
Angstrom: frequencies in THz, free energy in kJ/mol, entropy and heat capacity in
J/(K mol), per mole of primitive cells.

Phonopy is driven through its verbs (``run_band_structure``, ``run_mesh``,
``run_total_dos``, ``run_projected_dos``, ``run_thermal_properties``) and read
from its properties (``band_structure``, ``total_dos``, ``projected_dos``,
``thermal_properties``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.units import _Nav, _e, kB

__all__ = ["PhononResults", "relax_structure", "auto_supercell", "phonopy_force_constants", "run_phonons"]


@dataclass
class PhononResults:
    """Phonon band structure, density of states and thermal properties.

    Attributes
    ----------
    phonopy : phonopy.Phonopy
        The phonopy object with force constants (use it for anything else).
    band_distances : list of numpy.ndarray
        Per path segment, ``(n_q,)`` distance along the path, 1/Angstrom (2 pi not included).
    band_frequencies : list of numpy.ndarray
        Per path segment, ``(n_q, 3 n_atoms)`` frequencies, THz.
    band_labels : list of str
        Labels of the special points in path order (a break repeats no label:
        ``"X|K"`` joins the two ends).
    label_distances : numpy.ndarray
        ``(len(band_labels),)`` path distance of each label, 1/Angstrom.
    dos_frequencies : numpy.ndarray
        ``(n_f,)`` frequency grid of the DOS, THz.
    total_dos : numpy.ndarray
        ``(n_f,)`` states per THz per primitive cell (integrates to ``3 n_atoms``).
    projected_dos : dict of str to numpy.ndarray
        Element -> ``(n_f,)`` DOS projected on the atoms of that element.
    temperatures : numpy.ndarray
        ``(n_T,)`` K.
    free_energy : numpy.ndarray
        ``(n_T,)`` harmonic Helmholtz free energy, kJ/mol of primitive cells.
    entropy : numpy.ndarray
        ``(n_T,)`` J/(K mol).
    heat_capacity : numpy.ndarray
        ``(n_T,)`` constant-volume heat capacity, J/(K mol).
    files : dict of str to pathlib.Path
        Files written (phonopy's ``phonopy_params.yaml``, ``band.yaml``, ...).
    """

    phonopy: object
    band_distances: list
    band_frequencies: list
    band_labels: list
    label_distances: np.ndarray
    dos_frequencies: np.ndarray
    total_dos: np.ndarray
    projected_dos: dict
    temperatures: np.ndarray
    free_energy: np.ndarray
    entropy: np.ndarray
    heat_capacity: np.ndarray
    files: dict = field(default_factory=dict)

    @property
    def num_primitive_atoms(self) -> int:
        """Atoms in the primitive cell."""
        return len(self.phonopy.primitive)

    @property
    def heat_capacity_per_atom(self) -> np.ndarray:
        """``(n_T,)`` heat capacity per atom in units of k_B (3 at the classical limit)."""
        return self.heat_capacity / (kB * _e * _Nav) / self.num_primitive_atoms

    def frequencies(self, qpoints) -> np.ndarray:
        """Frequencies (THz) at q-points given in reduced coordinates of the primitive cell.

        Parameters
        ----------
        qpoints : array_like
            ``(n_q, 3)`` or ``(3,)`` reduced q-points.

        Returns
        -------
        numpy.ndarray
            ``(n_q, 3 n_atoms)`` frequencies in THz, ascending; negative numbers
            stand for imaginary frequencies.
        """
        q = np.atleast_2d(np.asarray(qpoints, dtype=float))
        self.phonopy.run_qpoints(q)
        return np.array(self.phonopy.qpoints.frequencies)


def relax_structure(
    atoms: Atoms, calculator: Calculator, fmax: float = 1e-3, relax_cell: bool = True, steps: int = 1000
) -> Atoms:
    """Relax positions (and the cell) of a copy of ``atoms``.

    Parameters
    ----------
    atoms : ase.Atoms
        Start structure; not modified.
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator (the cell is relaxed only when it gives stresses).
    fmax : float
        Force threshold, eV/Angstrom (and stress threshold via the cell filter).
    relax_cell : bool
        Also relax the cell (needs a 3-D periodic structure and stresses).
    steps : int
        Maximum optimiser steps.

    Returns
    -------
    ase.Atoms
        The relaxed structure (a copy, without calculator).
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    relaxed = atoms.copy()
    relaxed.calc = calculator
    cell_ok = relax_cell and relaxed.pbc.all() and "stress" in calculator.implemented_properties
    target = FrechetCellFilter(relaxed) if cell_ok else relaxed
    converged = BFGS(target, logfile=None).run(fmax=fmax, steps=steps)
    if not converged:
        raise ValueError(
            f"relaxation did not reach fmax={fmax} eV/A in {steps} steps; raise steps or fmax, "
            "or check the structure"
        )
    relaxed.calc = None
    return relaxed


def auto_supercell(atoms: Atoms, min_length: float = 10.0) -> np.ndarray:
    """Smallest diagonal supercell whose widths are all at least ``min_length`` (Angstrom).

    Returns
    -------
    numpy.ndarray
        ``(3,)`` int repetitions of the unit cell.
    """
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    widths = volume / np.linalg.norm(np.cross(np.roll(cell, -1, axis=0), np.roll(cell, -2, axis=0)), axis=1)
    return np.maximum(1, np.ceil(min_length / widths - 1e-9)).astype(int)


def _to_phonopy(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
        scaled_positions=atoms.get_scaled_positions(), masses=atoms.get_masses(),
    )


def _to_ase(cell) -> Atoms:
    return Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions,
                 masses=cell.masses, pbc=True)


def phonopy_force_constants(
    atoms: Atoms,
    calculator: Calculator,
    supercell: Sequence[int] | np.ndarray | None = None,
    displacement: float = 0.01,
    primitive_matrix: str | np.ndarray | None = "auto",
    symprec: float = 1e-5,
):
    """Build a phonopy object with force constants from finite displacements.

    Parameters
    ----------
    atoms : ase.Atoms
        Unit cell (3-D periodic).
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator giving forces.
    supercell : sequence of 3 int or (3, 3) array, optional
        Supercell matrix; default :func:`auto_supercell` (widths >= 10 Angstrom).
    displacement : float
        Displacement length, Angstrom.
    primitive_matrix : "auto", (3, 3) array or None
        Passed to phonopy; ``"auto"`` finds the primitive cell by symmetry.
    symprec : float
        Symmetry tolerance, Angstrom.

    Returns
    -------
    phonopy.Phonopy
        With ``force_constants`` set.
    """
    from phonopy import Phonopy

    if not np.all(atoms.pbc):
        raise ValueError("phonons need a cell periodic in all three directions (atoms.pbc = True)")
    if not displacement > 0:
        raise ValueError(f"displacement={displacement!r} must be a positive length in Angstrom (e.g. 0.01)")
    if supercell is None:
        supercell = auto_supercell(atoms)
    supercell = np.asarray(supercell, dtype=int)
    if supercell.shape == (3,):
        supercell = np.diag(supercell)
    if supercell.shape != (3, 3) or abs(np.linalg.det(supercell)) < 1:
        raise ValueError(f"supercell={supercell.tolist()} must be 3 repetitions or a non-singular 3x3 matrix")
    with warnings.catch_warnings():
        # phonopy 4 warns that "auto" differs from v3's identity default; "auto" is our choice
        warnings.filterwarnings("ignore", message=".*primitive_matrix defaulted.*")
        phonon = Phonopy(_to_phonopy(atoms), supercell_matrix=supercell, primitive_matrix=primitive_matrix,
                         symprec=symprec)
    phonon.generate_displacements(distance=displacement)

    def forces(cell):
        structure = _to_ase(cell)
        structure.calc = calculator
        return structure.get_forces()

    reference = forces(phonon.supercell)
    phonon.forces = np.array([forces(cell) - reference for cell in phonon.supercells_with_displacements])
    phonon.produce_force_constants(show_drift=False)
    return phonon


def _band_path(phonon, npoints: int):
    """Special-point path of the primitive cell (ASE's bandpath) in phonopy's form."""
    from ase.cell import Cell
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    path = Cell(phonon.primitive.cell).bandpath(npoints=0)
    special = path.special_points
    segments, labels = [], []
    for run in path.path.split(","):
        names = [name for name in _split_labels(run)]
        segments.append([special[name] for name in names])
        labels.extend(names)
    qpoints, connections = get_band_qpoints_and_path_connections(segments, npoints=npoints)
    pretty = ["$\\Gamma$" if name == "G" else name for name in labels]
    return qpoints, connections, pretty


def _split_labels(run: str) -> list[str]:
    """Split ``"GXW1K"`` into ``["G", "X", "W1", "K"]`` (digits belong to the previous label)."""
    names: list[str] = []
    for char in run:
        if char.isdigit() and names:
            names[-1] += char
        else:
            names.append(char)
    return names


def run_phonons(
    atoms: Atoms,
    calculator: Calculator,
    *,
    supercell: Sequence[int] | np.ndarray | None = None,
    displacement: float = 0.01,
    relax: bool = False,
    relax_cell: bool = True,
    fmax: float = 1e-3,
    mesh: float | Sequence[int] = 30.0,
    band_npoints: int = 51,
    t_min: float = 0.0,
    t_max: float = 1000.0,
    t_step: float = 10.0,
    output_dir: str | os.PathLike | None = None,
    plot: bool = True,
) -> PhononResults:
    """Phonon band structure, DOS and thermal properties of a crystal.

    Parameters
    ----------
    atoms : ase.Atoms
        Unit cell (3-D periodic).
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator (an :class:`ase_mlip.MLIPCalculator`, EMT, DFT...).
    supercell : sequence of 3 int or (3, 3) array, optional
        Supercell of the displacements; default: widths >= 10 Angstrom.
    displacement : float
        Finite displacement, Angstrom.
    relax : bool
        Relax the structure first (:func:`relax_structure`).
    relax_cell : bool
        With ``relax``, also relax the cell.
    fmax : float
        With ``relax``, force threshold in eV/Angstrom.
    mesh : float or sequence of 3 int
        q-point mesh of the DOS and thermal properties (phonopy: a number is a length).
    band_npoints : int
        q-points per band-path segment.
    t_min, t_max, t_step : float
        Temperature grid of the thermal properties, K.
    output_dir : str or path, optional
        Write ``phonopy_params.yaml``, ``band.yaml``, ``total_dos.dat``,
        ``projected_dos.dat``, ``thermal_properties.yaml`` (phonopy's own files, read
        by ``phonopy-load`` and ``phonopy-bandplot``) and, with ``plot``,
        ``phonons.png`` (bands and DOS) and ``thermal_properties.png``.
    plot : bool
        Write the PNG plots (needs ``output_dir``).

    Returns
    -------
    PhononResults

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> results = run_phonons(bulk("Cu"), EMT(), supercell=(4, 4, 4))
    >>> results.frequencies([0.5, 0.5, 0.0]).shape
    (1, 3)
    """
    if relax:
        atoms = relax_structure(atoms, calculator, fmax=fmax, relax_cell=relax_cell)
    phonon = phonopy_force_constants(atoms, calculator, supercell, displacement)

    qpoints, connections, labels = _band_path(phonon, band_npoints)
    phonon.run_band_structure(qpoints, path_connections=connections, labels=labels)
    band = phonon.band_structure
    distances = [np.asarray(d) for d in band.distances]
    label_distances = [distances[0][0]]
    for k, segment in enumerate(distances):
        label_distances.append(segment[-1])
        if not connections[k] and k + 1 < len(distances):
            label_distances.append(distances[k + 1][0])
    # a break puts two labels at one distance: join them as "X|K"
    merged, merged_at = [], []
    for name, at in zip(labels, label_distances):
        if merged_at and abs(at - merged_at[-1]) < 1e-12:
            merged[-1] += "|" + name
        else:
            merged.append(name)
            merged_at.append(at)

    phonon.run_mesh(mesh, with_eigenvectors=True, is_mesh_symmetry=False)
    phonon.run_total_dos()
    phonon.run_projected_dos()
    dos_frequencies = np.array(phonon.total_dos.frequency_points)
    total_dos = np.array(phonon.total_dos.dos)
    per_atom = np.array(phonon.projected_dos.projected_dos)  # [n_primitive_atoms, n_f]
    symbols = phonon.primitive.symbols
    projected = {s: per_atom[[i for i, t in enumerate(symbols) if t == s]].sum(axis=0)
                 for s in dict.fromkeys(symbols)}
    # Gamma acoustic modes (zero frequency: translations) carry no vibrational free energy
    phonon.run_thermal_properties(t_min=t_min, t_max=t_max, t_step=t_step, exclude_gamma_acoustic=True)
    thermal = phonon.thermal_properties

    results = PhononResults(
        phonopy=phonon, band_distances=distances,
        band_frequencies=[np.asarray(f) for f in band.frequencies], band_labels=merged,
        label_distances=np.array(merged_at), dos_frequencies=dos_frequencies, total_dos=total_dos,
        projected_dos=projected, temperatures=np.array(thermal.temperatures),
        free_energy=np.array(thermal.free_energy), entropy=np.array(thermal.entropy),
        heat_capacity=np.array(thermal.heat_capacity),
    )
    if output_dir is not None:
        results.files = write_phonon_files(results, output_dir, plot=plot)
    return results


def write_phonon_files(results: PhononResults, output_dir: str | os.PathLike, plot: bool = True) -> dict:
    """Write phonopy's files (and PNG plots) of ``results`` to ``output_dir``; return their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    phonon = results.phonopy
    files = {
        "phonopy_params": out / "phonopy_params.yaml",
        "band": out / "band.yaml",
        "total_dos": out / "total_dos.dat",
        "projected_dos": out / "projected_dos.dat",
        "thermal_properties": out / "thermal_properties.yaml",
    }
    phonon.save(files["phonopy_params"], settings={"force_constants": True})
    phonon.write_yaml_band_structure(filename=files["band"])
    phonon.write_total_dos(filename=files["total_dos"])
    phonon.write_projected_dos(filename=files["projected_dos"])
    phonon.write_yaml_thermal_properties(filename=files["thermal_properties"])
    if plot:
        from ._plots import plot_phonons, plot_thermal_properties

        files["plot_bands"] = plot_phonons(results, out / "phonons.png")
        files["plot_thermal"] = plot_thermal_properties(results, out / "thermal_properties.png")
    return files
