/* Whether a clock is the time module's own builtin, shared by the C
 * request path (_reqpath.c) and the query recorder (db/_recorder.c), which
 * read the clocks in C only while they are. */
#ifndef PERFPROBE_TIMEBUILTIN_H
#define PERFPROBE_TIMEBUILTIN_H

#include <Python.h>
#include <string.h>

/* ``clock`` (a new reference) if it is the time module's builtin function
 * ``name`` itself, else NULL (no exception): a builtin is made only in C,
 * so one bound to the time module under that name computes what a clock
 * read in C from the same system clock gives. */
static PyObject *
time_builtin(PyObject *clock, const char *name)
{
    if (!PyCFunction_CheckExact(clock)) {
        return NULL;
    }
    PyObject *module = PyCFunction_GET_SELF(clock);
    const char *ml_name = ((PyCFunctionObject *)clock)->m_ml->ml_name;
    if (module == NULL || !PyModule_CheckExact(module) || strcmp(ml_name, name) != 0) {
        return NULL;
    }
    const char *module_name = PyModule_GetName(module);
    if (module_name == NULL) {
        PyErr_Clear();
        return NULL;
    }
    return strcmp(module_name, "time") == 0 ? Py_NewRef(clock) : NULL;
}

#endif
