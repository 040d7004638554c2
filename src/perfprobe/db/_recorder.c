/* The query recorder's common path of perfprobe.db.instrument, in C.
 *
 * Django calls the recorder at every query, through a functools.partial
 * that vectorcalls into it. In Python its common path (settings on, no
 * suppression mark, a quick query nobody needs at once) ran some 190
 * bytecodes a query; here the same steps are C calls. Everything else is
 * handed to the Python code in instrument.py, which remains the definition
 * of the behaviour and the recorder where this extension is not built:
 *
 * - before ``execute`` is called (no settings cached, a batch, arguments
 *   by keyword, no C walk, anything that raised), the Python recorder
 *   takes the whole call;
 * - after it (the query raised, or something needs its event now), the
 *   eager path ``instrument._record`` records it.
 *
 * What tests and users replace at run time is read at every call, as the
 * Python recorder reads it: the instrument module's globals (the clocks,
 * ``_keep_record``, ``QUERY_BATCH``, ``_record``, ``_params_hash``,
 * ``sql_text``), ``conf.loaded``, ``monitoring.monitor``, the tracing
 * module's ``active``, ``no_tracer_until_ns`` and ``get_tracer``, and
 * ``callsite._origin``. The recorder adds no Python frame, so it asks the
 * walk for the origin from the frame calling it (skip 0, where the Python
 * recorder skips its own frame).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "../_timebuiltin.h"
#include "_walkerapi.h"
/* T_OBJECT_EX, the kind of a __slots__ member. */
#include "structmember.h"

/* CPython 3.11 only: the layout of an instance's attribute values kept
 * without a dict (see value_read). It changes between minor versions, so
 * other versions read those attributes the generic way. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define PERFPROBE_INLINE_VALUES 1
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include "internal/pycore_dict.h"
#undef Py_BUILD_CORE
#endif

/* Bound once by bind(); held for the process. */
static PyObject *instrument_globals, *conf_dict, *monitoring_dict, *tracing_dict,
    *callsite_dict;
static PyObject *scope_var;       /* scope.current_scope, also the mark */
static PyObject *python_recorder; /* the Python recorder, for handing over */
static PyObject *log_answers;     /* the logger's cache of level answers */
static PyObject *logger;
static PyObject *perf_counter_ns, *wall_time; /* time's own functions, or NULL */
static PyObject *debug_level, *zero, *one;

/* Interned names, made by bind(). */
static PyObject *s_loaded, *s_ENABLED, *s_INSTRUMENT_DATABASE, *s_suppressed,
    *s_origin, *s_perf_counter_ns, *s_time, *s_monitor, *s_collector,
    *s_STORE_SQL_PARAMETERS, *s_SLOW_QUERY_SECONDS, *s_time_scale, *s_listeners,
    *s_items, *s_active, *s_no_tracer_until_ns, *s_get_tracer, *s_isEnabledFor,
    *s_thread_logs, *s_local, *s_log, *s_register_thread, *s_open_blocks,
    *s_sql_text, *s_cursor, *s_get, *s_id, *s_params_hash, *s_connection,
    *s_alias, *s_vendor, *s_queries, *s_spare, *s_thread_id, *s_keep_record,
    *s_pop, *s_append, *s_QUERY_BATCH, *s_fold_thread_queries, *s_record,
    *s_record_failed;

/* A new reference to dict[name], or NULL with an exception set (NameError
 * where it is missing, as a global read would raise). */
static PyObject *
global(PyObject *dict, PyObject *name)
{
    PyObject *value = PyDict_GetItemWithError(dict, name);
    if (value == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_NameError, "name %R is not defined", name);
        }
        return NULL;
    }
    Py_INCREF(value);
    return value;
}

/* What a module global read last found, kept while its dict is unchanged:
 * on CPython 3.11 a dict's version tag changes with every change to it,
 * so an unchanged tag means the dict still holds the value (a borrowed
 * reference). The interpreter's LOAD_GLOBAL keeps the same; a dict
 * lookup by name costs some fifty instructions, and the recorder reads
 * about ten globals a query. */
typedef struct {
    uint64_t version;
    PyObject *value;
} global_cache;

static global_cache c_loaded, c_monitor, c_origin, c_perf_counter_ns, c_time,
    c_active, c_no_tracer_until_ns, c_keep_record, c_QUERY_BATCH;

/* global(dict, name), through ``cache``. */
static PyObject *
cached_global(PyObject *dict, PyObject *name, global_cache *cache)
{
#if PY_VERSION_HEX < 0x030C0000
    uint64_t version = ((PyDictObject *)dict)->ma_version_tag;
    if (cache->value != NULL && cache->version == version) {
        return Py_NewRef(cache->value);
    }
    PyObject *value = global(dict, name);
    if (value != NULL) {
        cache->version = version;
        cache->value = value;
    }
    return value;
#else
    (void)cache;
    return global(dict, name);
#endif
}

static void
forget_globals(void)
{
    global_cache *caches[] = {&c_loaded,  &c_monitor,   &c_origin,
                              &c_perf_counter_ns, &c_time, &c_active,
                              &c_no_tracer_until_ns, &c_keep_record,
                              &c_QUERY_BATCH};
    for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++) {
        caches[i]->value = NULL;
    }
}

/* Bound by bind(); NULL where perfprobe.db._callsite has no capsule
 * (_walkerapi.h). */
static const walker_api_t *walker_api;

/* Where a __slots__ attribute of one class lies in its instances, found
 * by the class's version tag, which changes with any change to the class
 * (what the interpreter's LOAD_ATTR_SLOT keeps). The thread log's four
 * slots are read every query; a generic read looks the name up in the
 * type attribute cache, which the rest of a request evicts, and then in
 * the class dictionaries. Version tags are never reused, so a type freed
 * and another made at its address cannot match. */
typedef struct {
    PyTypeObject *type;
    unsigned int version;
    Py_ssize_t offset;
} slot_cache;

static slot_cache c_open_blocks, c_queries, c_spare, c_thread_id;

/* obj.name, as PyObject_GetAttr() gives it, through ``cache``. */
static PyObject *
slot_read(PyObject *obj, PyObject *name, slot_cache *cache)
{
    PyTypeObject *type = Py_TYPE(obj);
    if (type == cache->type && type->tp_version_tag == cache->version
        && PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) {
        PyObject *value = *(PyObject **)((char *)obj + cache->offset);
        if (value != NULL) {
            return Py_NewRef(value);
        }
        /* Unset: the generic read raises the AttributeError. */
        return PyObject_GetAttr(obj, name);
    }
    cache->type = NULL;
    if (type->tp_getattro == PyObject_GenericGetAttr) {
        /* A member descriptor is a data descriptor: it wins over any
         * instance dictionary, so the slot is what the read gives. */
        PyObject *descr = _PyType_Lookup(type, name);
        if (descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type)
            && PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) {
            PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
            if (member->type == T_OBJECT_EX) {
                cache->type = type;
                cache->version = type->tp_version_tag;
                cache->offset = member->offset;
            }
        }
    }
    return PyObject_GetAttr(obj, name);
}

/* Where an instance attribute of one class lies among its instances'
 * attribute values, found by the class's version tag, as the
 * interpreter's LOAD_ATTR_INSTANCE_VALUE keeps it. On 3.11 an instance of
 * a Python class without __slots__ keeps its attributes in an array of
 * values (no dict until one is asked for), in the order of its class's
 * shared keys, which only grow: a name's index never changes. A generic
 * read looks the name up in the class (a type attribute cache miss once
 * the rest of a request has run) and then in the shared keys, some 250
 * instructions; the recorder reads five such attributes a query. The
 * class holds no data descriptor of the name (one would win over the
 * instance's value) while its version tag and that of the class attribute's
 * type (a non-data descriptor, or none) are unchanged. */
typedef struct {
    PyTypeObject *type;
    unsigned int version;
    PyTypeObject *descr_type; /* NULL: no class attribute of the name */
    unsigned int descr_version;
    void *keys;
    Py_ssize_t index;
} value_cache;

static value_cache c_collector, c_time_scale, c_items, c_suppressed, c_id;

#ifdef PERFPROBE_INLINE_VALUES
/* The instance's values, NULL where it has a dict instead (3.11's
 * _PyObject_ValuesPointer: two words before the object's header). */
static inline PyDictValues *
inline_values(PyObject *obj)
{
    return *(((PyDictValues **)obj) - 4);
}

/* Fill ``cache`` for reading ``name`` from instances of ``type``, or leave
 * it empty where the read must stay generic. Runs no Python code. */
static void
learn_value(PyTypeObject *type, PyObject *name, value_cache *cache)
{
    cache->type = NULL;
    if (!PyType_HasFeature(type, Py_TPFLAGS_MANAGED_DICT)
        || !PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE)
        || type->tp_getattro != PyObject_GenericGetAttr
        || !PyUnicode_CheckExact(name)) {
        return;
    }
    /* Gives the class a version tag, if it can have one. */
    PyObject *descr = _PyType_Lookup(type, name);
    if (!PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)
        || type->tp_version_tag == 0) {
        return;
    }
    PyTypeObject *descr_type = NULL;
    unsigned int descr_version = 0;
    if (descr != NULL) {
        descr_type = Py_TYPE(descr);
        /* A data descriptor wins over the instance's value. */
        if (descr_type->tp_descr_set != NULL) {
            return;
        }
        (void)_PyType_Lookup(descr_type, name);
        if (!PyType_HasFeature(descr_type, Py_TPFLAGS_VALID_VERSION_TAG)
            || descr_type->tp_version_tag == 0) {
            return;
        }
        descr_version = descr_type->tp_version_tag;
    }
    PyDictKeysObject *keys = ((PyHeapTypeObject *)type)->ht_cached_keys;
    if (keys == NULL || keys->dk_kind != DICT_KEYS_SPLIT) {
        return;
    }
    PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        PyObject *key = entries[i].me_key;
        /* Both exact str: their comparison runs no Python code. */
        if (key == name || (key != NULL && _PyUnicode_Equal(key, name))) {
            cache->version = type->tp_version_tag;
            cache->descr_type = descr_type;
            cache->descr_version = descr_version;
            cache->keys = keys;
            cache->index = i;
            cache->type = type;
            return;
        }
    }
}
#endif

/* obj.name, as PyObject_GetAttr() gives it, through ``cache``. */
static PyObject *
value_read(PyObject *obj, PyObject *name, value_cache *cache)
{
#ifdef PERFPROBE_INLINE_VALUES
    PyTypeObject *type = Py_TYPE(obj);
    /* A class changed since has another version tag (0 until it is given
     * a new one); version tags are never reused. */
    if (type == cache->type && type->tp_version_tag == cache->version
        && (cache->descr_type == NULL
            || cache->descr_type->tp_version_tag == cache->descr_version)
        && ((PyHeapTypeObject *)type)->ht_cached_keys == cache->keys) {
        PyDictValues *values = inline_values(obj);
        if (values != NULL) {
            PyObject *value = values->values[cache->index];
            if (value != NULL) {
                return Py_NewRef(value);
            }
        }
        /* A dict, or no value of its own: the class's attribute, if any. */
        return PyObject_GetAttr(obj, name);
    }
    learn_value(type, name, cache);
#else
    (void)cache;
#endif
    return PyObject_GetAttr(obj, name);
}

/* The truth of obj.name: 1, 0, or -1 with an exception set. */
static int
attr_true(PyObject *obj, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
}

/* instrument._perf_counter_ns(), read without a call while it is
 * time.perf_counter_ns itself. 0, or -1 with an exception set. */
static int
clock_ns(long long *out)
{
    PyObject *clock = cached_global(instrument_globals, s_perf_counter_ns, &c_perf_counter_ns);
    if (clock == NULL) {
        return -1;
    }
    if (clock == perf_counter_ns) {
        Py_DECREF(clock);
#if PY_VERSION_HEX >= 0x030D0000
        PyTime_t t;
        if (PyTime_PerfCounter(&t) < 0) {
            return -1;
        }
#else
        _PyTime_t t;
        if (_PyTime_GetPerfCounterWithInfo(&t, NULL) < 0) {
            return -1;
        }
#endif
        *out = (long long)t;
        return 0;
    }
    PyObject *value = PyObject_CallNoArgs(clock);
    Py_DECREF(clock);
    if (value == NULL) {
        return -1;
    }
    long long t = PyLong_AsLongLong(value);
    Py_DECREF(value);
    if (t == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = t;
    return 0;
}

/* instrument._time(): a new reference, or NULL with an exception set. */
static PyObject *
clock_s(void)
{
    PyObject *clock = cached_global(instrument_globals, s_time, &c_time);
    if (clock == NULL) {
        return NULL;
    }
    if (clock != wall_time) {
        PyObject *value = PyObject_CallNoArgs(clock);
        Py_DECREF(clock);
        return value;
    }
    Py_DECREF(clock);
#if PY_VERSION_HEX >= 0x030D0000
    PyTime_t t;
    if (PyTime_Time(&t) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble(PyTime_AsSecondsDouble(t));
#else
    _PyTime_t t;
    if (_PyTime_GetSystemClockWithInfo(&t, NULL) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble(_PyTime_AsSecondsDouble(t));
#endif
}

/* Set ``context`` (a normalised exception, taken) as the __context__ of
 * the exception now set, as raising in an except block does. */
static void
chain_onto(PyObject *context)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && value != context) {
        PyException_SetContext(value, context);
    }
    else {
        Py_DECREF(context);
    }
    PyErr_Restore(type, value, tb);
}

/* The exception now set, normalised and holding its traceback, as an
 * except block sees it: a new reference (never NULL). */
static PyObject *
take_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
        Py_DECREF(tb);
    }
    Py_XDECREF(type);
    return value;
}

/* Set ``exc`` (taken) as the exception being raised, with the traceback
 * it holds. */
static void
raise_again(PyObject *exc)
{
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc,
                  PyException_GetTraceback(exc));
}

/* Call fn(args...) with ``exc`` as the exception being handled (what
 * sys.exc_info() gives), as the Python recorder calls from its except
 * blocks. A new reference, or NULL with an exception set. */
static PyObject *
call_handling(PyObject *exc, PyObject *fn, PyObject *const *args, size_t nargs)
{
    PyObject *previous = PyErr_GetHandledException();
    PyErr_SetHandledException(exc);
    PyObject *result = PyObject_Vectorcall(fn, args, nargs, NULL);
    PyErr_SetHandledException(previous);
    Py_XDECREF(previous);
    return result;
}

/* The eager path: instrument._record(conf, sql, params, many, context,
 * started_at, elapsed_ns, exc, 1), one frame up being the code that called
 * the recorder. 0, or -1 with an exception set. */
static int
record_eagerly(PyObject *conf, PyObject *const *args, PyObject *started_at,
               long long elapsed_ns, PyObject *exc)
{
    PyObject *record = global(instrument_globals, s_record);
    if (record == NULL) {
        return -1;
    }
    PyObject *elapsed = PyLong_FromLongLong(elapsed_ns);
    if (elapsed == NULL) {
        Py_DECREF(record);
        return -1;
    }
    PyObject *call_args[9] = {conf,       args[1], args[2],
                              args[3],    args[4], started_at,
                              elapsed,    exc ? exc : Py_None, one};
    PyObject *done = exc ? call_handling(exc, record, call_args, 9)
                         : PyObject_Vectorcall(record, call_args, 9, NULL);
    Py_DECREF(elapsed);
    Py_DECREF(record);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    return 0;
}

/* The settings last read, and what the recorder reads of them. The
 * settings are a frozen dataclass, replaced (never changed) when they
 * change, so their answers hold while conf.loaded is the same object;
 * held, so that its address cannot be reused by other settings. */
static PyObject *seen_conf, *seen_slow;
static int seen_on, seen_store;

/* Make seen_* the answers of ``conf``. 0, or -1 with an exception set. */
static int
read_conf(PyObject *conf)
{
    if (conf == seen_conf) {
        return 0;
    }
    int on = attr_true(conf, s_ENABLED);
    if (on > 0) {
        on = attr_true(conf, s_INSTRUMENT_DATABASE);
    }
    int store = on < 0 ? -1 : attr_true(conf, s_STORE_SQL_PARAMETERS);
    PyObject *slow = store < 0 ? NULL : PyObject_GetAttr(conf, s_SLOW_QUERY_SECONDS);
    if (slow == NULL) {
        return -1;
    }
    PyObject *old[2] = {seen_conf, seen_slow};
    seen_conf = Py_NewRef(conf);
    seen_slow = slow;
    seen_on = on;
    seen_store = store;
    Py_XDECREF(old[0]);
    Py_XDECREF(old[1]);
    return 0;
}

/* The parts of the collector last seen that it sets once, in its
 * __init__, and never replaces: its listener list (whose ``items`` are
 * read at every query) and its thread logs' thread-local storage (whose
 * ``log`` is). Known by a weak reference to the collector, so that a
 * collector replaced can go. Three attribute reads a query fewer: each
 * misses the type attribute cache, which the rest of a request evicts. */
static PyObject *seen_collector_ref, *seen_listeners, *seen_local;

/* Make seen_* those of ``collector``. 0, or -1 with an exception set. */
static int
read_collector(PyObject *collector)
{
    if (seen_collector_ref != NULL
        && PyWeakref_GET_OBJECT(seen_collector_ref) == collector) {
        return 0;
    }
    PyObject *listeners = PyObject_GetAttr(collector, s_listeners);
    if (listeners == NULL) {
        return -1;
    }
    PyObject *logs = PyObject_GetAttr(collector, s_thread_logs);
    PyObject *local = logs == NULL ? NULL : PyObject_GetAttr(logs, s_local);
    Py_XDECREF(logs);
    PyObject *ref = local == NULL ? NULL : PyWeakref_NewRef(collector, NULL);
    if (ref == NULL) {
        Py_DECREF(listeners);
        Py_XDECREF(local);
        return -1;
    }
    /* All three replaced before the old ones are released, whose release
     * may run code (a finaliser) that lets another thread record. */
    PyObject *old[3] = {seen_collector_ref, seen_listeners, seen_local};
    seen_collector_ref = ref;
    seen_listeners = listeners;
    seen_local = local;
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(old[i]);
    }
    return 0;
}

/* A connection's alias and vendor, which Django sets once (the vendor is
 * a class attribute), kept for the connection last seen, known by a weak
 * reference. read_connection() makes seen_alias and seen_vendor those of
 * ``connection``: 0, or -1 with an exception set. */
static PyObject *seen_connection_ref, *seen_alias, *seen_vendor;

static int
read_connection(PyObject *connection)
{
    if (seen_connection_ref != NULL
        && PyWeakref_GET_OBJECT(seen_connection_ref) == connection) {
        return 0;
    }
    PyObject *alias = PyObject_GetAttr(connection, s_alias);
    PyObject *vendor = alias == NULL ? NULL : PyObject_GetAttr(connection, s_vendor);
    if (vendor == NULL) {
        Py_XDECREF(alias);
        return -1;
    }
    PyObject *ref = PyWeakref_NewRef(connection, NULL);
    if (ref == NULL) {
        /* Not weakly referable: read every time. */
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            Py_DECREF(alias);
            Py_DECREF(vendor);
            return -1;
        }
        PyErr_Clear();
    }
    PyObject *old[3] = {seen_connection_ref, seen_alias, seen_vendor};
    seen_connection_ref = ref;
    seen_alias = alias;
    seen_vendor = vendor;
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(old[i]);
    }
    return 0;
}

/* tracing.no_tracer_until_ns as last read (held, so that its address
 * cannot be another int's), and its value. */
static PyObject *seen_until;
static long long seen_until_ns;
static int seen_until_overflow;

/* The version tag of the logger's answers when last read, and whether
 * they then said debug logging was off. */
static uint64_t answers_version;
static int answers_quiet;

/* Whether the query's event is needed now (the eager path): stored
 * parameters, a slow query, a listener, a span to make, debug logging.
 * 1 for eager, 0 for the raw log, -1 with an exception set. */
static int
needs_event(PyObject *conf, PyObject *collector, double duration_s,
            long long end_ns)
{
    if (read_conf(conf) < 0) {
        return -1;
    }
    if (seen_store) {
        return 1;
    }
    /* duration_s <= conf.SLOW_QUERY_SECONDS * collector.time_scale */
    PyObject *slow = Py_NewRef(seen_slow);
    PyObject *scale = value_read(collector, s_time_scale, &c_time_scale);
    if (scale == NULL) {
        Py_DECREF(slow);
        return -1;
    }
    int truth;
    int quick;
    if (PyFloat_CheckExact(slow) && PyFloat_CheckExact(scale)) {
        quick = duration_s <= PyFloat_AS_DOUBLE(slow) * PyFloat_AS_DOUBLE(scale);
    }
    else {
        PyObject *threshold = PyNumber_Multiply(slow, scale);
        PyObject *duration = PyFloat_FromDouble(duration_s);
        quick = threshold == NULL || duration == NULL
                    ? -1
                    : PyObject_RichCompareBool(duration, threshold, Py_LE);
        Py_XDECREF(threshold);
        Py_XDECREF(duration);
    }
    Py_DECREF(slow);
    Py_DECREF(scale);
    if (quick <= 0) {
        return quick < 0 ? -1 : 1;
    }
    if (read_collector(collector) < 0) {
        return -1;
    }
    /* Held: reading ``items`` could run code that sees another collector. */
    PyObject *held = Py_NewRef(seen_listeners);
    PyObject *items = value_read(held, s_items, &c_items);
    Py_DECREF(held);
    if (items == NULL) {
        return -1;
    }
    truth = PyObject_IsTrue(items);
    Py_DECREF(items);
    if (truth != 0) {
        return truth;
    }
    /* A span to make: tracing on, past the wait for a tracer provider (the
     * query's end, a clock read ago, stands in for now), and one there. */
    PyObject *active = cached_global(tracing_dict, s_active, &c_active);
    if (active == NULL) {
        return -1;
    }
    truth = PyObject_IsTrue(active);
    Py_DECREF(active);
    if (truth < 0) {
        return -1;
    }
    if (truth) {
        PyObject *until = cached_global(tracing_dict, s_no_tracer_until_ns, &c_no_tracer_until_ns);
        if (until == NULL) {
            return -1;
        }
        /* An int does not change: its value is read once. */
        if (until != seen_until || seen_until == NULL) {
            int overflow;
            long long until_ns = PyLong_AsLongLongAndOverflow(until, &overflow);
            if (until_ns == -1 && PyErr_Occurred()) {
                Py_DECREF(until);
                return -1;
            }
            /* Kept for an int only: another type's __index__ may change. */
            Py_XSETREF(seen_until, PyLong_CheckExact(until) ? Py_NewRef(until) : NULL);
            seen_until_ns = until_ns;
            seen_until_overflow = overflow;
        }
        Py_DECREF(until);
        long long until_ns = seen_until_ns;
        int overflow = seen_until_overflow;
        if (overflow < 0 || (overflow == 0 && end_ns >= until_ns)) {
            PyObject *get_tracer = global(tracing_dict, s_get_tracer);
            if (get_tracer == NULL) {
                return -1;
            }
            PyObject *tracer = PyObject_CallNoArgs(get_tracer);
            Py_DECREF(get_tracer);
            if (tracer == NULL) {
                return -1;
            }
            Py_DECREF(tracer);
            if (tracer != Py_None) {
                return 1;
            }
        }
    }
    /* Debug logging: the logger's kept answer, else isEnabledFor(). */
#if PY_VERSION_HEX < 0x030C0000
    /* The answer found while the dict is unchanged (its version tag). */
    uint64_t version = ((PyDictObject *)log_answers)->ma_version_tag;
    if (version == answers_version && answers_quiet) {
        return 0;
    }
#endif
    PyObject *answer = PyDict_GetItemWithError(log_answers, debug_level);
    if (answer == NULL && PyErr_Occurred()) {
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    /* An int key: the look-up ran no Python code, the dict is unchanged. */
    answers_version = version;
    answers_quiet = answer == Py_False;
#endif
    if (answer == Py_False) {
        return 0;
    }
    PyObject *enabled = PyObject_CallMethodOneArg(logger, s_isEnabledFor, debug_level);
    if (enabled == NULL) {
        return -1;
    }
    truth = PyObject_IsTrue(enabled);
    Py_DECREF(enabled);
    return truth;
}

/* The calling thread's log as last read from the thread-local storage
 * ``found_local`` (a collector's thread_logs.local) in the thread whose
 * thread state's id, unique in its interpreter, is ``found_thread``.
 * ThreadLogs.register() sets a thread's ``local.log`` once and nothing
 * changes it after, so the answer holds while the thread and the storage
 * are the same; a threading.local read finds the thread's dict through the
 * thread state's dict, some 400 instructions a query. Kept only for the C
 * threading.local, which is per thread (gevent's, for one, is per
 * greenlet, and greenlets share a thread state). */
static PyObject *found_local, *found_log, *thread_local_type;
static uint64_t found_thread;
static PyInterpreterState *found_interp;

/* The calling thread's log: collector.thread_logs.local.log, else
 * collector.register_thread(). A new reference, or NULL with an exception
 * set. */
static PyObject *
thread_log(PyObject *collector)
{
    if (read_collector(collector) < 0) {
        return NULL;
    }
    PyThreadState *tstate = PyThreadState_Get();
    uint64_t thread = PyThreadState_GetID(tstate);
    PyInterpreterState *interp = PyThreadState_GetInterpreter(tstate);
    if (found_log != NULL && found_local == seen_local && found_thread == thread
        && found_interp == interp) {
        return Py_NewRef(found_log);
    }
    PyObject *local = Py_NewRef(seen_local);
    PyObject *log = PyObject_GetAttr(local, s_log);
    if (log != NULL) {
        if ((PyObject *)Py_TYPE(local) == thread_local_type) {
            /* Both replaced before the old ones are released, whose release
             * may run code (a finaliser). */
            PyObject *old[2] = {found_local, found_log};
            found_local = Py_NewRef(local);
            found_log = Py_NewRef(log);
            found_thread = thread;
            found_interp = interp;
            Py_XDECREF(old[0]);
            Py_XDECREF(old[1]);
        }
        Py_DECREF(local);
        return log;
    }
    Py_DECREF(local);
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return NULL;
    }
    PyErr_Clear();
    return PyObject_CallMethodNoArgs(collector, s_register_thread);
}

/* The SQL as text: sql itself when a str, else instrument.sql_text(sql,
 * the driver's cursor). A new reference, or NULL with an exception set. */
static PyObject *
query_text(PyObject *sql, PyObject *context)
{
    if (PyUnicode_CheckExact(sql)) {
        Py_INCREF(sql);
        return sql;
    }
    PyObject *wrapper = PyObject_CallMethodOneArg(context, s_get, s_cursor);
    if (wrapper == NULL) {
        return NULL;
    }
    /* Django's CursorWrapper holds the driver's cursor as .cursor. */
    PyObject *cursor = PyObject_GetAttr(wrapper, s_cursor);
    Py_DECREF(wrapper);
    if (cursor == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
        cursor = Py_NewRef(Py_None);
    }
    PyObject *sql_text = global(instrument_globals, s_sql_text);
    PyObject *text = sql_text == NULL
                         ? NULL
                         : PyObject_CallFunctionObjArgs(sql_text, sql, cursor, NULL);
    Py_XDECREF(sql_text);
    Py_DECREF(cursor);
    return text;
}

/* record = log.spare.pop(); record[:] = items; log.queries.append(record),
 * or a new list when nothing is spare: the Python definition of
 * keep_record, for when instrument._keep_record is None. The count of
 * queries, or -1 with an exception set. */
static Py_ssize_t
keep_in_python_way(PyObject *queries, PyObject *spare, PyObject *items)
{
    PyObject *record = PyObject_CallMethodNoArgs(spare, s_pop);
    if (record == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_IndexError)) {
            return -1;
        }
        PyErr_Clear();
        record = PySequence_List(items);
    }
    else if (PySequence_SetSlice(record, 0, PY_SSIZE_T_MAX, items) < 0) {
        Py_CLEAR(record);
    }
    if (record == NULL) {
        return -1;
    }
    PyObject *done = PyObject_CallMethodOneArg(queries, s_append, record);
    Py_DECREF(record);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    return PyObject_Size(queries);
}

/* context["connection"]: a new reference, or NULL with an exception set.
 * Django's context is a dict of two keys, its "connection" the same
 * interned str as s_connection: found by address among the entries,
 * without the lookup's hashing and probing. A key that is equal but
 * another object is found by the lookup; a dict subclass (which may have
 * __missing__) is subscripted. */
static PyObject *
context_connection(PyObject *context)
{
    if (!PyDict_CheckExact(context)) {
        return PyObject_GetItem(context, s_connection);
    }
    PyObject *key, *value;
    if (PyDict_GET_SIZE(context) <= 4) {
        Py_ssize_t position = 0;
        while (PyDict_Next(context, &position, &key, &value)) {
            if (key == s_connection) {
                return Py_NewRef(value);
            }
        }
    }
    value = PyDict_GetItemWithError(context, s_connection);
    if (value == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetObject(PyExc_KeyError, s_connection);
        }
        return NULL;
    }
    return Py_NewRef(value);
}

/* origin(0, scope, scope_id, text, params) for an origin that is not the
 * Walker (one a test put in callsite._origin), its four results unpacked
 * into ``out`` (new references) as the Python recorder unpacks them. 0,
 * or -1 with an exception set. */
static int
call_origin(PyObject *origin, PyObject *scope, PyObject *scope_id, PyObject *text,
            PyObject *params, PyObject **out)
{
    PyObject *origin_args[5] = {zero, scope, scope_id, text, params};
    PyObject *found = PyObject_Vectorcall(origin, origin_args, 5, NULL);
    if (found == NULL) {
        return -1;
    }
    if (!PyTuple_CheckExact(found)) {
        Py_SETREF(found, PySequence_Tuple(found));
        if (found == NULL) {
            return -1;
        }
    }
    if (PyTuple_GET_SIZE(found) != 4) {
        PyErr_Format(PyExc_ValueError, "expected 4 values to unpack, got %zd",
                     PyTuple_GET_SIZE(found));
        Py_DECREF(found);
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        out[i] = Py_NewRef(PyTuple_GET_ITEM(found, i));
    }
    Py_DECREF(found);
    return 0;
}

/* The raw record kept in the thread's log (see perfprobe.querylog), and
 * the log folded when it holds a batch; ``scope`` is the current scope as
 * the recorder found it before the query (None for none). 0, or -1 with
 * an exception set. */
static int
keep_raw(PyObject *collector, PyObject *log, PyObject *scope, PyObject *text,
         PyObject *context, PyObject *params, double duration_s,
         PyObject *started_at)
{
    PyObject *scope_id = NULL, *origin = NULL;
    /* call_site, lazy_load, bulk_call, params_hash */
    PyObject *found[4] = {NULL, NULL, NULL, NULL};
    PyObject *connection = NULL, *items = NULL, *queries = NULL;
    PyObject *spare = NULL, *keep = NULL, *batch = NULL;
    int status = -1;

    scope_id = scope == Py_None ? Py_NewRef(Py_None) : value_read(scope, s_id, &c_id);
    origin = cached_global(callsite_dict, s_origin, &c_origin);
    if (scope_id == NULL || origin == NULL) {
        goto done;
    }
    /* The walk from the frame calling the recorder (none of its own), and
     * the parameters' flat hash, in one call. */
    if (walker_api != NULL && Py_IS_TYPE(origin, walker_api->walker_type)) {
        /* The Walker itself: its results without a tuple. */
        if (walker_api->origin(origin, 0, scope, scope_id, text, params, found) < 0) {
            goto done;
        }
    }
    else if (call_origin(origin, scope, scope_id, text, params, found) < 0) {
        goto done;
    }
    if (found[3] == Py_None) {
        PyObject *params_hash = global(instrument_globals, s_params_hash);
        if (params_hash == NULL) {
            goto done;
        }
        Py_SETREF(found[3], PyObject_CallOneArg(params_hash, params));
        Py_DECREF(params_hash);
        if (found[3] == NULL) {
            goto done;
        }
    }
    connection = context_connection(context);
    if (connection == NULL) {
        goto done;
    }
    items = PyTuple_New(13);
    if (items == NULL) {
        goto done;
    }
    if (read_connection(connection) < 0) {
        goto done;
    }
    PyTuple_SET_ITEM(items, 0, Py_NewRef(seen_alias));
    PyTuple_SET_ITEM(items, 1, Py_NewRef(seen_vendor));
    PyObject *duration = PyFloat_FromDouble(duration_s);
    PyTuple_SET_ITEM(items, 3, duration);
    PyObject *thread_id = duration ? slot_read(log, s_thread_id, &c_thread_id) : NULL;
    PyTuple_SET_ITEM(items, 5, thread_id);
    if (thread_id == NULL) {
        goto done;
    }
    PyTuple_SET_ITEM(items, 2, Py_NewRef(text));
    PyTuple_SET_ITEM(items, 4, Py_NewRef(started_at));
    PyTuple_SET_ITEM(items, 6, Py_NewRef(scope));
    PyTuple_SET_ITEM(items, 7, Py_NewRef(found[0]));
    PyTuple_SET_ITEM(items, 8, Py_NewRef(found[3]));
    PyTuple_SET_ITEM(items, 9, Py_NewRef(found[1]));
    /* The SQL hash: put in by the fold, once per statement. */
    PyTuple_SET_ITEM(items, 10, Py_NewRef(Py_None));
    PyTuple_SET_ITEM(items, 11, Py_NewRef(found[2]));
    PyTuple_SET_ITEM(items, 12, Py_NewRef(Py_None));

    queries = slot_read(log, s_queries, &c_queries);
    spare = queries ? slot_read(log, s_spare, &c_spare) : NULL;
    keep = spare ? cached_global(instrument_globals, s_keep_record, &c_keep_record) : NULL;
    if (keep == NULL) {
        goto done;
    }
    Py_ssize_t kept;
    if (keep != Py_None) {
        PyObject *keep_args[3] = {queries, spare, items};
        PyObject *count = PyObject_Vectorcall(keep, keep_args, 3, NULL);
        if (count == NULL) {
            goto done;
        }
        kept = PyLong_AsSsize_t(count);
        Py_DECREF(count);
    }
    else {
        kept = keep_in_python_way(queries, spare, items);
    }
    if (kept == -1 && PyErr_Occurred()) {
        goto done;
    }
    batch = cached_global(instrument_globals, s_QUERY_BATCH, &c_QUERY_BATCH);
    if (batch == NULL) {
        goto done;
    }
    Py_ssize_t batch_size = PyLong_AsSsize_t(batch);
    if (batch_size == -1 && PyErr_Occurred()) {
        goto done;
    }
    if (kept >= batch_size) {
        PyObject *folded =
            PyObject_CallMethodOneArg(collector, s_fold_thread_queries, log);
        if (folded == NULL) {
            goto done;
        }
        Py_DECREF(folded);
    }
    status = 0;

done:
    Py_XDECREF(scope_id);
    Py_XDECREF(origin);
    for (int i = 0; i < 4; i++) {
        Py_XDECREF(found[i]);
    }
    Py_XDECREF(connection);
    Py_XDECREF(items);
    Py_XDECREF(queries);
    Py_XDECREF(spare);
    Py_XDECREF(keep);
    Py_XDECREF(batch);
    return status;
}

/* After a query that returned: keep its raw record when nothing needs its
 * event now. 1 kept, 0 for the eager path, -1 with an exception set. */
static int
keep_quietly(PyObject *conf, PyObject *scope, PyObject *const *args,
             PyObject *started_at, long long elapsed_ns, long long end_ns)
{
    double duration_s = (double)elapsed_ns / 1e9;
    /* Looked up at call time, so that replacing the default monitor (as
     * tests do) takes effect at the very next query. */
    PyObject *monitor = cached_global(monitoring_dict, s_monitor, &c_monitor);
    if (monitor == NULL) {
        return -1;
    }
    PyObject *collector = value_read(monitor, s_collector, &c_collector);
    Py_DECREF(monitor);
    if (collector == NULL) {
        return -1;
    }
    PyObject *log = NULL, *text = NULL;
    int status = needs_event(conf, collector, duration_s, end_ns);
    if (status != 0) {
        status = status < 0 ? -1 : 0;
        goto done;
    }
    log = thread_log(collector);
    if (log == NULL) {
        status = -1;
        goto done;
    }
    /* Open memory blocks are marked at once (the eager path). */
    if (log != Py_None) {
        PyObject *blocks = slot_read(log, s_open_blocks, &c_open_blocks);
        status = blocks == NULL ? -1 : PyObject_IsTrue(blocks);
        Py_XDECREF(blocks);
    }
    if (log == Py_None || status != 0) {
        status = status < 0 ? -1 : 0;
        goto done;
    }
    text = query_text(args[1], args[4]);
    if (text == NULL
        || keep_raw(collector, log, scope, text, args[4], args[2], duration_s,
                    started_at) < 0) {
        status = -1;
        goto done;
    }
    status = 1;

done:
    Py_XDECREF(text);
    Py_XDECREF(log);
    Py_DECREF(collector);
    return status;
}

/* A failure inside perfprobe on the common path, logged as the Python
 * recorder logs it (instrument._record_failed, called with the exception
 * handled). 0, or -1 with an exception set: one that is not an Exception
 * passes, as it would through the Python recorder's except clause. */
static int
log_failure(void)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return -1;
    }
    PyObject *exc = take_exception();
    PyObject *report = global(instrument_globals, s_record_failed);
    PyObject *done = report == NULL ? NULL : call_handling(exc, report, NULL, 0);
    Py_XDECREF(report);
    Py_DECREF(exc);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    return 0;
}

/* Clear the exception set, if any, for the Python recorder to meet a
 * lasting failure itself: 0. One that is no Exception (KeyboardInterrupt
 * or SystemExit from a signal handler, run in whatever Python code was
 * called) stays set, to pass as through the Python recorder: -1. */
static int
hand_over(void)
{
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_Exception)) {
        return -1;
    }
    PyErr_Clear();
    return 0;
}

/* Whether the common path may take the call (1), the query passes
 * unrecorded (0), or the Python recorder takes it whole (-1, with any
 * exception cleared; -2 with one set that must pass, see hand_over).
 * ``*conf_out`` and ``*scope_out`` get new references to the settings and
 * the current scope (the mark, or None) when 1. */
static int
triage(PyObject *const *args, PyObject **conf_out, PyObject **scope_out)
{
    PyObject *conf = cached_global(conf_dict, s_loaded, &c_loaded);
    if (conf == NULL || conf == Py_None || read_conf(conf) < 0) {
        /* No settings cached yet (or after a change): get_settings(),
         * and its failure's log, are the Python recorder's. */
        Py_XDECREF(conf);
        return hand_over() < 0 ? -2 : -1;
    }
    PyObject *mark = NULL;
    int on = seen_on;
    if (on > 0 && PyContextVar_Get(scope_var, NULL, &mark) < 0) {
        on = -1;
    }
    /* is_suppressed(): the mark, if any, switched on. */
    if (on > 0 && mark != NULL && mark != Py_None) {
        PyObject *flag = value_read(mark, s_suppressed, &c_suppressed);
        int suppressed = flag == NULL ? -1 : PyObject_IsTrue(flag);
        Py_XDECREF(flag);
        on = suppressed < 0 ? -1 : !suppressed;
    }
    if (on > 0) {
        /* A batch is never on the common path; no C walk, none either. */
        int many = PyObject_IsTrue(args[3]);
        PyObject *origin = cached_global(callsite_dict, s_origin, &c_origin);
        if (many != 0 || origin == NULL || origin == Py_None) {
            on = -1;
        }
        Py_XDECREF(origin);
    }
    if (on <= 0) {
        Py_XDECREF(mark);
        Py_DECREF(conf);
        return hand_over() < 0 ? -2 : on;
    }
    *conf_out = conf;
    /* The scope the query is recorded in: the mark itself, read once. */
    *scope_out = mark != NULL ? mark : Py_NewRef(Py_None);
    return 1;
}

PyDoc_STRVAR(recorder_doc,
"recorder(execute, sql, params, many, context)\n"
"--\n\n"
"Run execute, time it and hand it to the default monitor's collector.\n\n"
"The common path of perfprobe.db.instrument's Python recorder, which it\n"
"hands everything else to; bind() must have been called. Returns\n"
"execute's result or re-raises its exception unchanged.");

static PyObject *
recorder(PyObject *module, PyObject *const *args, Py_ssize_t nargsf,
         PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (python_recorder == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "recorder(): bind() was not called");
        return NULL;
    }
    PyObject *conf = NULL, *scope = NULL;
    int path = nargs == 5 && kwnames == NULL ? triage(args, &conf, &scope) : -1;
    if (path == -2) {
        return NULL;
    }
    if (path < 0) {
        return PyObject_Vectorcall(python_recorder, args, nargsf, kwnames);
    }
    if (path == 0) {
        return PyObject_Vectorcall(args[0], args + 1, 4, NULL);
    }

    long long start_ns, end_ns;
    PyObject *started_at = clock_s();
    if (started_at == NULL || clock_ns(&start_ns) < 0) {
        /* The clocks raise out of the Python recorder: let it. */
        Py_XDECREF(started_at);
        Py_DECREF(conf);
        Py_DECREF(scope);
        if (hand_over() < 0) {
            return NULL;
        }
        return PyObject_Vectorcall(python_recorder, args, nargsf, kwnames);
    }
    PyObject *result = PyObject_Vectorcall(args[0], args + 1, 4, NULL);
    if (result == NULL) {
        /* Recorded eagerly, then re-raised as it came, traceback and all. */
        PyObject *exc = take_exception();
        if (clock_ns(&end_ns) < 0
            || record_eagerly(conf, args, started_at, end_ns - start_ns, exc) < 0) {
            chain_onto(exc);
        }
        else {
            raise_again(exc);
        }
        Py_DECREF(started_at);
        Py_DECREF(conf);
        Py_DECREF(scope);
        return NULL;
    }
    if (clock_ns(&end_ns) < 0) {
        Py_CLEAR(result);
        goto done;
    }
    /* Nearly every query is kept raw; what needs the query now goes to
     * the eager path. */
    int kept =
        keep_quietly(conf, scope, args, started_at, end_ns - start_ns, end_ns);
    if (kept < 0) {
        if (log_failure() < 0) {
            Py_CLEAR(result);
        }
    }
    else if (kept == 0
             && record_eagerly(conf, args, started_at, end_ns - start_ns, NULL) < 0) {
        Py_CLEAR(result);
    }

done:
    Py_DECREF(started_at);
    Py_DECREF(conf);
    Py_DECREF(scope);
    return result;
}

PyDoc_STRVAR(bind_doc,
"bind(instrument_globals, conf, monitoring, tracing, callsite, current_scope,\n"
"     python_recorder, log_answers, logger, perf_counter_ns, time)\n"
"--\n\n"
"Give recorder() what it reads: the instrument module's globals, the\n"
"conf, monitoring, tracing and callsite modules (their globals are read\n"
"at every call), the scope ContextVar, the Python recorder it hands\n"
"over to, the logger and its cache of level answers, and time's\n"
"perf_counter_ns and time (read in C while the instrument module's\n"
"clocks are these).");

static int
intern_names(void)
{
    static const struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_loaded, "loaded"},
        {&s_ENABLED, "ENABLED"},
        {&s_INSTRUMENT_DATABASE, "INSTRUMENT_DATABASE"},
        {&s_suppressed, "suppressed"},
        {&s_origin, "_origin"},
        {&s_perf_counter_ns, "_perf_counter_ns"},
        {&s_time, "_time"},
        {&s_monitor, "monitor"},
        {&s_collector, "collector"},
        {&s_STORE_SQL_PARAMETERS, "STORE_SQL_PARAMETERS"},
        {&s_SLOW_QUERY_SECONDS, "SLOW_QUERY_SECONDS"},
        {&s_time_scale, "time_scale"},
        {&s_listeners, "_listeners"},
        {&s_items, "items"},
        {&s_active, "active"},
        {&s_no_tracer_until_ns, "no_tracer_until_ns"},
        {&s_get_tracer, "get_tracer"},
        {&s_isEnabledFor, "isEnabledFor"},
        {&s_thread_logs, "thread_logs"},
        {&s_local, "local"},
        {&s_log, "log"},
        {&s_register_thread, "register_thread"},
        {&s_open_blocks, "open_blocks"},
        {&s_sql_text, "sql_text"},
        {&s_cursor, "cursor"},
        {&s_get, "get"},
        {&s_id, "id"},
        {&s_params_hash, "_params_hash"},
        {&s_connection, "connection"},
        {&s_alias, "alias"},
        {&s_vendor, "vendor"},
        {&s_queries, "queries"},
        {&s_spare, "spare"},
        {&s_thread_id, "thread_id"},
        {&s_keep_record, "_keep_record"},
        {&s_pop, "pop"},
        {&s_append, "append"},
        {&s_QUERY_BATCH, "QUERY_BATCH"},
        {&s_fold_thread_queries, "fold_thread_queries"},
        {&s_record, "_record"},
        {&s_record_failed, "_record_failed"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL
            && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return -1;
        }
    }
    if (debug_level == NULL && (debug_level = PyLong_FromLong(10)) == NULL) {
        return -1;
    }
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return -1;
    }
    if (one == NULL && (one = PyLong_FromLong(1)) == NULL) {
        return -1;
    }
    return 0;
}

static PyObject *
bind(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "bind() takes exactly 11 arguments");
        return NULL;
    }
    if (!PyDict_Check(args[0]) || !PyDict_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError,
                        "bind(): instrument_globals and log_answers must be dicts");
        return NULL;
    }
    if (!PyContextVar_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError, "bind(): current_scope must be a ContextVar");
        return NULL;
    }
    PyObject *dicts[4];
    for (int i = 0; i < 4; i++) {
        dicts[i] = PyModule_GetDict(args[1 + i]);
        if (dicts[i] == NULL) {
            return NULL;
        }
    }
    if (intern_names() < 0) {
        return NULL;
    }
    /* threading.local, whose reads thread_log() may keep. */
    PyObject *thread_module = PyImport_ImportModule("_thread");
    PyObject *local_type = thread_module == NULL
                               ? NULL
                               : PyObject_GetAttrString(thread_module, "_local");
    Py_XDECREF(thread_module);
    if (local_type == NULL) {
        return NULL;
    }
    /* The Walker's call without a tuple, where its module offers it. */
    const walker_api_t *api = PyCapsule_Import(WALKER_API_NAME, 0);
    if (api == NULL || api->version != WALKER_API_VERSION) {
        PyErr_Clear();
        api = NULL;
    }
    Py_XSETREF(instrument_globals, Py_NewRef(args[0]));
    Py_XSETREF(conf_dict, Py_NewRef(dicts[0]));
    Py_XSETREF(monitoring_dict, Py_NewRef(dicts[1]));
    Py_XSETREF(tracing_dict, Py_NewRef(dicts[2]));
    Py_XSETREF(callsite_dict, Py_NewRef(dicts[3]));
    Py_XSETREF(scope_var, Py_NewRef(args[5]));
    Py_XSETREF(log_answers, Py_NewRef(args[7]));
    Py_XSETREF(logger, Py_NewRef(args[8]));
    /* Read in C only if they are the time module's own functions: a fake
     * put in time.time while the instrument module is imported (freezegun)
     * is what that module has too, and must be called. */
    Py_XSETREF(perf_counter_ns, time_builtin(args[9], "perf_counter_ns"));
    Py_XSETREF(wall_time, time_builtin(args[10], "time"));
    Py_XSETREF(thread_local_type, local_type);
    walker_api = api;
    /* Last: recorder() hands over until bound. */
    forget_globals();
    Py_CLEAR(seen_conf);
    Py_CLEAR(found_local);
    Py_CLEAR(found_log);
    Py_XSETREF(python_recorder, Py_NewRef(args[6]));
    Py_RETURN_NONE;
}

static PyMethodDef recorder_methods[] = {
    {"recorder", (PyCFunction)(void (*)(void))recorder,
     METH_FASTCALL | METH_KEYWORDS, recorder_doc},
    {"bind", (PyCFunction)(void (*)(void))bind, METH_FASTCALL, bind_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot recorder_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    /* What bind() holds is process state. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef recorder_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "perfprobe.db._recorder",
    .m_doc = "The query recorder's common path of perfprobe.db.instrument, in C.",
    .m_size = 0,
    .m_methods = recorder_methods,
    .m_slots = recorder_slots,
};

PyMODINIT_FUNC
PyInit__recorder(void)
{
    return PyModuleDef_Init(&recorder_module);
}
