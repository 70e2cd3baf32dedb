"""ase-mlip: E(3)-equivariant machine-learned interatomic potentials for ASE and LAMMPS."""

__version__ = "0.1.0"

from .calculator import MLIPCalculator
from .potential import Potential, build_potential, load_potential, with_zbl

__all__ = ["MLIPCalculator", "Potential", "build_potential", "load_potential", "with_zbl", "__version__"]
