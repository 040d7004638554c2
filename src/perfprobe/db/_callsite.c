/* The call-site walk of perfprobe.db.callsite, in C.
 *
 * The walk runs on every recorded query through some ten frames, most of
 * them Django's; in Python each frame costs a few dozen bytecodes. Here a
 * frame costs a dictionary lookup. The classification of code objects, the
 * cache and everything rare (lazy loads, the async boundary) stay in Python:
 * this module only walks and reports what it met, so the Python walk in
 * callsite.py remains the definition of the result and the fallback when
 * this extension is not built.
 *
 * Only the public C API is used (PyFrame_GetBack, PyFrame_GetCode,
 * PyFrame_GetLineNumber), so the module builds unchanged on CPython 3.11
 * and later.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Look up the frame kind or display path of ``code`` in ``code_info``
 * (keyed by id(code)), classifying it through ``classify`` when unknown.
 * Return a new reference, or NULL with an exception set. */
static PyObject *
code_kind(PyObject *code_info, PyObject *classify, PyCodeObject *code)
{
    PyObject *key = PyLong_FromVoidPtr(code);
    if (key == NULL) {
        return NULL;
    }
    PyObject *info = PyDict_GetItemWithError(code_info, key);
    Py_DECREF(key);
    if (info != NULL) {
        Py_INCREF(info);
        return info;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyObject_CallOneArg(classify, (PyObject *)code);
}

/* The lazy load memoised in ``memo`` for this walk, or NULL (borrowed).
 * Only a walk that reached user code through exactly one telling frame is
 * ever memoised; the key is (scope_id, sql, id(code), f_lasti, kind). Return
 * NULL with an exception set on failure. */
static PyObject *
memoised(PyObject *memo, PyObject *scope_id, PyObject *sql,
         PyFrameObject *user, PyObject *telling)
{
    if (telling == NULL || PyList_GET_SIZE(telling) != 1
        || scope_id == Py_None || sql == Py_None) {
        return NULL;
    }
    PyObject *kind = PyTuple_GET_ITEM(PyList_GET_ITEM(telling, 0), 0);
    PyCodeObject *code = PyFrame_GetCode(user);
    PyObject *code_id = PyLong_FromVoidPtr(code);
    Py_DECREF(code);
    if (code_id == NULL) {
        return NULL;
    }
    PyObject *lasti = PyLong_FromLong(PyFrame_GetLasti(user));
    if (lasti == NULL) {
        Py_DECREF(code_id);
        return NULL;
    }
    PyObject *key = PyTuple_Pack(5, scope_id, sql, code_id, lasti, kind);
    Py_DECREF(code_id);
    Py_DECREF(lasti);
    if (key == NULL) {
        return NULL;
    }
    PyObject *lazy = PyDict_GetItemWithError(memo, key);
    Py_DECREF(key);
    return lazy;
}

PyDoc_STRVAR(walk_doc,
"walk(frame, code_info, classify, queryset_kind, async_kind, max_depth,\n"
"     memo, scope_id, sql)\n"
"--\n\n"
"Walk outward from frame to the first user-code frame or async boundary.\n\n"
"Return (call_site, stop_frame, queryset_frame, telling, lazy): call_site\n"
"is 'path:line' of the user frame, None otherwise; stop_frame is the user\n"
"frame or the async boundary's frame (None when neither was met);\n"
"queryset_frame the innermost queryset frame or None; telling a list of\n"
"(kind, frame) of the other non-zero kinds met, innermost first, or None;\n"
"lazy the lazy load memo holds for this walk, or None.");

static PyObject *
walk(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "walk() takes exactly 9 arguments");
        return NULL;
    }
    PyObject *start = args[0];
    PyObject *code_info = args[1];
    PyObject *classify = args[2];
    PyObject *memo = args[6];
    if (!PyDict_Check(code_info) || !PyDict_Check(memo)) {
        PyErr_SetString(PyExc_TypeError, "walk(): code_info and memo must be dicts");
        return NULL;
    }
    long queryset_kind = PyLong_AsLong(args[3]);
    if (queryset_kind == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long async_kind = PyLong_AsLong(args[4]);
    if (async_kind == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t max_depth = PyLong_AsSsize_t(args[5]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (start != Py_None && !PyFrame_Check(start)) {
        PyErr_SetString(PyExc_TypeError, "walk(): frame must be a frame or None");
        return NULL;
    }

    PyObject *call_site = NULL;
    PyObject *stop = NULL;
    PyObject *queryset = NULL;
    PyObject *telling = NULL;
    PyObject *lazy = NULL;
    /* The walk holds a strong reference to the frame it is looking at. */
    PyFrameObject *frame = start == Py_None ? NULL : (PyFrameObject *)start;
    Py_XINCREF(frame);

    for (Py_ssize_t depth = 0; depth < max_depth && frame != NULL; depth++) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *info = code_kind(code_info, classify, code);
        Py_DECREF(code);
        if (info == NULL) {
            goto error;
        }
        if (PyUnicode_Check(info)) {
            /* User code: a display path, never empty. */
            call_site = PyUnicode_FromFormat(
                "%U:%d", info, PyFrame_GetLineNumber(frame));
            Py_DECREF(info);
            if (call_site == NULL) {
                goto error;
            }
            stop = (PyObject *)frame;
            frame = NULL;
            lazy = memoised(memo, args[7], args[8], (PyFrameObject *)stop, telling);
            if (lazy == NULL && PyErr_Occurred()) {
                goto error;
            }
            break;
        }
        long kind = PyLong_AsLong(info);
        if (kind == -1 && PyErr_Occurred()) {
            Py_DECREF(info);
            goto error;
        }
        if (kind == queryset_kind) {
            /* Only the innermost queryset can be a related manager's. */
            if (queryset == NULL) {
                Py_INCREF(frame);
                queryset = (PyObject *)frame;
            }
        }
        else if (kind == async_kind) {
            Py_DECREF(info);
            stop = (PyObject *)frame;
            frame = NULL;
            break;
        }
        else if (kind != 0) {
            if (telling == NULL && (telling = PyList_New(0)) == NULL) {
                Py_DECREF(info);
                goto error;
            }
            PyObject *pair = PyTuple_Pack(2, info, (PyObject *)frame);
            if (pair == NULL || PyList_Append(telling, pair) < 0) {
                Py_XDECREF(pair);
                Py_DECREF(info);
                goto error;
            }
            Py_DECREF(pair);
        }
        Py_DECREF(info);
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);

    PyObject *result = PyTuple_Pack(
        5,
        call_site ? call_site : Py_None,
        stop ? stop : Py_None,
        queryset ? queryset : Py_None,
        telling ? telling : Py_None,
        lazy ? lazy : Py_None);
    Py_XDECREF(call_site);
    Py_XDECREF(stop);
    Py_XDECREF(queryset);
    Py_XDECREF(telling);
    return result;

error:
    Py_XDECREF(frame);
    Py_XDECREF(call_site);
    Py_XDECREF(stop);
    Py_XDECREF(queryset);
    Py_XDECREF(telling);
    return NULL;
}

PyDoc_STRVAR(caller_frame_doc,
"caller_frame(depth)\n"
"--\n\n"
"Return the frame depth calls above the calling one, as sys._getframe().\n\n"
"Unlike sys._getframe(), raises no audit event: the recorder asks for a\n"
"frame on every query, and the event cost as much as the rest of the\n"
"lookup. Raises ValueError when the stack is not that deep.");

static PyObject *
caller_frame(PyObject *module, PyObject *arg)
{
    Py_ssize_t depth = PyLong_AsSsize_t(arg);
    if (depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (depth < 0) {
        PyErr_SetString(PyExc_ValueError, "caller_frame(): depth must be >= 0");
        return NULL;
    }
    /* A borrowed reference: the frame of the Python code calling this. */
    PyFrameObject *frame = PyEval_GetFrame();
    Py_XINCREF(frame);
    for (; depth > 0 && frame != NULL; depth--) {
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    if (frame == NULL) {
        PyErr_SetString(PyExc_ValueError, "call stack is not deep enough");
        return NULL;
    }
    return (PyObject *)frame;
}

static PyMethodDef callsite_methods[] = {
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL, walk_doc},
    {"caller_frame", caller_frame, METH_O, caller_frame_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot callsite_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef callsite_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "perfprobe.db._callsite",
    .m_doc = "The call-site walk of perfprobe.db.callsite, in C.",
    .m_size = 0,
    .m_methods = callsite_methods,
    .m_slots = callsite_slots,
};

PyMODINIT_FUNC
PyInit__callsite(void)
{
    return PyModuleDef_Init(&callsite_module);
}
