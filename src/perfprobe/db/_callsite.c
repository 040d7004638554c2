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
 * walk() uses only the public C API (PyFrame_GetBack, PyFrame_GetCode,
 * PyFrame_GetLineNumber), so it builds unchanged on CPython 3.11 and
 * later. walk_stack(), built on 3.11 only, reads the interpreter's frame
 * records instead: PyFrame_GetBack makes a frame object for every frame it
 * passes (some fifteen a query), each freed again when its function
 * returns, which costs more on the clock than its instruction count says.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_walkerapi.h"

/* CPython 3.11 only: the interpreter's own frame records, walked without
 * making a frame object for each (see walk_stack). Their layout changes
 * between minor versions, so other versions build without walk_stack and
 * perfprobe uses walk() there. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define PERFPROBE_FRAME_RECORDS 1
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include "internal/pycore_frame.h"
/* The kinds of a code object's locals (_PyLocals_GetKind). */
#include "internal/pycore_code.h"
#undef Py_BUILD_CORE
#endif

/* Two direct-mapped caches in front of the dictionaries, keyed by the code
 * object's address. Building an int for id(code) and looking it up in
 * code_info cost several hundred instructions a frame (addresses are
 * aligned, so their low bits, which pick the first slot, are all zero);
 * formatting "path:line" and finding the line cost more per query than the
 * rest of the walk. Each entry holds a strong reference to its code object,
 * so an address found is the very same code. The information is what
 * code_info held, and stays true until the settings change, when
 * callsite.clear_cache() calls forget(). The entries are process state,
 * so the module refuses subinterpreters with a GIL of their own. */
#define CODE_SLOTS 1024
#define SITE_SLOTS 1024

typedef struct {
    PyObject *code;
    PyObject *info;
} code_entry;

typedef struct {
    PyObject *code;
    int lasti;
    PyObject *site;
} site_entry;

static code_entry code_cache[CODE_SLOTS];
static site_entry site_cache[SITE_SLOTS];
/* Counts forget() calls. A walk during which the caches were emptied (the
 * settings changed while classify() ran in another thread) stores nothing:
 * what it learnt may come from the old settings. */
static unsigned long cache_epoch;

static inline size_t
code_slot(PyCodeObject *code)
{
    return ((uintptr_t)code >> 4) & (CODE_SLOTS - 1);
}

static inline size_t
site_slot(PyCodeObject *code, int lasti)
{
    return (((uintptr_t)code >> 4) ^ ((size_t)lasti * 2654435761u)) & (SITE_SLOTS - 1);
}

/* Replace a cache entry's two references; the old ones are released last,
 * since releasing can run arbitrary code (a weakref callback). */
static void
store(PyObject **code_ref, PyObject **value_ref, PyObject *code, PyObject *value)
{
    PyObject *old_code = *code_ref;
    PyObject *old_value = *value_ref;
    Py_INCREF(code);
    Py_INCREF(value);
    *code_ref = code;
    *value_ref = value;
    Py_XDECREF(old_code);
    Py_XDECREF(old_value);
}

/* Look up the frame kind or display path of ``code``: in the cache, then
 * in ``code_info`` (keyed by id(code)), classifying it through ``classify``
 * when unknown. Return a new reference, or NULL with an exception set. */
static PyObject *
code_kind(PyObject *code_info, PyObject *classify, PyCodeObject *code,
          unsigned long epoch)
{
    code_entry *entry = &code_cache[code_slot(code)];
    if (entry->code == (PyObject *)code) {
        Py_INCREF(entry->info);
        return entry->info;
    }
    PyObject *key = PyLong_FromVoidPtr(code);
    if (key == NULL) {
        return NULL;
    }
    PyObject *info = PyDict_GetItemWithError(code_info, key);
    Py_DECREF(key);
    if (info != NULL) {
        Py_INCREF(info);
    }
    else if (PyErr_Occurred()) {
        return NULL;
    }
    else {
        info = PyObject_CallOneArg(classify, (PyObject *)code);
        if (info == NULL) {
            return NULL;
        }
    }
    if (epoch != cache_epoch) {
        return info;
    }
    /* Looked up again: classify() may have run anything. */
    entry = &code_cache[code_slot(code)];
    store(&entry->code, &entry->info, (PyObject *)code, info);
    return info;
}

/* Return "path:line" for user code ``code`` at instruction offset
 * ``lasti`` (bytes, as f_lasti) whose display path is ``path``: from the
 * cache when this instruction of this code was seen, else with the line
 * ``line_of(where)`` gives. A new reference, or NULL with an exception set. */
static PyObject *
code_site(PyCodeObject *code, int lasti, PyObject *path, unsigned long epoch,
          int (*line_of)(void *), void *where)
{
    site_entry *entry = &site_cache[site_slot(code, lasti)];
    if (entry->code == (PyObject *)code && entry->lasti == lasti) {
        Py_INCREF(entry->site);
        return entry->site;
    }
    int line = line_of(where);
    /* No line (code without a line table): Python's f_lineno is None. */
    PyObject *site = line < 0 ? PyUnicode_FromFormat("%U:None", path)
                              : PyUnicode_FromFormat("%U:%d", path, line);
    if (site != NULL && epoch == cache_epoch) {
        entry->lasti = lasti;
        store(&entry->code, &entry->site, (PyObject *)code, site);
    }
    return site;
}

static int
frame_line(void *frame)
{
    return PyFrame_GetLineNumber((PyFrameObject *)frame);
}

static PyObject *
user_site(PyFrameObject *frame, PyObject *path, unsigned long epoch)
{
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyObject *site = code_site(code, PyFrame_GetLasti(frame), path, epoch,
                               frame_line, frame);
    Py_DECREF(code);
    return site;
}

/* The lazy load memoised in ``memo`` for a walk that reached user code
 * ``code`` at offset ``lasti`` (bytes), or NULL (borrowed). Only a walk
 * that reached user code through exactly one telling frame, of kind
 * ``kind`` (NULL for another count), is ever memoised; the key is
 * (scope_id, sql, id(code), f_lasti, kind). Return NULL with an exception
 * set on failure. */
static PyObject *
memoised_at(PyObject *memo, PyObject *scope_id, PyObject *sql,
            PyCodeObject *code, int lasti, PyObject *kind)
{
    if (kind == NULL || scope_id == Py_None || sql == Py_None) {
        return NULL;
    }
    PyObject *code_id = PyLong_FromVoidPtr(code);
    if (code_id == NULL) {
        return NULL;
    }
    PyObject *offset = PyLong_FromLong(lasti);
    if (offset == NULL) {
        Py_DECREF(code_id);
        return NULL;
    }
    PyObject *key = PyTuple_Pack(5, scope_id, sql, code_id, offset, kind);
    Py_DECREF(code_id);
    Py_DECREF(offset);
    if (key == NULL) {
        return NULL;
    }
    PyObject *lazy = PyDict_GetItemWithError(memo, key);
    Py_DECREF(key);
    return lazy;
}

static PyObject *
memoised(PyObject *memo, PyObject *scope_id, PyObject *sql,
         PyFrameObject *user, PyObject *telling)
{
    if (telling == NULL || PyList_GET_SIZE(telling) != 1) {
        return NULL;
    }
    PyObject *kind = PyTuple_GET_ITEM(PyList_GET_ITEM(telling, 0), 0);
    PyCodeObject *code = PyFrame_GetCode(user);
    PyObject *lazy = memoised_at(memo, scope_id, sql, code,
                                 PyFrame_GetLasti(user), kind);
    Py_DECREF(code);
    return lazy;
}

/* The arguments walk() and walk_stack() share, after the first. */
typedef struct {
    PyObject *code_info;
    PyObject *classify;
    long queryset_kind;
    long async_kind;
    Py_ssize_t max_depth;
    PyObject *memo;
    PyObject *scope_id;
    PyObject *sql;
} walk_args;

/* Read the nine arguments of ``name`` into ``out``; 0, or -1 with an
 * exception set. The references are borrowed from ``args``. */
static int
read_walk_args(const char *name, PyObject *const *args, Py_ssize_t nargs,
               walk_args *out)
{
    if (nargs != 9) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 9 arguments", name);
        return -1;
    }
    out->code_info = args[1];
    out->classify = args[2];
    out->memo = args[6];
    out->scope_id = args[7];
    out->sql = args[8];
    if (!PyDict_Check(out->code_info) || !PyDict_Check(out->memo)) {
        PyErr_Format(PyExc_TypeError, "%s(): code_info and memo must be dicts",
                     name);
        return -1;
    }
    out->queryset_kind = PyLong_AsLong(args[3]);
    if (out->queryset_kind == -1 && PyErr_Occurred()) {
        return -1;
    }
    out->async_kind = PyLong_AsLong(args[4]);
    if (out->async_kind == -1 && PyErr_Occurred()) {
        return -1;
    }
    out->max_depth = PyLong_AsSsize_t(args[5]);
    if (out->max_depth == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
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
    walk_args a;
    if (read_walk_args("walk", args, nargs, &a) < 0) {
        return NULL;
    }
    PyObject *start = args[0];
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
    unsigned long epoch = cache_epoch;

    for (Py_ssize_t depth = 0; depth < a.max_depth && frame != NULL; depth++) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *info = code_kind(a.code_info, a.classify, code, epoch);
        Py_DECREF(code);
        if (info == NULL) {
            goto error;
        }
        if (PyUnicode_Check(info)) {
            /* User code: a display path, never empty. */
            call_site = user_site(frame, info, epoch);
            Py_DECREF(info);
            if (call_site == NULL) {
                goto error;
            }
            stop = (PyObject *)frame;
            frame = NULL;
            lazy = memoised(a.memo, a.scope_id, a.sql, (PyFrameObject *)stop, telling);
            if (lazy == NULL && PyErr_Occurred()) {
                goto error;
            }
            /* Held at once: making the result can run a collection, whose
             * callbacks or finalisers may empty the memo (clear_cache()). */
            Py_XINCREF(lazy);
            break;
        }
        long kind = PyLong_AsLong(info);
        if (kind == -1 && PyErr_Occurred()) {
            Py_DECREF(info);
            goto error;
        }
        if (kind == a.queryset_kind) {
            /* Only the innermost queryset can be a related manager's. */
            if (queryset == NULL) {
                Py_INCREF(frame);
                queryset = (PyObject *)frame;
            }
        }
        else if (kind == a.async_kind) {
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
    Py_XDECREF(lazy);
    return result;

error:
    Py_XDECREF(frame);
    Py_XDECREF(call_site);
    Py_XDECREF(stop);
    Py_XDECREF(queryset);
    Py_XDECREF(telling);
    return NULL;
}

#ifdef PERFPROBE_FRAME_RECORDS
/* The next complete frame record outward, as PyFrame_GetBack() and
 * sys._getframe() step: records part way through their set-up are not
 * frames yet. */
static _PyInterpreterFrame *
complete_back(_PyInterpreterFrame *record)
{
    record = record->previous;
    while (record != NULL && _PyFrame_IsIncomplete(record)) {
        record = record->previous;
    }
    return record;
}

/* f_lasti of the record: the offset in bytes, -1 before the first. */
static int
record_lasti(_PyInterpreterFrame *record)
{
    int lasti = _PyInterpreterFrame_LASTI(record);
    return lasti < 0 ? -1 : lasti * (int)sizeof(_Py_CODEUNIT);
}

/* The line PyFrame_GetLineNumber() would give for the record's frame: a
 * tracer's own f_lineno where a frame object has one. */
static int
record_line(void *where)
{
    _PyInterpreterFrame *record = (_PyInterpreterFrame *)where;
    if (record->frame_obj != NULL && record->frame_obj->f_lineno != 0) {
        return record->frame_obj->f_lineno;
    }
    return PyCode_Addr2Line(record->f_code, _PyInterpreterFrame_LASTI(record)
                                                * (int)sizeof(_Py_CODEUNIT));
}

/* Interned names, made on first use and kept for the process. */
static PyObject *self_name, *hints_name, *instance_name;

/* 1 when the queryset frame ``record``'s local ``self`` certainly holds no
 * instance hint (what lazyload._from_queryset reads first: a related
 * manager's queryset carries its owner as ``_hints["instance"]``), so the
 * frame cannot name a lazy load; 0 when it may, or when telling would run
 * Python code (a ``self`` held in a cell, a class with its own attribute
 * lookup or a ``_hints`` attribute, hints not an exact dict). Nothing runs
 * between this and the caller's own reading, so both see the same. Never
 * leaves an exception set. */
static int
holds_no_instance_hint(_PyInterpreterFrame *record)
{
    if (self_name == NULL) {
        self_name = PyUnicode_InternFromString("self");
        hints_name = PyUnicode_InternFromString("_hints");
        instance_name = PyUnicode_InternFromString("instance");
        if (self_name == NULL || hints_name == NULL || instance_name == NULL) {
            Py_CLEAR(self_name);
            Py_CLEAR(hints_name);
            Py_CLEAR(instance_name);
            PyErr_Clear();
            return 0;
        }
    }
    PyCodeObject *code = record->f_code;
    PyObject *owner = NULL;
    for (int i = 0; i < code->co_nlocalsplus; i++) {
        PyObject *name = PyTuple_GET_ITEM(code->co_localsplusnames, i);
        if (name == self_name || _PyUnicode_Equal(name, self_name)) {
            /* A plain local: f_locals gives its value as it is. */
            if (_PyLocals_GetKind(code->co_localspluskinds, i) != CO_FAST_LOCAL) {
                return 0;
            }
            owner = record->localsplus[i];
            break;
        }
    }
    if (owner == NULL) {
        return 0;
    }
    PyTypeObject *type = Py_TYPE(owner);
    if (type->tp_getattro != PyObject_GenericGetAttr ||
        _PyType_Lookup(type, hints_name) != NULL) {
        return 0;
    }
    /* Only the instance's own attributes: nothing on the class to call. */
    PyObject *hints = PyObject_GenericGetAttr(owner, hints_name);
    if (hints == NULL) {
        int missing = PyErr_ExceptionMatches(PyExc_AttributeError);
        PyErr_Clear();
        return missing;
    }
    int none = 0;
    if (PyDict_CheckExact(hints)) {
        PyObject *instance = PyDict_GetItemWithError(hints, instance_name);
        if (instance == NULL) {
            none = !PyErr_Occurred();
            PyErr_Clear();
        }
        else {
            none = instance == Py_None;
        }
    }
    Py_DECREF(hints);
    return none;
}

/* sys._getframe, looked up once; borrowed from the sys module after. */
static PyObject *getframe;

/* The frame object ``position`` complete frames above the code calling
 * walk_stack: sys._getframe(position), which makes that frame object only
 * (or, where that raises, the same frame found by stepping back). A new
 * reference, or NULL with an exception set. */
static PyObject *
frame_at(Py_ssize_t position)
{
    if (getframe == NULL) {
        PyObject *found = PySys_GetObject("_getframe");
        if (found == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "sys._getframe is missing");
            return NULL;
        }
        Py_INCREF(found);
        getframe = found;
    }
    PyObject *number = PyLong_FromSsize_t(position);
    if (number == NULL) {
        return NULL;
    }
    PyObject *frame = PyObject_CallOneArg(getframe, number);
    Py_DECREF(number);
    if (frame != NULL || !PyErr_ExceptionMatches(PyExc_Exception)) {
        return frame;
    }
    /* sys._getframe refused (an audit hook that raises on its event, or a
     * replacement): step from the calling frame as caller_frame() does,
     * which raises no audit event but makes a frame object for each frame
     * passed. PyFrame_GetBack skips incomplete records as complete_back. */
    PyErr_Clear();
    PyFrameObject *found = PyEval_GetFrame();
    Py_XINCREF(found);
    for (; position > 0 && found != NULL; position--) {
        PyFrameObject *back = PyFrame_GetBack(found);
        Py_DECREF(found);
        found = back;
    }
    if (found == NULL) {
        PyErr_SetString(PyExc_ValueError, "call stack is not deep enough");
    }
    return (PyObject *)found;
}

/* The telling frames a walk met, innermost first: their kinds (new
 * references) and positions, held in place for the first few (nearly
 * every walk meets none or one) and on the heap past that. */
#define TELLING_IN_PLACE 8

/* What a walk over the frame records met: the user code's "path:line"
 * (or NULL), the memoised lazy load (a new reference, or NULL), the telling
 * frames, the positions of the stopping frame and of the innermost
 * queryset frame (-1 for none), and the queryset frame's record. */
typedef struct {
    PyObject *call_site;
    PyObject *lazy;
    Py_ssize_t stop;
    Py_ssize_t queryset;
    _PyInterpreterFrame *queryset_record;
    Py_ssize_t telling_count;
    Py_ssize_t telling_room;
    PyObject **telling_kinds;
    Py_ssize_t *telling_positions;
    PyObject *kinds_in_place[TELLING_IN_PLACE];
    Py_ssize_t positions_in_place[TELLING_IN_PLACE];
} records_walked;

/* Release what ``w`` holds. */
static void
release_walked(records_walked *w)
{
    Py_CLEAR(w->call_site);
    Py_CLEAR(w->lazy);
    for (Py_ssize_t i = 0; i < w->telling_count; i++) {
        Py_DECREF(w->telling_kinds[i]);
    }
    w->telling_count = 0;
    if (w->telling_kinds != w->kinds_in_place) {
        PyMem_Free(w->telling_kinds);
        PyMem_Free(w->telling_positions);
        w->telling_kinds = w->kinds_in_place;
        w->telling_positions = w->positions_in_place;
        w->telling_room = TELLING_IN_PLACE;
    }
}

/* Add a telling frame of kind ``info`` (a new reference, stolen) at
 * ``position``. 0, or -1 with an exception set (``info`` released). */
static int
add_telling(records_walked *w, PyObject *info, Py_ssize_t position)
{
    if (w->telling_count == w->telling_room) {
        Py_ssize_t room = w->telling_room * 2;
        PyObject **kinds = PyMem_Malloc(room * sizeof(PyObject *));
        Py_ssize_t *positions = PyMem_Malloc(room * sizeof(Py_ssize_t));
        if (kinds == NULL || positions == NULL) {
            PyMem_Free(kinds);
            PyMem_Free(positions);
            Py_DECREF(info);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(kinds, w->telling_kinds, w->telling_count * sizeof(PyObject *));
        memcpy(positions, w->telling_positions,
               w->telling_count * sizeof(Py_ssize_t));
        if (w->telling_kinds != w->kinds_in_place) {
            PyMem_Free(w->telling_kinds);
            PyMem_Free(w->telling_positions);
        }
        w->telling_kinds = kinds;
        w->telling_positions = positions;
        w->telling_room = room;
    }
    w->telling_kinds[w->telling_count] = info;
    w->telling_positions[w->telling_count] = position;
    w->telling_count++;
    return 0;
}

/* How a walk looks up the memo for user code ``code`` at offset ``lasti``
 * reached through one telling frame of ``kind``: the lazy load (borrowed),
 * or NULL, with an exception set on failure. */
typedef PyObject *(*memo_lookup)(void *context, PyCodeObject *code, int lasti,
                                 PyObject *kind);

/* The int 0, the kind of most frames (uninteresting library code). */
static PyObject *zero;

/* PyLong_AsLong(info), read in place for the small ints that frame kinds
 * are (one digit, on 3.11 whose layout this reads). */
static inline long
small_kind(PyObject *info)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyLong_CheckExact(info)) {
        Py_ssize_t size = Py_SIZE(info);
        if (size == 1) {
            return (long)((PyLongObject *)info)->ob_digit[0];
        }
        if (size == -1) {
            return -(long)((PyLongObject *)info)->ob_digit[0];
        }
    }
#endif
    return PyLong_AsLong(info);
}

/* Walk the records from ``skip`` complete frames above the code calling
 * into this module, as walk() walks frames; fill ``out``. 0, or -1 with an
 * exception set (``out`` then holds nothing). */
static int
walk_records(PyObject *code_info, PyObject *classify, long queryset_kind,
             long async_kind, Py_ssize_t max_depth, Py_ssize_t skip,
             memo_lookup lookup, void *context, records_walked *out)
{
    out->call_site = NULL;
    out->lazy = NULL;
    out->stop = -1;
    out->queryset = -1;
    out->queryset_record = NULL;
    out->telling_count = 0;
    out->telling_room = TELLING_IN_PLACE;
    out->telling_kinds = out->kinds_in_place;
    out->telling_positions = out->positions_in_place;
    if (skip < 0) {
        PyErr_SetString(PyExc_ValueError, "walk_stack(): skip must be >= 0");
        return -1;
    }
    /* The records below this call stay on the stack until it returns,
     * whatever classify() runs, so they are read without references. */
    _PyInterpreterFrame *record = PyThreadState_Get()->cframe->current_frame;
    Py_ssize_t position = 0;
    for (; record != NULL && position < skip; position++) {
        record = complete_back(record);
    }
    if (record == NULL) {
        PyErr_SetString(PyExc_ValueError, "call stack is not deep enough");
        return -1;
    }
    unsigned long epoch = cache_epoch;

    for (Py_ssize_t depth = 0; depth < max_depth && record != NULL; depth++) {
        /* Uninteresting library code found in the cache: most frames,
         * passed without a call or a reference. */
        code_entry *entry = &code_cache[code_slot(record->f_code)];
        if (entry->code == (PyObject *)record->f_code && entry->info == zero) {
            record = complete_back(record);
            position++;
            continue;
        }
        PyObject *info = code_kind(code_info, classify, record->f_code, epoch);
        if (info == NULL) {
            goto error;
        }
        if (info == zero) {
            /* Uninteresting library code: most frames. */
            Py_DECREF(info);
            record = complete_back(record);
            position++;
            continue;
        }
        if (PyUnicode_Check(info)) {
            int lasti = record_lasti(record);
            out->call_site = code_site(record->f_code, lasti, info, epoch,
                                       record_line, record);
            Py_DECREF(info);
            if (out->call_site == NULL) {
                goto error;
            }
            out->stop = position;
            if (out->telling_count == 1) {
                out->lazy = lookup(context, record->f_code, lasti,
                                   out->telling_kinds[0]);
                if (out->lazy == NULL && PyErr_Occurred()) {
                    goto error;
                }
                /* Held before anything else is allocated: an allocation can
                 * run a collection, whose callbacks or finalisers (or a
                 * thread they let run) may empty the memo and its cache,
                 * the load's only holders (clear_cache()). */
                Py_XINCREF(out->lazy);
            }
            return 0;
        }
        long kind = small_kind(info);
        if (kind == -1 && PyErr_Occurred()) {
            Py_DECREF(info);
            goto error;
        }
        if (kind == queryset_kind) {
            if (out->queryset < 0) {
                out->queryset = position;
                out->queryset_record = record;
            }
        }
        else if (kind == async_kind) {
            Py_DECREF(info);
            out->stop = position;
            return 0;
        }
        else if (kind != 0) {
            /* Keeps the reference to info. */
            if (add_telling(out, info, position) < 0) {
                goto error;
            }
            info = NULL;
        }
        Py_XDECREF(info);
        record = complete_back(record);
        position++;
    }
    return 0;

error:
    release_walked(out);
    return -1;
}

/* Whether the caller of the walk reads nothing that needs a frame object:
 * the memo held the lazy load, or the walk reached user code past no
 * telling frame and either no queryset frame or one whose self certainly
 * holds no instance hint (so no related manager's). */
static int
needs_no_frames(records_walked *w)
{
    return w->lazy != NULL ||
           (w->call_site != NULL && w->telling_count == 0 &&
            (w->queryset < 0 || holds_no_instance_hint(w->queryset_record)));
}

/* walk()'s 5-tuple for a walk that needs its frames: the frame objects of
 * the stopping, queryset and telling frames made through frame_at().
 * Releases what ``w`` holds, whatever the outcome. A new reference, or
 * NULL with an exception set. */
static PyObject *
walked_with_frames(records_walked *w)
{
    PyObject *stop_frame = NULL;
    PyObject *queryset_frame = NULL;
    PyObject *telling = NULL;
    PyObject *result = NULL;
    if (w->stop >= 0 && (stop_frame = frame_at(w->stop)) == NULL) {
        goto done;
    }
    if (w->queryset >= 0 && (queryset_frame = frame_at(w->queryset)) == NULL) {
        goto done;
    }
    if (w->telling_count > 0) {
        if ((telling = PyList_New(w->telling_count)) == NULL) {
            goto done;
        }
        for (Py_ssize_t i = 0; i < w->telling_count; i++) {
            PyObject *frame = frame_at(w->telling_positions[i]);
            if (frame == NULL) {
                goto done;
            }
            PyObject *pair = PyTuple_Pack(2, w->telling_kinds[i], frame);
            Py_DECREF(frame);
            if (pair == NULL) {
                goto done;
            }
            PyList_SET_ITEM(telling, i, pair);
        }
    }
    result = PyTuple_Pack(
        5,
        w->call_site ? w->call_site : Py_None,
        stop_frame ? stop_frame : Py_None,
        queryset_frame ? queryset_frame : Py_None,
        telling ? telling : Py_None,
        Py_None);

done:
    /* A list part filled holds NULL items, which its release skips. */
    release_walked(w);
    Py_XDECREF(stop_frame);
    Py_XDECREF(queryset_frame);
    Py_XDECREF(telling);
    return result;
}

/* walk_stack()'s memo: memoised_at() with its own scope id and SQL. */
typedef struct {
    PyObject *memo;
    PyObject *scope_id;
    PyObject *sql;
} dict_memo;

static PyObject *
lookup_dict_memo(void *context, PyCodeObject *code, int lasti, PyObject *kind)
{
    dict_memo *m = (dict_memo *)context;
    return memoised_at(m->memo, m->scope_id, m->sql, code, lasti, kind);
}

PyDoc_STRVAR(walk_stack_doc,
"walk_stack(skip, code_info, classify, queryset_kind, async_kind, max_depth,\n"
"           memo, scope_id, sql)\n"
"--\n\n"
"walk(sys._getframe(skip), ...), reading the interpreter's frame records.\n\n"
"The frame objects of the result are made only where the caller can use\n"
"them: when the memo holds the lazy load, or when the walk reached user\n"
"code past no telling frame and either no queryset frame or one whose\n"
"self certainly holds no instance hint (so no related manager's), the\n"
"three frame fields are None (call_site and lazy as walk() gives them).\n"
"CPython 3.11 only.\n"
"Raises ValueError when the stack is not skip frames deep.");

static PyObject *
walk_stack(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    walk_args a;
    if (read_walk_args("walk_stack", args, nargs, &a) < 0) {
        return NULL;
    }
    Py_ssize_t skip = PyLong_AsSsize_t(args[0]);
    if (skip == -1 && PyErr_Occurred()) {
        return NULL;
    }
    dict_memo memo = {a.memo, a.scope_id, a.sql};
    records_walked w;
    if (walk_records(a.code_info, a.classify, a.queryset_kind, a.async_kind,
                     a.max_depth, skip, lookup_dict_memo, &memo, &w) < 0) {
        return NULL;
    }
    if (needs_no_frames(&w)) {
        PyObject *result = PyTuple_Pack(5, w.call_site, Py_None, Py_None,
                                        Py_None, w.lazy ? w.lazy : Py_None);
        release_walked(&w);
        return result;
    }
    return walked_with_frames(&w);
}

/* The Walker's memo: a direct-mapped cache in front of the memo dict.
 *
 * The dict's key is (scope_id, sql, id(code), f_lasti, kind); looking it up
 * meant making three objects and hashing the SQL text, a new string every
 * query. An entry here holds a key the dict held and its value, as the
 * dict held them when the entry was made, tagged with the dict's version
 * (ma_version_tag, which every change to the dict, a clear included,
 * moves on): an entry is used only while the dict is unchanged since, so
 * a hit gives exactly what the dict would. The key is compared field by
 * field: the code object by address (as id(code) in the dict), the SQL
 * by identity, then by content. */
#define MEMO_SLOTS 256

typedef struct {
    uint64_t version; /* 0: empty (the dict's version is never 0) */
    PyObject *memo;   /* the dict it was read from (borrowed: the Walker's) */
    PyObject *scope_id;
    const void *code;
    int lasti;
    long kind;
    PyObject *sql;
    PyObject *lazy;
} memo_entry;

static memo_entry memo_cache[MEMO_SLOTS];

static inline size_t
memo_slot(const void *code, int lasti, long kind)
{
    return (((uintptr_t)code >> 4) ^ ((size_t)lasti * 2654435761u) ^
            ((size_t)kind * 40503u)) &
           (MEMO_SLOTS - 1);
}

/* Empty every memo entry; the references are released after. */
static void
forget_memo(void)
{
    PyObject *held[3 * MEMO_SLOTS];
    size_t count = 0;
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        memo_entry *entry = &memo_cache[i];
        held[count++] = entry->scope_id;
        held[count++] = entry->sql;
        held[count++] = entry->lazy;
        entry->version = 0;
        entry->memo = NULL;
        entry->scope_id = entry->sql = entry->lazy = NULL;
    }
    for (size_t i = 0; i < count; i++) {
        Py_XDECREF(held[i]);
    }
}

#define WALKER_KNOWN_PLAIN 8

typedef struct {
    PyObject_HEAD
    PyObject *code_info;
    PyObject *classify;
    long queryset_kind;
    long async_kind;
    Py_ssize_t max_depth;
    PyObject *memo;
    PyObject *resolve;
    PyObject *plain;
    vectorcallfunc vectorcall;
    /* The first members of ``plain`` (borrowed: the frozenset holds them),
     * where flat_hash_of finds a parameter's type by address. */
    PyObject *known[WALKER_KNOWN_PLAIN];
    Py_ssize_t known_count;
} Walker;

/* The Walker's walk's context: the walker, the query's scope id and SQL
 * (borrowed). */
typedef struct {
    Walker *walker;
    PyObject *scope_id;
    PyObject *sql;
    /* What a replaced entry held, released by the Walker's call once its
     * result holds the lazy load: releasing can run code (a finaliser),
     * which could empty the cache and the dict, the lazy load's only
     * other holders. */
    PyObject *replaced[3];
} walker_memo;

static void
release_replaced(walker_memo *m)
{
    for (int i = 0; i < 3; i++) {
        Py_CLEAR(m->replaced[i]);
    }
}

static PyObject *
lookup_walker_memo(void *context, PyCodeObject *code, int lasti, PyObject *kind)
{
    walker_memo *m = (walker_memo *)context;
    if (m->scope_id == Py_None || m->sql == Py_None) {
        return NULL;
    }
    PyDictObject *memo = (PyDictObject *)m->walker->memo;
    long kind_value = small_kind(kind);
    if (kind_value == -1 && PyErr_Occurred()) {
        return NULL;
    }
    memo_entry *entry = &memo_cache[memo_slot(code, lasti, kind_value)];
    if (entry->version == memo->ma_version_tag &&
        entry->memo == (PyObject *)memo && entry->code == (const void *)code &&
        entry->lasti == lasti && entry->kind == kind_value &&
        PyUnicode_CheckExact(m->sql)) {
        int same = entry->scope_id == m->scope_id;
        if (!same && PyLong_CheckExact(entry->scope_id) &&
            PyLong_CheckExact(m->scope_id)) {
            same = PyObject_RichCompareBool(entry->scope_id, m->scope_id, Py_EQ);
            if (same < 0) {
                return NULL;
            }
        }
        if (same && (entry->sql == m->sql || _PyUnicode_Equal(entry->sql, m->sql))) {
            return entry->lazy;
        }
    }
    PyObject *lazy = memoised_at((PyObject *)memo, m->scope_id, m->sql, code,
                                 lasti, kind);
    if (lazy == NULL || !PyUnicode_CheckExact(m->sql) ||
        !PyLong_CheckExact(m->scope_id)) {
        return lazy;
    }
    /* Found: kept (the dict's key compared equal, so the entry's fields are
     * what the dict holds). The lookup ran no Python code (exact ints, an
     * exact str and ints in the key), so the dict is as it was found. */
    entry = &memo_cache[memo_slot(code, lasti, kind_value)];
    /* A walk looks up the memo once at most: nothing is replaced yet. */
    m->replaced[0] = entry->scope_id;
    m->replaced[1] = entry->sql;
    m->replaced[2] = entry->lazy;
    Py_INCREF(m->scope_id);
    Py_INCREF(m->sql);
    Py_INCREF(lazy);
    entry->version = memo->ma_version_tag;
    entry->memo = (PyObject *)memo;
    entry->scope_id = m->scope_id;
    entry->code = code;
    entry->lasti = lasti;
    entry->kind = kind_value;
    entry->sql = m->sql;
    entry->lazy = lazy;
    return lazy;
}

/* flat_hash(params, plain), defined below, with ``count`` members of
 * ``plain`` in ``known`` (borrowed) to find types among by address. */
static PyObject *flat_hash_of(PyObject *params, PyObject *plain,
                              PyObject *const *known, Py_ssize_t count);

/* The Walker's call, its four results put in ``out`` (new references)
 * rather than in a tuple: what the query recorder in _recorder calls,
 * through the capsule below. 0, or -1 with an exception set. */
static int
walker_origin(PyObject *walker, Py_ssize_t skip, PyObject *scope,
              PyObject *scope_id, PyObject *sql, PyObject *params, PyObject **out)
{
    Walker *self = (Walker *)walker;
    walker_memo memo = {self, scope_id, sql, {NULL, NULL, NULL}};
    records_walked w;
    int walked = walk_records(self->code_info, self->classify,
                              self->queryset_kind, self->async_kind,
                              self->max_depth, skip, lookup_walker_memo, &memo, &w);
    if (walked < 0) {
        release_replaced(&memo);
        return -1;
    }
    if (needs_no_frames(&w)) {
        /* What resolve() would return, without the call. Takes the walk's
         * references to call_site and lazy. */
        out[0] = w.call_site;
        out[1] = w.lazy ? w.lazy : Py_NewRef(Py_None);
        out[2] = Py_NewRef(zero);
        w.call_site = NULL;
        w.lazy = NULL;
        release_replaced(&memo);
        release_walked(&w);
    }
    else {
        /* Only a memo hit replaces an entry, and a hit needs no frame. */
        release_replaced(&memo);
        PyObject *full = walked_with_frames(&w);
        PyObject *origin = full == NULL
                               ? NULL
                               : PyObject_CallFunctionObjArgs(self->resolve, full,
                                                              scope, sql, NULL);
        Py_XDECREF(full);
        if (origin == NULL) {
            return -1;
        }
        if (!PyTuple_CheckExact(origin) || PyTuple_GET_SIZE(origin) != 3) {
            Py_DECREF(origin);
            PyErr_SetString(PyExc_TypeError,
                            "Walker(): resolve must return a 3-tuple");
            return -1;
        }
        for (Py_ssize_t i = 0; i < 3; i++) {
            out[i] = Py_NewRef(PyTuple_GET_ITEM(origin, i));
        }
        Py_DECREF(origin);
    }
    /* The parameters' hash, as the recorder would take it from
     * flat_hash(): None where that gives None or raises an Exception (the
     * recorder then hashes them the general way, which never raises). */
    PyObject *hash = flat_hash_of(params, self->plain, self->known,
                                  self->known_count);
    if (hash == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            for (int i = 0; i < 3; i++) {
                Py_CLEAR(out[i]);
            }
            return -1;
        }
        PyErr_Clear();
        hash = Py_NewRef(Py_None);
    }
    out[3] = hash;
    return 0;
}

static PyObject *
walker_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                  PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 5 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError,
                        "Walker() takes exactly 5 positional arguments");
        return NULL;
    }
    Py_ssize_t skip = PyLong_AsSsize_t(args[0]);
    if (skip == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *out[4];
    if (walker_origin(callable, skip, args[1], args[2], args[3], args[4], out) < 0) {
        return NULL;
    }
    PyObject *result = PyTuple_New(4);
    for (int i = 0; i < 4; i++) {
        if (result == NULL) {
            Py_DECREF(out[i]);
        }
        else {
            PyTuple_SET_ITEM(result, i, out[i]);
        }
    }
    return result;
}

static PyObject *
walker_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *code_info, *classify, *queryset_kind, *async_kind, *max_depth;
    PyObject *memo, *resolve, *plain;
    static char *names[] = {"code_info", "classify", "queryset_kind", "async_kind",
                            "max_depth", "memo", "resolve", "plain", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOOOO!OO!:Walker", names,
                                     &PyDict_Type, &code_info, &classify,
                                     &queryset_kind, &async_kind, &max_depth,
                                     &PyDict_Type, &memo, &resolve,
                                     &PyFrozenSet_Type, &plain)) {
        return NULL;
    }
    if (!PyCallable_Check(classify) || !PyCallable_Check(resolve)) {
        PyErr_SetString(PyExc_TypeError,
                        "Walker(): classify and resolve must be callable");
        return NULL;
    }
    long queryset_value = PyLong_AsLong(queryset_kind);
    if (queryset_value == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long async_value = PyLong_AsLong(async_kind);
    if (async_value == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t depth = PyLong_AsSsize_t(max_depth);
    if (depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Walker *self = (Walker *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(code_info);
    Py_INCREF(classify);
    Py_INCREF(memo);
    Py_INCREF(resolve);
    Py_INCREF(plain);
    self->plain = plain;
    self->code_info = code_info;
    self->classify = classify;
    self->queryset_kind = queryset_value;
    self->async_kind = async_value;
    self->max_depth = depth;
    self->memo = memo;
    self->resolve = resolve;
    self->vectorcall = walker_vectorcall;
    self->known_count = 0;
    /* A frozenset's iteration runs no Python code (a subclass's could, and
     * give what the set does not hold: none is known then). */
    PyObject *members = PyFrozenSet_CheckExact(plain) ? PyObject_GetIter(plain) : NULL;
    PyObject *member;
    while (members != NULL && self->known_count < WALKER_KNOWN_PLAIN
           && (member = PyIter_Next(members)) != NULL) {
        /* Borrowed: the frozenset, which the walker holds, holds it. */
        self->known[self->known_count++] = member;
        Py_DECREF(member);
    }
    Py_XDECREF(members);
    if (PyErr_Occurred()) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
walker_traverse(Walker *self, visitproc visit, void *arg)
{
    Py_VISIT(self->code_info);
    Py_VISIT(self->classify);
    Py_VISIT(self->memo);
    Py_VISIT(self->resolve);
    Py_VISIT(self->plain);
    return 0;
}

static int
walker_clear(Walker *self)
{
    Py_CLEAR(self->code_info);
    Py_CLEAR(self->classify);
    Py_CLEAR(self->memo);
    Py_CLEAR(self->resolve);
    Py_CLEAR(self->plain);
    return 0;
}

static void
walker_dealloc(Walker *self)
{
    PyObject_GC_UnTrack(self);
    /* Entries read from this walker's memo dict: its address may be reused. */
    forget_memo();
    walker_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(walker_doc,
"Walker(code_info, classify, queryset_kind, async_kind, max_depth, memo,\n"
"       resolve, plain)\n"
"--\n\n"
"walk_stack() with its settings bound, returning the query's origin and\n"
"its parameters' hash.\n\n"
"walker(skip, scope, scope_id, sql, params) returns (call_site, lazy,\n"
"bulk_call, params_hash): the first three what resolve(walk_stack(skip,\n"
"..., scope_id, sql), scope, sql) returns, (call_site, lazy, 0) without\n"
"calling resolve when walk_stack would make no frame; params_hash is\n"
"flat_hash(params, plain), None where that is None or raises an\n"
"Exception. The memo is looked up through a small cache that gives what\n"
"the dict holds without hashing the SQL; scope_id must be scope.id, or\n"
"None for no scope. CPython 3.11 only.");

static PyTypeObject WalkerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "perfprobe.db._callsite.Walker",
    .tp_doc = walker_doc,
    .tp_basicsize = sizeof(Walker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = walker_new,
    .tp_dealloc = (destructor)walker_dealloc,
    .tp_traverse = (traverseproc)walker_traverse,
    .tp_clear = (inquiry)walker_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Walker, vectorcall),
};

/* The Walker for the query recorder in _recorder, which calls it without
 * a result tuple: the capsule ``_walker_api`` holds this (_walkerapi.h). */
static walker_api_t walker_api = {WALKER_API_VERSION, &WalkerType, walker_origin};
#endif

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

PyDoc_STRVAR(flat_hash_doc,
"flat_hash(params, plain)\n"
"--\n\n"
"Return hash((type(params), tuple(map(type, params)), tuple(params))) for\n"
"a list or tuple whose items' exact types are all in the frozenset plain;\n"
"None for anything else (the caller hashes it the general way).");

/* flat_hash_of()'s hash by the key tuple itself, for ``values`` (a tuple
 * of the parameters, all of plain types). */
static PyObject *
flat_hash_slow(PyObject *params, PyObject *values)
{
    Py_ssize_t count = PyTuple_GET_SIZE(values);
    PyObject *types = PyTuple_New(count);
    if (types == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *kind = (PyObject *)Py_TYPE(PyTuple_GET_ITEM(values, i));
        PyTuple_SET_ITEM(types, i, Py_NewRef(kind));
    }
    PyObject *key = PyTuple_Pack(3, (PyObject *)Py_TYPE(params), types, values);
    Py_DECREF(types);
    if (key == NULL) {
        return NULL;
    }
    Py_hash_t hash = PyObject_Hash(key);
    Py_DECREF(key);
    if (hash == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromSsize_t(hash);
}

/* A tuple's hash worked out item by item, with no tuple made: the
 * xxHash-based scheme CPython has used for tuples since 3.8. Used only once
 * tuple_hash_holds() has found it gives what hash() gives here. */
#if SIZEOF_PY_UHASH_T > 4
#define TUPLE_PRIME_1 ((Py_uhash_t)11400714785074694791ULL)
#define TUPLE_PRIME_2 ((Py_uhash_t)14029467366897019727ULL)
#define TUPLE_PRIME_5 ((Py_uhash_t)2870177450012600261ULL)
#define TUPLE_ROTATE(x) (((x) << 31) | ((x) >> 33))
#else
#define TUPLE_PRIME_1 ((Py_uhash_t)2654435761UL)
#define TUPLE_PRIME_2 ((Py_uhash_t)2246822519UL)
#define TUPLE_PRIME_5 ((Py_uhash_t)374761393UL)
#define TUPLE_ROTATE(x) (((x) << 13) | ((x) >> 19))
#endif

static inline Py_uhash_t
tuple_hash_add(Py_uhash_t acc, Py_hash_t item_hash)
{
    acc += (Py_uhash_t)item_hash * TUPLE_PRIME_2;
    acc = TUPLE_ROTATE(acc);
    return acc * TUPLE_PRIME_1;
}

static inline Py_hash_t
tuple_hash_end(Py_uhash_t acc, Py_ssize_t length)
{
    acc += (Py_uhash_t)length ^ (TUPLE_PRIME_5 ^ 3527539UL);
    return acc == (Py_uhash_t)-1 ? 1546275796 : (Py_hash_t)acc;
}

/* 1 when tuple_hash_add/end give this interpreter's tuple hashes, 0 when
 * they do not (flat_hash_of then makes its key tuple, as it used to), -1
 * not yet known. */
static int tuple_hash_state = -1;

static int
tuple_hash_holds(void)
{
    if (tuple_hash_state >= 0) {
        return tuple_hash_state;
    }
    PyObject *sample = Py_BuildValue("(is(O)())", 17, "perfprobe", Py_None);
    if (sample == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_hash_t expected = PyObject_Hash(sample);
    Py_uhash_t acc = TUPLE_PRIME_5;
    for (Py_ssize_t i = 0; i < 2; i++) {
        acc = tuple_hash_add(acc, PyObject_Hash(PyTuple_GET_ITEM(sample, i)));
    }
    /* The nested ones: (None,) and (). */
    Py_hash_t inner = tuple_hash_end(tuple_hash_add(TUPLE_PRIME_5, PyObject_Hash(Py_None)), 1);
    acc = tuple_hash_add(acc, inner);
    acc = tuple_hash_add(acc, tuple_hash_end(TUPLE_PRIME_5, 0));
    Py_DECREF(sample);
    if (expected == -1) {
        PyErr_Clear();
        return 0;
    }
    tuple_hash_state = tuple_hash_end(acc, 4) == expected;
    return tuple_hash_state;
}

/* Whether a value of exact type ``kind`` hashes, and ``kind`` itself
 * hashes, without running any Python code. */
static inline int
hashes_quietly(PyTypeObject *kind)
{
    return kind == &PyUnicode_Type || kind == &PyLong_Type || kind == &PyBool_Type
           || kind == Py_TYPE(Py_None) || kind == &PyBytes_Type;
}

/* flat_hash_of() for ``count`` items whose exact types are all plain, by
 * the tuple hash worked out above: the same as hashing the key tuple. */
static PyObject *
flat_hash_quick(PyObject *params, PyObject *const *items, Py_ssize_t count)
{
    Py_uhash_t types = TUPLE_PRIME_5;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_hash_t h = PyObject_Hash((PyObject *)Py_TYPE(items[i]));
        if (h == -1) {
            return NULL;
        }
        types = tuple_hash_add(types, h);
    }
    Py_uhash_t values = TUPLE_PRIME_5;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_hash_t h = PyObject_Hash(items[i]);
        if (h == -1) {
            return NULL;
        }
        values = tuple_hash_add(values, h);
    }
    Py_hash_t kind = PyObject_Hash((PyObject *)Py_TYPE(params));
    if (kind == -1) {
        return NULL;
    }
    Py_uhash_t key = tuple_hash_add(TUPLE_PRIME_5, kind);
    key = tuple_hash_add(key, tuple_hash_end(types, count));
    key = tuple_hash_add(key, tuple_hash_end(values, count));
    return PyLong_FromSsize_t(tuple_hash_end(key, 3));
}

static PyObject *
flat_hash_of(PyObject *params, PyObject *plain, PyObject *const *known,
             Py_ssize_t known_count)
{
    PyObject *values;
    if (PyTuple_CheckExact(params)) {
        Py_INCREF(params);
        values = params;
    }
    else if (PyList_CheckExact(params)) {
        /* A list read in place only while nothing can run that changes
         * it: every item's type known by address and hashing quietly. */
        Py_ssize_t count = PyList_GET_SIZE(params);
        PyObject *const *items = ((PyListObject *)params)->ob_item;
        Py_ssize_t i = 0;
        for (; i < count; i++) {
            PyTypeObject *kind = Py_TYPE(items[i]);
            Py_ssize_t k = 0;
            while (k < known_count && known[k] != (PyObject *)kind) {
                k++;
            }
            if (k == known_count || !hashes_quietly(kind)) {
                break;
            }
        }
        if (i == count && tuple_hash_holds() == 1) {
            return flat_hash_quick(params, items, count);
        }
        values = PyList_AsTuple(params);
        if (values == NULL) {
            return NULL;
        }
    }
    else {
        Py_RETURN_NONE;
    }
    /* A tuple does not change: its items stay while their types are read
     * and while they are hashed. */
    Py_ssize_t count = PyTuple_GET_SIZE(values);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *kind = (PyObject *)Py_TYPE(PyTuple_GET_ITEM(values, i));
        /* A member found by address is one the set holds. */
        Py_ssize_t k = 0;
        while (k < known_count && known[k] != kind) {
            k++;
        }
        int found = k < known_count ? 1 : PySet_Contains(plain, kind);
        if (found <= 0) {
            Py_DECREF(values);
            if (found < 0) {
                return NULL;
            }
            Py_RETURN_NONE;
        }
    }
    PyObject *hash;
    if (tuple_hash_holds() == 1) {
        hash = flat_hash_quick(params, &PyTuple_GET_ITEM(values, 0), count);
    }
    else {
        hash = flat_hash_slow(params, values);
    }
    Py_DECREF(values);
    return hash;
}

static PyObject *
flat_hash(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "flat_hash() takes exactly 2 arguments");
        return NULL;
    }
    if (!PyFrozenSet_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "flat_hash(): plain must be a frozenset");
        return NULL;
    }
    return flat_hash_of(args[0], args[1], NULL, 0);
}

PyDoc_STRVAR(forget_doc,
"forget()\n"
"--\n\n"
"Empty the walk's caches of code kinds and call sites.");

static PyObject *
forget(PyObject *module, PyObject *unused)
{
    /* Every entry is emptied before any reference is released: releasing
     * can run arbitrary code, which could walk again. */
    /* On the heap: 32 KiB, as much as the smallest stack a thread may
     * have (threading.stack_size(32768)). */
    PyObject **held = PyMem_Malloc(2 * (CODE_SLOTS + SITE_SLOTS) * sizeof(PyObject *));
    if (held == NULL) {
        return PyErr_NoMemory();
    }
    size_t count = 0;
    cache_epoch++;
    for (size_t i = 0; i < CODE_SLOTS; i++) {
        held[count++] = code_cache[i].code;
        held[count++] = code_cache[i].info;
        code_cache[i].code = code_cache[i].info = NULL;
    }
    for (size_t i = 0; i < SITE_SLOTS; i++) {
        held[count++] = site_cache[i].code;
        held[count++] = site_cache[i].site;
        site_cache[i].code = site_cache[i].site = NULL;
    }
    for (size_t i = 0; i < count; i++) {
        Py_XDECREF(held[i]);
    }
    PyMem_Free(held);
#ifdef PERFPROBE_FRAME_RECORDS
    forget_memo();
#endif
    Py_RETURN_NONE;
}

static PyMethodDef callsite_methods[] = {
    {"forget", forget, METH_NOARGS, forget_doc},
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL, walk_doc},
    {"caller_frame", caller_frame, METH_O, caller_frame_doc},
    {"flat_hash", (PyCFunction)(void (*)(void))flat_hash, METH_FASTCALL,
     flat_hash_doc},
#ifdef PERFPROBE_FRAME_RECORDS
    {"walk_stack", (PyCFunction)(void (*)(void))walk_stack, METH_FASTCALL,
     walk_stack_doc},
#endif
    {NULL, NULL, 0, NULL},
};

#ifdef PERFPROBE_FRAME_RECORDS
static int
callsite_exec(PyObject *module)
{
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return -1;
    }
    if (PyType_Ready(&WalkerType) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Walker", (PyObject *)&WalkerType) < 0) {
        return -1;
    }
    PyObject *api = PyCapsule_New(&walker_api, WALKER_API_NAME, NULL);
    if (api == NULL) {
        return -1;
    }
    int added = PyModule_AddObjectRef(module, "_walker_api", api);
    Py_DECREF(api);
    return added;
}
#endif

static struct PyModuleDef_Slot callsite_slots[] = {
#ifdef PERFPROBE_FRAME_RECORDS
    {Py_mod_exec, callsite_exec},
#endif
#if PY_VERSION_HEX >= 0x030C0000
    /* The caches are process state, shared by whatever imports this. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
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
