"""Names of the fields that flow between data, models and drivers.

One place for every key; code elsewhere uses these constants, never bare strings.
Units are ASE's: eV, Angstrom.
"""

# (num_atoms,) int64 | species index into the potential's species list
SPECIES = "species"
# (num_atoms, 3) | Cartesian positions, Angstrom
POSITIONS = "positions"
# (3, 3) | cell vectors as rows, Angstrom
CELL = "cell"
# (3,) bool | periodic boundary conditions
PBC = "pbc"
# (2, num_edges) int64 | (center i, neighbor j)
EDGE_INDEX = "edge_index"
# (num_edges, 3) | integer cell shifts of neighbor j
EDGE_CELL_SHIFT = "edge_cell_shift"
# (num_edges, 3) | r_j - r_i + shift @ cell, Angstrom
EDGE_VECTORS = "edge_vec"
# (num_edges, 3) | dE/d(edge_vec), eV/Angstrom
EDGE_FORCES = "edge_forces"
# (num_local,) | per-atom energies, eV
ATOMIC_ENERGY = "atomic_energy"
# () | total energy, eV
TOTAL_ENERGY = "energy"
# (num_atoms, 3) | forces, eV/Angstrom
FORCES = "forces"
# (3, 3) | virial W = -sum_ij edge_vec_ij (outer) f_ij, eV
VIRIAL = "virial"
# (3, 3) | stress, eV/Angstrom^3, ASE sign (positive = tensile)
STRESS = "stress"
# (num_atoms,) int64 | which structure of a batch each atom belongs to
BATCH = "batch"
