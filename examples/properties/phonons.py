"""Phonon band structure, DOS and heat capacity with phonopy, for any ASE calculator.

    python examples/properties/phonons.py POTENTIAL_FILE   # bcc Li with an ase-mlip potential
    python examples/properties/phonons.py emt              # fcc Cu with ASE's EMT (same code)

Writes phonopy's files (phonopy_params.yaml, band.yaml, ...) and phonons.png,
thermal_properties.png to ./phonons_<element>/.  The same from the command line:
``mlip phonons POTENTIAL structure.xyz --relax``.
"""

import argparse

import numpy as np
from ase.build import bulk

from ase_mlip.properties import run_phonons


def setup(potential: str):
    """bcc Li for a potential file, fcc Cu for 'emt'."""
    if potential == "emt":
        from ase.calculators.emt import EMT

        return bulk("Cu", "fcc", a=3.6, cubic=True), EMT()
    from ase_mlip import MLIPCalculator

    return bulk("Li", "bcc", a=3.44, cubic=True), MLIPCalculator(potential)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("potential", help="ase-mlip potential file (Li), or 'emt' (Cu)")
    parser.add_argument("--supercell", type=int, default=3, help="cubic supercell repetitions")
    args = parser.parse_args()
    atoms, calculator = setup(args.potential)
    element = atoms.get_chemical_symbols()[0]
    results = run_phonons(atoms, calculator, supercell=(args.supercell,) * 3, relax=True, mesh=40.0,
                          t_max=600, t_step=10, output_dir=f"phonons_{element}")
    print(f"{element}: lattice constant after relaxation {results.phonopy.unitcell.cell[0, 0]:.4f} A")
    a = results.phonopy.unitcell.cell[0, 0]
    zone_boundary = "H" if element == "Li" else "X"  # both at 2 pi / a (1, 0, 0)
    for name, q_cart in (("Gamma", np.zeros(3)), (zone_boundary, np.array([2 * np.pi / a, 0, 0]))):
        q = results.phonopy.primitive.cell @ q_cart / (2 * np.pi)  # reduced in the primitive cell
        print(f"  frequencies at {name}: {np.round(results.frequencies(q)[0], 3)} THz")
    for t in (50, 100, 300):
        k = int(np.argmin(np.abs(results.temperatures - t)))
        print(f"  C_V({t} K) = {results.heat_capacity_per_atom[k]:.3f} k_B per atom")
    print(f"  files in phonons_{element}/: {', '.join(p.name for p in results.files.values())}")


if __name__ == "__main__":
    main()
