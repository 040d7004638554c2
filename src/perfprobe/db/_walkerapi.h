/* What perfprobe.db._callsite offers the query recorder (db/_recorder.c)
 * in its capsule ``_walker_api``: its Walker's call with the four results
 * put in ``out`` (new references) rather than in a tuple; 0, or -1 with an
 * exception set. One declaration for both modules; a recorder built against
 * another ``version`` than the installed _callsite's calls the Walker the
 * Python way. */
#ifndef PERFPROBE_WALKERAPI_H
#define PERFPROBE_WALKERAPI_H

#include <Python.h>

#define WALKER_API_NAME "perfprobe.db._callsite._walker_api"
#define WALKER_API_VERSION 1

typedef struct {
    int version;
    PyTypeObject *walker_type;
    int (*origin)(PyObject *walker, Py_ssize_t skip, PyObject *scope,
                  PyObject *scope_id, PyObject *sql, PyObject *params,
                  PyObject **out);
} walker_api_t;

#endif
