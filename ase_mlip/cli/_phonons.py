"""``mlip phonons POTENTIAL STRUCTURE``: phonon bands, DOS and thermal properties."""

from __future__ import annotations

import argparse
from pathlib import Path


def load_calculator(spec: str, device: str = "cpu", dtype: str = "float64"):
    """A calculator from a potential file, or ASE's EMT for ``"emt"`` (a reference for Cu, Ag, Au, Ni, Pd, Pt, Al)."""
    if spec.lower() == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if not Path(spec).is_file():
        raise FileNotFoundError(f"potential file {spec!r} does not exist (or pass 'emt' for ASE's EMT)")
    from ase_mlip import MLIPCalculator

    return MLIPCalculator(spec, device=device, dtype=dtype)


def read_structure(path: str):
    """The first (or only) structure of an ASE-readable file."""
    from ase.io import read

    if not Path(path).is_file():
        raise FileNotFoundError(f"structure file {path!r} does not exist")
    return read(path)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "phonons", help="phonon bands, DOS and thermal properties with phonopy",
        description="Finite-displacement phonons (phonopy) of a crystal with a potential file "
        "(or 'emt'); writes phonopy's files (phonopy_params.yaml, band.yaml, total_dos.dat, "
        "thermal_properties.yaml) and PNG plots.",
    )
    parser.add_argument("potential", help="potential file, or 'emt' for ASE's EMT")
    parser.add_argument("structure", help="unit cell in any ASE-readable format (3-D periodic)")
    parser.add_argument("--supercell", type=int, nargs=3, metavar=("NA", "NB", "NC"),
                        help="supercell repetitions (default: widths >= 10 A)")
    parser.add_argument("--displacement", type=float, default=0.01, help="displacement, A (default 0.01)")
    parser.add_argument("--relax", action="store_true", help="relax positions and cell first")
    parser.add_argument("--fixed-cell", action="store_true", help="with --relax: keep the cell")
    parser.add_argument("--fmax", type=float, default=1e-3, help="relaxation threshold, eV/A")
    parser.add_argument("--mesh", type=float, default=30.0, help="q-mesh length for DOS and thermal properties")
    parser.add_argument("--t-max", type=float, default=1000.0, help="highest temperature, K")
    parser.add_argument("--t-step", type=float, default=10.0, help="temperature step, K")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("-o", "--output", default="phonons", help="output folder (default ./phonons)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ase_mlip.properties import run_phonons

    calculator = load_calculator(args.potential, args.device, args.dtype)
    atoms = read_structure(args.structure)
    results = run_phonons(
        atoms, calculator, supercell=args.supercell, displacement=args.displacement, relax=args.relax,
        relax_cell=not args.fixed_cell, fmax=args.fmax, mesh=args.mesh, t_max=args.t_max,
        t_step=args.t_step, output_dir=args.output,
    )
    highest = max(f.max() for f in results.band_frequencies)
    lowest = min(f.min() for f in results.band_frequencies)
    print(f"frequencies along the path: {lowest:.3f} .. {highest:.3f} THz")
    if lowest < -0.05:
        print("warning: imaginary modes (negative frequencies): the structure is not at a minimum; try --relax")
    for t in (100.0, 300.0):
        k = int(np.argmin(np.abs(results.temperatures - t)))
        print(f"T = {results.temperatures[k]:.0f} K: C_V = {results.heat_capacity_per_atom[k]:.3f} k_B/atom, "
              f"F = {results.free_energy[k]:.3f} kJ/mol, S = {results.entropy[k]:.3f} J/K/mol")
    for name, path in results.files.items():
        print(f"{name}: {path}")
    return 0
