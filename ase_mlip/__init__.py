"""ase-mlip: E(3)-equivariant machine-learned interatomic potentials for ASE and LAMMPS."""

__version__ = "0.1.0"

from .potential import Potential, build_potential, load_potential, with_zbl
from ._committee import Committee, make_committee
from .calculator import MLIPCalculator

__all__ = ["MLIPCalculator", "Potential", "Committee", "build_potential", "load_potential", "make_committee",
           "with_zbl", "__version__"]
