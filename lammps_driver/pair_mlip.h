/* pair_style mlip: machine-learned potentials of ase-mlip inside LAMMPS.

   Syntax:
     pair_style mlip FILE [dtype float32|float64] [device auto|cpu|cuda|cuda:N]
     pair_coeff * * El1 El2 ...      (one element per LAMMPS atom type)

   The model is evaluated in Python (lammps_driver._bridge) on the graph of
   local and ghost atoms built from LAMMPS's full neighbor list.  Python
   returns per-atom energies of the local atoms and per-edge forces
   f_ij = dE/d(r_j - r_i); this class adds f_ij to atom i and subtracts it
   from atom j (a ghost or local atom), and LAMMPS's reverse communication
   (newton on) brings ghost forces home.  The virial follows from the same
   forces, W = sum_k x_k (outer) F_k over local and ghost atoms, which equals
   -sum_ij (r_j - r_i) (outer) f_ij. */

#ifndef LMP_PAIR_MLIP_H
#define LMP_PAIR_MLIP_H

#include "pair.h"

#include <cstdint>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairMLIP : public Pair {
 public:
  PairMLIP(class LAMMPS *);
  ~PairMLIP() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

 protected:
  void allocate();
  void check_units();
  [[noreturn]] void python_failure(const std::string &where, bool all_ranks);

  void *bridge;                   // lammps_driver._bridge.PairBridge instance
  double r_cut;                   // model cutoff, Angstrom
  std::vector<int64_t> type_species;    // LAMMPS type -> species index

  // per-step buffers, kept to avoid reallocation
  std::vector<int> node_of_atom;          // local/ghost atom -> graph node or -1
  std::vector<int> atom_of_node;          // graph node -> local/ghost atom
  std::vector<int64_t> centers;           // [num_edges] local atom i of each edge
  std::vector<int64_t> neighbors;         // [num_edges] graph node of neighbor j
  std::vector<int64_t> node_species;      // [num_nodes]
  std::vector<int64_t> edge_index;        // [2, num_edges]: centers then neighbors
  std::vector<double> edge_vec;           // [num_edges, 3] r_j - r_i, Angstrom
  std::vector<double> edge_forces;        // [num_edges, 3] dE/d(edge_vec), eV/Angstrom
  std::vector<double> atomic_energy;      // [nlocal] eV
};

}    // namespace LAMMPS_NS

#endif
