"""Quick start: an ase-mlip potential as an ASE calculator, for MD and a cell relaxation.

Uses the shipped Li potential (potentials/Li/Li.mlip) when present, otherwise
builds an untrained one. Runs 200 steps of velocity-Verlet MD of bcc Li at
300 K and reports the energy drift (and, for a committee file, how far its
members disagree at the end), then relaxes positions and cell with FIRE on a
FrechetCellFilter and reports the lattice constant.

    python examples/quickstart.py [--potential FILE] [--steps N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet
from ase.optimize import FIRE

from ase_mlip import Committee, MLIPCalculator, build_potential, load_potential
from ase_mlip.properties import thermalize

SHIPPED = Path(__file__).resolve().parent.parent / "potentials" / "Li" / "Li.mlip"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", type=Path, default=SHIPPED)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    if args.potential.is_file():
        potential = load_potential(args.potential)
        print(f"potential: {args.potential} (species {potential.species}, r_cut {potential.r_cut} A)")
    else:
        print(f"{args.potential} not found: building an untrained Li potential (with ZBL repulsion)")
        potential = build_potential({"species": ["Li"], "r_cut": 5.0, "zbl": True, "seed": 0})

    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((3, 3, 3))
    atoms.calc = MLIPCalculator(potential, dtype="float64")
    thermalize(atoms, 300, rng=np.random.default_rng(0))
    Stationary(atoms)

    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    energies = []
    dyn.attach(lambda: energies.append(atoms.get_total_energy() / len(atoms)), interval=10)
    start = time.perf_counter()
    dyn.run(args.steps)
    wall = time.perf_counter() - start
    e = np.array(energies)
    drift = np.polyfit(np.arange(len(e)) * 10e-3, e, 1)[0]
    print(
        f"NVE MD: {len(atoms)} atoms, {args.steps} steps of 1 fs in {wall:.1f} s "
        f"({1e6 * wall / (args.steps * len(atoms)):.0f} us/atom/step); "
        f"T = {atoms.get_temperature():.0f} K; energy drift {drift:+.2e} eV/atom/ps"
    )

    if isinstance(potential, Committee):
        # The members' disagreement: an error estimate where no DFT label is known.
        spread_e = atoms.calc.get_property("energy_std", atoms) / len(atoms)
        spread_f = atoms.calc.get_property("forces_std", atoms)
        print(f"committee of {len(potential.members)} members at the last step: energy spread "
              f"{1e3 * spread_e:.3f} meV/atom, force spread {spread_f.mean():.4f} eV/A on average, "
              f"{spread_f.max():.4f} at most")

    # Start 2% away from the DFT lattice constant (~3.44 A), so the relaxation has work to do.
    start = 3.50
    crystal = bulk("Li", "bcc", a=start, cubic=True)
    crystal.calc = MLIPCalculator(potential, dtype="float64")
    opt = FIRE(FrechetCellFilter(crystal), logfile=None)
    converged = opt.run(fmax=1e-3, steps=500)
    a = crystal.cell.lengths().mean()
    print(
        f"cell relaxation: {'converged' if converged else 'NOT converged'} in {opt.nsteps} steps; "
        f"bcc lattice constant {start:.2f} -> {a:.4f} A, E = {crystal.get_potential_energy() / len(crystal):.4f} eV/atom, "
        f"max |stress| {np.abs(crystal.get_stress()).max() / units.GPa:.2e} GPa"
    )


if __name__ == "__main__":
    main()
