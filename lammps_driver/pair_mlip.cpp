/* pair_style mlip: see pair_mlip.h for the syntax and the force contract. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pair_mlip.h"

#include "mlip_python.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "universe.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;

namespace {

const char *USAGE =
    "pair_style mlip FILE [dtype float32|float64] [device auto|cpu|cuda|cuda:N]";

// Address of a buffer as a Python int (0 for empty buffers).
template <typename T> unsigned long long address(std::vector<T> &v)
{
  return v.empty() ? 0ULL : reinterpret_cast<unsigned long long>(v.data());
}

}    // namespace

/* ---------------------------------------------------------------------- */

PairMLIP::PairMLIP(LAMMPS *lmp) : Pair(lmp), bridge(nullptr), r_cut(0.0)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  // per-atom virial is the pair (two-body) split, not a centroid stress
  centroidstressflag = CENTROID_NOTAVAIL;
}

/* ---------------------------------------------------------------------- */

PairMLIP::~PairMLIP()
{
  MLIP::release(bridge);
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

/* ---------------------------------------------------------------------- */

void PairMLIP::allocate()
{
  allocated = 1;
  int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
  type_species.assign(n, -2);    // -2: not given yet, -1: NULL
}

/* ---------------------------------------------------------------------- */

void PairMLIP::check_units()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR,
               "pair_style mlip requires units metal (eV, Angstrom, ps), but units are {}: "
               "put `units metal` before the pair_style line",
               update->unit_style);
}

/* ---------------------------------------------------------------------- */

void PairMLIP::python_failure(const std::string &where, bool all_ranks)
{
  std::string message = where + ": " + MLIP::fetch_error();
  if (all_ranks) error->all(FLERR, message);
  error->one(FLERR, message);
}

/* ----------------------------------------------------------------------
   pair_style mlip FILE [dtype ...] [device ...]
------------------------------------------------------------------------- */

void PairMLIP::settings(int narg, char **arg)
{
  if (narg < 1) error->all(FLERR, "Illegal pair_style mlip command; usage: {}", USAGE);
  check_units();

  std::string path = arg[0];
  std::string dtype;    // empty: the precision stored in the potential file
  std::string device = "auto";
  for (int iarg = 1; iarg < narg; iarg += 2) {
    if (iarg + 1 >= narg)
      error->all(FLERR, "pair_style mlip: keyword {} needs a value; usage: {}", arg[iarg], USAGE);
    std::string key = arg[iarg];
    if (key == "dtype")
      dtype = arg[iarg + 1];
    else if (key == "device")
      device = arg[iarg + 1];
    else
      error->all(FLERR, "pair_style mlip: unknown keyword {}; usage: {}", key, USAGE);
  }

  // rank within the node, over all partitions, picks the GPU
  MPI_Comm node;
  int node_rank = 0, node_size = 1;
  MPI_Comm_split_type(universe->uworld, MPI_COMM_TYPE_SHARED, universe->me, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_size(node, &node_size);
  MPI_Comm_free(&node);

  std::string failure = MLIP::ensure_python();
  if (!failure.empty()) error->all(FLERR, "pair_style mlip: {}", failure);

  MLIP::release(bridge);
  bridge = nullptr;

  std::string description;
  {
    MLIP::GIL gil;
    PyObject *module = PyImport_ImportModule("lammps_driver._bridge");
    if (!module && PyErr_ExceptionMatches(PyExc_ModuleNotFoundError)) {
#ifdef MLIP_PACKAGE_ROOT
      // source checkout that is not installed: use the folder the plugin was built from
      PyErr_Clear();
      PyObject *sys_path = PySys_GetObject("path");
      PyObject *root = PyUnicode_FromString(MLIP_PACKAGE_ROOT);
      if (sys_path && root) PyList_Append(sys_path, root);
      Py_XDECREF(root);
      module = PyImport_ImportModule("lammps_driver._bridge");
#endif
    }
    if (!module) python_failure("pair_style mlip: cannot import lammps_driver._bridge", true);

    PyObject *result = PyObject_CallMethod(module, "PairBridge", "sssii", path.c_str(),
                                           dtype.c_str(), device.c_str(), node_rank, node_size);
    Py_DECREF(module);
    if (!result) python_failure("pair_style mlip " + path, true);
    bridge = result;

    PyObject *cut = PyObject_GetAttrString(result, "r_cut");
    if (!cut) python_failure("pair_style mlip", true);
    r_cut = PyFloat_AsDouble(cut);
    Py_DECREF(cut);
    if (PyErr_Occurred()) python_failure("pair_style mlip", true);

    PyObject *text = PyObject_CallMethod(result, "describe", nullptr);
    if (!text) python_failure("pair_style mlip", true);
    const char *utf8 = PyUnicode_AsUTF8(text);
    description = utf8 ? utf8 : "";
    Py_DECREF(text);
  }
  if (comm->me == 0) utils::logmesg(lmp, "pair_style mlip: {}\n", description);
}

/* ----------------------------------------------------------------------
   pair_coeff * * El1 El2 ... (one element per atom type)
------------------------------------------------------------------------- */

void PairMLIP::coeff(int narg, char **arg)
{
  if (!bridge) error->all(FLERR, "pair_coeff for mlip: the pair_style mlip line must come first");
  if (!allocated) allocate();

  int ntypes = atom->ntypes;
  if (narg < 2 || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_style mlip takes a single line `pair_coeff * * El1 El2 ...` with one "
                      "element per atom type");
  if (narg - 2 != ntypes)
    error->all(FLERR,
               "pair_coeff * * for mlip needs one element per atom type: got {} element(s) for "
               "{} atom type(s); list one element symbol for each type 1..{}",
               narg - 2, ntypes, ntypes);

  {
    MLIP::GIL gil;
    for (int t = 1; t <= ntypes; t++) {
      if (strcmp(arg[t + 1], "NULL") == 0) {    // type left to another hybrid sub-style
        type_species[t] = -1;
        continue;
      }
      PyObject *index = PyObject_CallMethod(reinterpret_cast<PyObject *>(bridge),
                                            "species_index", "s", arg[t + 1]);
      if (!index) python_failure(fmt::format("pair_coeff * * (atom type {})", t), true);
      type_species[t] = PyLong_AsLongLong(index);
      Py_DECREF(index);
    }
  }

  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++)
      setflag[i][j] = (type_species[i] >= 0 && type_species[j] >= 0) ? 1 : 0;
}

/* ---------------------------------------------------------------------- */

void PairMLIP::init_style()
{
  check_units();
  if (force->newton_pair == 0)
    error->all(FLERR, "pair_style mlip requires newton pair on: remove `newton off` (on is the "
                      "default) or write `newton on`");
  if (!bridge) error->all(FLERR, "pair_style mlip has no potential loaded");
  // full list: every local atom sees all its neighbors, ghosts included
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

/* ---------------------------------------------------------------------- */

double PairMLIP::init_one(int i, int j)
{
  if (!allocated || type_species[i] == -2) error->all(FLERR, "pair_coeff * * for mlip has not been given");
  return r_cut;
}

/* ---------------------------------------------------------------------- */

void PairMLIP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);

  double **x = atom->x;
  double **f = atom->f;
  int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const double r_cut_sq = r_cut * r_cut;

  // graph nodes: local atoms keep their index; ghosts that are neighbors
  // of some local atom follow in order of first appearance
  node_of_atom.assign(nall, -1);
  atom_of_node.resize(nlocal);
  for (int i = 0; i < nlocal; i++) {
    node_of_atom[i] = i;
    atom_of_node[i] = i;
  }
  centers.clear();    // clear() keeps the capacity: no reallocation after the first steps
  neighbors.clear();
  edge_vec.clear();

  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  for (int ii = 0; ii < inum; ii++) {
    const int i = ilist[ii];
    if (type_species[type[i]] < 0) continue;
    const int *jlist = firstneigh[i];
    for (int jj = 0; jj < numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      if (type_species[type[j]] < 0) continue;
      const double dx = x[j][0] - x[i][0];
      const double dy = x[j][1] - x[i][1];
      const double dz = x[j][2] - x[i][2];
      if (dx * dx + dy * dy + dz * dz >= r_cut_sq) continue;
      if (node_of_atom[j] < 0) {
        node_of_atom[j] = static_cast<int>(atom_of_node.size());
        atom_of_node.push_back(j);
      }
      centers.push_back(i);
      neighbors.push_back(node_of_atom[j]);
      edge_vec.push_back(dx);
      edge_vec.push_back(dy);
      edge_vec.push_back(dz);
    }
  }

  const long num_edges = static_cast<long>(centers.size());
  const long num_nodes = static_cast<long>(atom_of_node.size());
  // a rank without local atoms (vacuum) has nothing to evaluate
  if (nlocal == 0) {
    if (vflag_fdotr) virial_fdotr_compute();
    return;
  }

  node_species.resize(num_nodes);
  for (long n = 0; n < num_nodes; n++) {
    const int64_t species = type_species[type[atom_of_node[n]]];
    node_species[n] = species < 0 ? 0 : species;    // NULL-type local atoms: no edges, energy dropped
  }
  edge_index.resize(2 * num_edges);
  std::copy(centers.begin(), centers.end(), edge_index.begin());
  std::copy(neighbors.begin(), neighbors.end(), edge_index.begin() + num_edges);
  edge_forces.assign(3 * num_edges, 0.0);
  atomic_energy.assign(nlocal, 0.0);

  {
    MLIP::GIL gil;
    PyObject *result = PyObject_CallMethod(
        reinterpret_cast<PyObject *>(bridge), "compute", "nnnKKKKK", (Py_ssize_t) num_nodes,
        (Py_ssize_t) nlocal, (Py_ssize_t) num_edges, address(node_species), address(edge_index),
        address(edge_vec), address(atomic_energy), address(edge_forces));
    if (!result) python_failure("pair_style mlip: model evaluation failed", false);
    Py_DECREF(result);
  }

  // forces: F_i += f_ij, F_j -= f_ij (j may be a ghost; reverse comm adds it home)
  for (long e = 0; e < num_edges; e++) {
    const int i = static_cast<int>(edge_index[e]);
    const int j = atom_of_node[edge_index[num_edges + e]];
    const double *fe = &edge_forces[3 * e];
    f[i][0] += fe[0];
    f[i][1] += fe[1];
    f[i][2] += fe[2];
    f[j][0] -= fe[0];
    f[j][1] -= fe[1];
    f[j][2] -= fe[2];

    if ((vflag_global && !vflag_fdotr) || vflag_atom) {
      // edge virial -(r_j - r_i) (outer) f_ij in LAMMPS order xx yy zz xy xz yz
      const double *d = &edge_vec[3 * e];
      const double v[6] = {-d[0] * fe[0], -d[1] * fe[1], -d[2] * fe[2],
                           -d[0] * fe[1], -d[0] * fe[2], -d[1] * fe[2]};
      if (vflag_global && !vflag_fdotr)
        for (int k = 0; k < 6; k++) virial[k] += v[k];
      if (vflag_atom)
        for (int k = 0; k < 6; k++) {
          vatom[i][k] += 0.5 * v[k];
          vatom[j][k] += 0.5 * v[k];
        }
    }
  }

  if (eflag_either)
    for (int i = 0; i < nlocal; i++) {
      if (type_species[type[i]] < 0) continue;
      if (eflag_global) eng_vdwl += atomic_energy[i];
      if (eflag_atom) eatom[i] += atomic_energy[i];
    }

  if (vflag_fdotr) virial_fdotr_compute();
}
