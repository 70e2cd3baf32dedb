/* Embedding of CPython for the mlip pair style (see mlip_python.h).

   Build-time definitions (set by lammps_driver/_build.py):
     MLIP_PYTHON_EXECUTABLE  interpreter of the environment that built the
                             plugin; used as program name so that its
                             prefix, virtual environment and site-packages
                             are found when `lmp` starts Python.
     MLIP_LIBPYTHON          shared libpython the plugin links against.
     MLIP_PACKAGE_ROOT       folder holding the lammps_driver package, added
                             to sys.path only if the package cannot be
                             imported otherwise (source checkout, no install). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "mlip_python.h"

#include <dlfcn.h>

namespace MLIP {

std::string ensure_python()
{
  if (Py_IsInitialized()) return "";

#ifdef MLIP_LIBPYTHON
  // Extension modules (numpy, torch) do not link libpython; its symbols must
  // be global in the process before they are imported.
  if (!dlopen(MLIP_LIBPYTHON, RTLD_NOW | RTLD_GLOBAL)) {
    return std::string("cannot load the Python library ") + MLIP_LIBPYTHON + ": " + dlerror() +
        ". Rebuild the plugin with `python -m lammps_driver build --force` from the environment "
        "that runs LAMMPS.";
  }
#endif

  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;    // LAMMPS and MPI keep their handlers
  config.parse_argv = 0;
  PyStatus status =
      PyConfig_SetBytesString(&config, &config.program_name, MLIP_PYTHON_EXECUTABLE);
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    std::string reason = status.err_msg ? status.err_msg : "unknown reason";
    return "cannot start the Python interpreter " + std::string(MLIP_PYTHON_EXECUTABLE) + ": " +
        reason;
  }
  // Py_InitializeFromConfig leaves the GIL taken by this thread; every later
  // call goes through GIL, exactly as when LAMMPS runs inside Python.
  PyEval_SaveThread();
  return "";
}

GIL::GIL() : state(static_cast<int>(PyGILState_Ensure())) {}

GIL::~GIL()
{
  PyGILState_Release(static_cast<PyGILState_STATE>(state));
}

std::string fetch_error()
{
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  if (!type) return "unknown Python error";
  PyErr_NormalizeException(&type, &value, &traceback);

  std::string message = reinterpret_cast<PyTypeObject *>(type)->tp_name;
  if (value) {
    PyObject *text = PyObject_Str(value);
    if (text) {
      const char *utf8 = PyUnicode_AsUTF8(text);
      if (utf8) message += std::string(": ") + utf8;
      Py_DECREF(text);
    }
    PyErr_Clear();
  }
  // User errors carry their own explanation; anything else is a bug whose
  // traceback is worth seeing.
  bool user_error = PyErr_GivenExceptionMatches(type, PyExc_ValueError) ||
      PyErr_GivenExceptionMatches(type, PyExc_OSError) ||
      PyErr_GivenExceptionMatches(type, PyExc_TypeError);
  if (!user_error && value) PyErr_Display(type, value, traceback);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(traceback);
  return message;
}

void release(void *object)
{
  if (!object || !Py_IsInitialized()) return;
  GIL gil;
  Py_DECREF(reinterpret_cast<PyObject *>(object));
}

}    // namespace MLIP
