/* The query recorder's common path in C.
 *
 * perfprobe.db.instrument.QueryRecorder derives from Recorder, whose call
 * is this file's recorder_call: for an ordinary query (one statement as a
 * str, recording on, not suppressed, not slow, no stored parameters, no
 * listener, no tracer, perfprobe.db not at DEBUG, no open memory block, a
 * thread log already there) it times execute(), walks to the call site,
 * hashes the parameters and appends the raw record to the thread's log, as
 * QueryRecorder.python_call and the raw branch of QueryRecorder._record
 * do, with no Python frame of its own. Everything else goes to that Python
 * code, which stays the definition and the fallback: before execute() the
 * whole call goes to python_call; after it, _record is called with the
 * same arguments python_call would give it.
 *
 * Each module-level name is read from its module's namespace at every call
 * (the settings cache, the default monitor, the clocks, the hash and walk
 * helpers), so replacing one, as tests do, takes effect at the next query.
 * A failure inside this code is handed to instrument._fast_path_failed,
 * which logs it through log_failure; the query's own result or exception
 * reaches the caller unchanged.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Set by configure(): the namespaces read at each call. */
static PyObject *instrument_ns;
static PyObject *callsite_ns;
static PyObject *conf_ns;
static PyObject *monitoring_ns;
static PyObject *tracing_ns;
static PyObject *mark_var;
static PyObject *scope_var;
/* What callsite's stack_origin and _walk_stack were at configure(): while
 * both are still in place, the walk is called directly. */
static PyObject *plain_stack_origin;
static PyObject *plain_walk_stack;
static PyObject *one_e9;
static PyObject *debug_level;
static PyObject *zero;

#define NAMES(X)                                                           \
    X(loaded) X(ENABLED) X(INSTRUMENT_DATABASE) X(STORE_SQL_PARAMETERS)    \
    X(SLOW_QUERY_SECONDS) X(suppressed) X(python_call) X(_record) X(_time) \
    X(_perf_counter_ns) X(monitor) X(collector) X(time_scale) X(_listeners) \
    X(items) X(active) X(no_tracer_until_ns) X(get_tracer) X(_log_answers) \
    X(logger) X(isEnabledFor) X(thread_logs) X(local) X(log) X(open_blocks) \
    X(queries) X(thread_id) X(QUERY_BATCH) X(fold_thread_queries)          \
    X(stack_origin) X(_walk_stack) X(_code_info) X(_classify) X(_QUERYSET)  \
    X(_ASYNC_BOUNDARY) X(_MAX_DEPTH) X(_lazy_memo) X(_resolve) X(id)        \
    X(connection) X(alias) X(vendor) X(_flat_hash) X(_PLAIN)               \
    X(_params_hash) X(_fast_path_failed)

#define DECLARE(name) static PyObject *s_##name;
NAMES(DECLARE)
#undef DECLARE

/* What a lookup of a name in a namespace found, and the namespace's
 * version tag then (CPython 3.11: a dict's ma_version_tag changes with
 * every change of the dict, and no two changes of any dict share one), so
 * that the next lookup of the same name costs a comparison while the
 * namespace is unchanged, as LOAD_GLOBAL's inline cache does. The value is
 * borrowed: the unchanged dict still holds it. Each name is looked up in
 * one namespace only, so the name's index picks the entry. */
#if PY_VERSION_HEX < 0x030C0000
#define PERFPROBE_NS_CACHE 1
typedef struct {
    PyObject *ns;
    uint64_t version;
    PyObject *value;
} ns_entry;
#endif

enum {
    N_loaded, N__time, N__perf_counter_ns, N_monitor, N_active,
    N_no_tracer_until_ns, N_get_tracer, N__log_answers, N_logger,
    N_QUERY_BATCH, N_stack_origin, N__walk_stack, N__code_info, N__classify,
    N__QUERYSET, N__ASYNC_BOUNDARY, N__MAX_DEPTH, N__lazy_memo, N__resolve,
    N__flat_hash, N__PLAIN, N__params_hash, N_COUNT
};

#ifdef PERFPROBE_NS_CACHE
static ns_entry ns_cache[N_COUNT];
#endif

/* A borrowed reference to ``name`` (whose index is ``which``) in the
 * namespace ``ns``, or NULL with an exception set. */
static PyObject *
ns_get(PyObject *ns, PyObject *name, int which)
{
#ifdef PERFPROBE_NS_CACHE
    ns_entry *entry = &ns_cache[which];
    uint64_t version = ((PyDictObject *)ns)->ma_version_tag;
    if (entry->ns == ns && entry->version == version) {
        return entry->value;
    }
#endif
    PyObject *value = PyDict_GetItemWithError(ns, name);
    if (value == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_AttributeError, "perfprobe: %U is missing", name);
        }
        return NULL;
    }
#ifdef PERFPROBE_NS_CACHE
    /* The lookup ran no code (exact str keys), so the version still holds. */
    entry->ns = ns;
    entry->version = version;
    entry->value = value;
#endif
    return value;
}

#define NS_GET(ns, name) ns_get((ns), s_##name, N_##name)

/* Call the callable named ``name`` in ``ns`` with no arguments. */
#define NS_CALL0(ns, name) ns_call0(NS_GET(ns, name))

static PyObject *
ns_call0(PyObject *func)
{
    return func == NULL ? NULL : PyObject_CallNoArgs(func);
}

/* 1 when ``obj.name`` is true, 0 when false, -1 with an exception set. */
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

/* The settings the common path reads, kept for the PerfprobeSettings
 * object they were read from (frozen, so they cannot change while it is
 * the cached one; a change of settings makes a new one). */
static PyObject *conf_seen;
static int conf_on;
static int conf_store;
static PyObject *conf_slow;

/* Read the settings of ``conf`` into the cache above: 0, or -1 with an
 * exception set (the cache then holds nothing). */
static int
read_conf(PyObject *conf)
{
    int on = attr_true(conf, s_ENABLED);
    if (on == 1) {
        on = attr_true(conf, s_INSTRUMENT_DATABASE);
    }
    int store = on < 0 ? -1 : attr_true(conf, s_STORE_SQL_PARAMETERS);
    PyObject *slow = store < 0 ? NULL : PyObject_GetAttr(conf, s_SLOW_QUERY_SECONDS);
    /* Emptied first: releasing the old ones can run code that records. */
    PyObject *old_conf = conf_seen, *old_slow = conf_slow;
    conf_seen = NULL;
    conf_slow = NULL;
    if (slow != NULL) {
        conf_on = on;
        conf_store = store;
        conf_slow = slow;
        conf_seen = Py_NewRef(conf);
    }
    Py_XDECREF(old_conf);
    Py_XDECREF(old_slow);
    return slow == NULL ? -1 : 0;
}

/* Whether the query can take the common path, judged before it runs: 1
 * (with a new reference to the settings in *conf), 0, or -1 with an
 * exception set. */
static int
usual_query(PyObject *sql, PyObject *many, PyObject **conf)
{
    if (!PyUnicode_CheckExact(sql) || many != Py_False) {
        return 0;
    }
    PyObject *loaded = NS_GET(conf_ns, loaded);
    if (loaded == NULL) {
        return -1;
    }
    if (loaded == Py_None) {
        /* python_call reads the settings the slow way. */
        return 0;
    }
    if (loaded != conf_seen && read_conf(loaded) < 0) {
        return -1;
    }
    if (!conf_on) {
        return 0;
    }
    PyObject *mark;
    if (PyContextVar_Get(mark_var, Py_None, &mark) < 0) {
        return -1;
    }
    int suppressed = mark == Py_None ? 0 : attr_true(mark, s_suppressed);
    Py_DECREF(mark);
    if (suppressed != 0) {
        return suppressed < 0 ? -1 : 0;
    }
    Py_INCREF(loaded);
    *conf = loaded;
    return 1;
}

/* _record's tests for the raw path that need nothing from the walk: 1 when
 * the query can be kept raw (a new reference to the thread's log in *log),
 * 0 when _record must take it, -1 with an exception set. */
static int
raw_eligible(PyObject *conf, PyObject *collector, PyObject *duration,
             PyObject **log)
{
    /* The settings usual_query() cached for this very object (recording
     * inside execute() may have read others since). */
    if (conf != conf_seen && read_conf(conf) < 0) {
        return -1;
    }
    if (conf_store) {
        return 0;
    }
    PyObject *slow = Py_NewRef(conf_slow);
    PyObject *scale = PyObject_GetAttr(collector, s_time_scale);
    if (scale == NULL) {
        Py_DECREF(slow);
        return -1;
    }
    PyObject *threshold = PyNumber_Multiply(slow, scale);
    Py_DECREF(slow);
    Py_DECREF(scale);
    if (threshold == NULL) {
        return -1;
    }
    int fast = PyObject_RichCompareBool(duration, threshold, Py_LE);
    Py_DECREF(threshold);
    if (fast != 1) {
        return fast;
    }

    PyObject *listeners = PyObject_GetAttr(collector, s__listeners);
    if (listeners == NULL) {
        return -1;
    }
    int listened = attr_true(listeners, s_items);
    Py_DECREF(listeners);
    if (listened != 0) {
        return listened < 0 ? -1 : 0;
    }

    /* No span to make: tracing off, or no tracer provider yet. */
    PyObject *active = NS_GET(tracing_ns, active);
    int tracing = active == NULL ? -1 : PyObject_IsTrue(active);
    if (tracing == 1) {
        PyObject *now = NS_CALL0(instrument_ns, _perf_counter_ns);
        PyObject *until = NS_GET(tracing_ns, no_tracer_until_ns);
        tracing = now == NULL || until == NULL
                      ? -1
                      : PyObject_RichCompareBool(now, until, Py_GE);
        Py_XDECREF(now);
        if (tracing == 1) {
            PyObject *tracer = NS_CALL0(tracing_ns, get_tracer);
            tracing = tracer == NULL ? -1 : tracer != Py_None;
            Py_XDECREF(tracer);
        }
    }
    if (tracing != 0) {
        return tracing < 0 ? -1 : 0;
    }

    /* The logger's cached answer for DEBUG, else isEnabledFor(). */
    PyObject *answers = NS_GET(instrument_ns, _log_answers);
    if (answers == NULL) {
        return -1;
    }
    PyObject *answer = PyDict_Check(answers)
                           ? PyDict_GetItemWithError(answers, debug_level)
                           : NULL;
    if (answer == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (answer != Py_False) {
        PyObject *logger = NS_GET(instrument_ns, logger);
        if (logger == NULL) {
            return -1;
        }
        PyObject *enabled = PyObject_CallMethodOneArg(logger, s_isEnabledFor,
                                                      debug_level);
        int debug = enabled == NULL ? -1 : PyObject_IsTrue(enabled);
        Py_XDECREF(enabled);
        if (debug != 0) {
            return debug < 0 ? -1 : 0;
        }
    }

    /* The thread's log; none yet means _record registers the thread. */
    PyObject *logs = PyObject_GetAttr(collector, s_thread_logs);
    if (logs == NULL) {
        return -1;
    }
    PyObject *local = PyObject_GetAttr(logs, s_local);
    Py_DECREF(logs);
    if (local == NULL) {
        return -1;
    }
    PyObject *found = PyObject_GetAttr(local, s_log);
    Py_DECREF(local);
    if (found == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    /* Open memory blocks are marked at once (the eager path). */
    int blocks = attr_true(found, s_open_blocks);
    if (blocks != 0) {
        Py_DECREF(found);
        return blocks < 0 ? -1 : 0;
    }
    *log = found;
    return 1;
}

/* Unpack a three-item result into new references. */
static int
unpack3(PyObject *result, PyObject **a, PyObject **b, PyObject **c)
{
    PyObject *seq = PySequence_Fast(result, "stack_origin() must return a sequence");
    if (seq == NULL) {
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(seq) != 3) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "stack_origin() must return 3 items");
        return -1;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    *a = Py_NewRef(items[0]);
    *b = Py_NewRef(items[1]);
    *c = Py_NewRef(items[2]);
    Py_DECREF(seq);
    return 0;
}

/* stack_origin(2, scope, sql) as _record calls it: the call site, lazy
 * load and bulk call number, as new references. The walk starts at the
 * frame that called the recorder, which has no frame of its own here. */
static int
origin(PyObject *scope, PyObject *sql, PyObject **call_site, PyObject **lazy,
       PyObject **bulk)
{
    PyObject *stack_origin = NS_GET(instrument_ns, stack_origin);
    PyObject *walk_stack = NS_GET(callsite_ns, _walk_stack);
    if (stack_origin == NULL || walk_stack == NULL) {
        return -1;
    }
    PyObject *result;
    if (stack_origin != plain_stack_origin || walk_stack != plain_walk_stack ||
        walk_stack == Py_None) {
        /* Replaced, or no stack walk: the Python function, whose caller's
         * frame (depth 0) is the one that called the recorder. */
        PyObject *argv[3] = {zero, scope, sql};
        result = PyObject_Vectorcall(stack_origin, argv, 3, NULL);
        if (result == NULL) {
            return -1;
        }
        int failed = unpack3(result, call_site, lazy, bulk);
        Py_DECREF(result);
        return failed;
    }

    PyObject *scope_id = scope == Py_None ? Py_NewRef(Py_None)
                                          : PyObject_GetAttr(scope, s_id);
    if (scope_id == NULL) {
        return -1;
    }
    PyObject *argv[9] = {zero, NULL, NULL, NULL, NULL, NULL, NULL, scope_id, sql};
    PyObject *names[6] = {s__code_info, s__classify,  s__QUERYSET,
                          s__ASYNC_BOUNDARY, s__MAX_DEPTH, s__lazy_memo};
    int which[6] = {N__code_info, N__classify,  N__QUERYSET,
                    N__ASYNC_BOUNDARY, N__MAX_DEPTH, N__lazy_memo};
    for (int i = 0; i < 6; i++) {
        if ((argv[i + 1] = ns_get(callsite_ns, names[i], which[i])) == NULL) {
            Py_DECREF(scope_id);
            return -1;
        }
    }
    PyObject *walked = PyObject_Vectorcall(walk_stack, argv, 9, NULL);
    Py_DECREF(scope_id);
    if (walked == NULL) {
        return -1;
    }
    if (!PyTuple_CheckExact(walked) || PyTuple_GET_SIZE(walked) != 5) {
        Py_DECREF(walked);
        PyErr_SetString(PyExc_TypeError, "walk_stack() must return a 5-tuple");
        return -1;
    }
    if (PyTuple_GET_ITEM(walked, 1) == Py_None &&
        PyTuple_GET_ITEM(walked, 2) == Py_None &&
        PyTuple_GET_ITEM(walked, 3) == Py_None) {
        /* No frame to read: the memo's lazy load, or none. */
        *call_site = Py_NewRef(PyTuple_GET_ITEM(walked, 0));
        *lazy = Py_NewRef(PyTuple_GET_ITEM(walked, 4));
        *bulk = Py_NewRef(zero);
        Py_DECREF(walked);
        return 0;
    }
    PyObject *resolve = NS_GET(callsite_ns, _resolve);
    if (resolve == NULL) {
        Py_DECREF(walked);
        return -1;
    }
    PyObject *rargv[3] = {walked, scope, sql};
    result = PyObject_Vectorcall(resolve, rargv, 3, NULL);
    Py_DECREF(walked);
    if (result == NULL) {
        return -1;
    }
    int failed = unpack3(result, call_site, lazy, bulk);
    Py_DECREF(result);
    return failed;
}

/* The parameter hash _record computes for one statement (not a batch). */
static PyObject *
params_hash(PyObject *params)
{
    PyObject *flat_hash = NS_GET(instrument_ns, _flat_hash);
    PyObject *general = NS_GET(instrument_ns, _params_hash);
    if (flat_hash == NULL || general == NULL) {
        return NULL;
    }
    if (flat_hash != Py_None) {
        PyObject *plain = NS_GET(instrument_ns, _PLAIN);
        if (plain == NULL) {
            return NULL;
        }
        PyObject *argv[2] = {params, plain};
        PyObject *hash = PyObject_Vectorcall(flat_hash, argv, 2, NULL);
        if (hash != NULL && hash != Py_None) {
            return hash;
        }
        Py_XDECREF(hash);
        if (hash == NULL) {
            /* A plain value that cannot be hashed: _params_hash() never
             * raises. */
            if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                return NULL;
            }
            PyErr_Clear();
        }
    }
    /* Also what the inline Python hash gives where flat_hash is missing. */
    return PyObject_CallOneArg(general, params);
}

/* The raw record of one ordinary query, appended to its thread's log: 1
 * when done, 0 when _record must take the query, -1 with an exception
 * set. */
static int
record_raw(PyObject *conf, PyObject *sql, PyObject *params, PyObject *context,
           PyObject *started_at, PyObject *elapsed_ns)
{
    PyObject *collector = NULL, *duration = NULL, *log = NULL, *scope = NULL;
    PyObject *call_site = NULL, *lazy = NULL, *bulk = NULL;
    PyObject *connection = NULL, *hash = NULL, *record = NULL;
    PyObject *queries = NULL;
    int outcome = -1;

    /* Looked up at call time, so that replacing the default monitor takes
     * effect at the very next query. */
    PyObject *monitor = NS_GET(monitoring_ns, monitor);
    if (monitor == NULL || (collector = PyObject_GetAttr(monitor, s_collector)) == NULL) {
        goto done;
    }
    if ((duration = PyNumber_TrueDivide(elapsed_ns, one_e9)) == NULL) {
        goto done;
    }
    outcome = raw_eligible(conf, collector, duration, &log);
    if (outcome != 1) {
        goto done;
    }
    outcome = -1;

    if (PyContextVar_Get(scope_var, Py_None, &scope) < 0) {
        goto done;
    }
    if (origin(scope, sql, &call_site, &lazy, &bulk) < 0) {
        goto done;
    }
    if ((connection = PyObject_GetItem(context, s_connection)) == NULL) {
        goto done;
    }
    if ((hash = params_hash(params)) == NULL) {
        goto done;
    }
    Py_hash_t text_hash = PyObject_Hash(sql);
    if (text_hash == -1 && PyErr_Occurred()) {
        goto done;
    }
    if ((record = PyList_New(13)) == NULL) {
        goto done;
    }
    /* The layout of querylog's raw record; items not yet set are NULL and
     * released with the list on failure. */
    PyObject *item;
    if ((item = PyObject_GetAttr(connection, s_alias)) == NULL) {
        goto done;
    }
    PyList_SET_ITEM(record, 0, item);
    if ((item = PyObject_GetAttr(connection, s_vendor)) == NULL) {
        goto done;
    }
    PyList_SET_ITEM(record, 1, item);
    PyList_SET_ITEM(record, 2, Py_NewRef(sql));
    PyList_SET_ITEM(record, 3, Py_NewRef(duration));
    PyList_SET_ITEM(record, 4, Py_NewRef(started_at));
    if ((item = PyObject_GetAttr(log, s_thread_id)) == NULL) {
        goto done;
    }
    PyList_SET_ITEM(record, 5, item);
    PyList_SET_ITEM(record, 6, Py_NewRef(scope));
    PyList_SET_ITEM(record, 7, Py_NewRef(call_site));
    PyList_SET_ITEM(record, 8, Py_NewRef(hash));
    PyList_SET_ITEM(record, 9, Py_NewRef(lazy));
    if ((item = PyLong_FromSsize_t(text_hash)) == NULL) {
        goto done;
    }
    PyList_SET_ITEM(record, 10, item);
    PyList_SET_ITEM(record, 11, Py_NewRef(bulk));
    PyList_SET_ITEM(record, 12, Py_NewRef(Py_None));

    if ((queries = PyObject_GetAttr(log, s_queries)) == NULL ||
        !PyList_CheckExact(queries) || PyList_Append(queries, record) < 0) {
        if (queries != NULL && !PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "ThreadLog.queries must be a list");
        }
        goto done;
    }
    PyObject *batch = NS_GET(instrument_ns, QUERY_BATCH);
    if (batch == NULL) {
        goto done;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(batch);
    Py_ssize_t count = PyObject_Size(queries);
    if ((limit == -1 || count == -1) && PyErr_Occurred()) {
        goto done;
    }
    if (count >= limit) {
        PyObject *folded = PyObject_CallMethodOneArg(collector, s_fold_thread_queries,
                                                     log);
        if (folded == NULL) {
            goto done;
        }
        Py_DECREF(folded);
    }
    outcome = 1;

done:
    Py_XDECREF(collector);
    Py_XDECREF(duration);
    Py_XDECREF(log);
    Py_XDECREF(scope);
    Py_XDECREF(call_site);
    Py_XDECREF(lazy);
    Py_XDECREF(bulk);
    Py_XDECREF(connection);
    Py_XDECREF(hash);
    Py_XDECREF(record);
    Py_XDECREF(queries);
    return outcome;
}

/* Hand the exception being raised inside this code to
 * instrument._fast_path_failed, which logs it. An Exception is consumed
 * (0); anything else (KeyboardInterrupt, SystemExit) stays set and -1 is
 * returned, as it would leave _record's ``except Exception``. */
static int
failed(void)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return -1;
    }
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    PyObject *report = instrument_ns == NULL
                           ? NULL
                           : PyDict_GetItemWithError(instrument_ns, s__fast_path_failed);
    PyObject *done = NULL;
    if (report != NULL && value != NULL) {
        done = PyObject_CallOneArg(report, value);
    }
    Py_XDECREF(done);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    if (done == NULL && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return -1;
        }
        /* Logging itself failed: nothing more can be done quietly. */
        PyErr_Clear();
    }
    return 0;
}

static PyObject *
python_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *method = PyObject_GetAttr(self, s_python_call);
    if (method == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Call(method, args, kwargs);
    Py_DECREF(method);
    return result;
}

/* self._record(conf, sql, params, many, context, started_at, elapsed_ns,
 * exc, 1): 0, or -1 with an exception set. */
static int
python_record(PyObject *self, PyObject *conf, PyObject *const *call,
              PyObject *started_at, PyObject *elapsed_ns, PyObject *exc)
{
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL) {
        return -1;
    }
    PyObject *argv[10] = {self,       conf,       call[0], call[1], call[2],
                          call[3],    started_at, elapsed_ns, exc, one};
    PyObject *result = PyObject_VectorcallMethod(
        s__record, argv, 10 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(one);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static PyObject *
recorder_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    if (instrument_ns == NULL || PyTuple_GET_SIZE(args) != 5 ||
        (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        return python_call(self, args, kwargs);
    }
    PyObject *execute = PyTuple_GET_ITEM(args, 0);
    /* sql, params, many, context: what execute() is given. */
    PyObject *const *call = &PyTuple_GET_ITEM(args, 1);
    PyObject *conf = NULL;
    int usual = usual_query(call[0], call[2], &conf);
    if (usual != 1) {
        if (usual < 0) {
            /* python_call meets the same failure and handles it its way. */
            PyErr_Clear();
        }
        return python_call(self, args, kwargs);
    }

    PyObject *started_at = NS_CALL0(instrument_ns, _time);
    PyObject *start_ns = started_at == NULL
                             ? NULL
                             : NS_CALL0(instrument_ns, _perf_counter_ns);
    if (start_ns == NULL) {
        PyErr_Clear();
        Py_XDECREF(started_at);
        Py_DECREF(conf);
        return python_call(self, args, kwargs);
    }

    PyObject *result = PyObject_Vectorcall(execute, call, 4, NULL);

    /* Whatever it raised is kept aside, untouched, while the query is
     * recorded, and raised again after. */
    PyObject *type = NULL, *value = NULL, *traceback = NULL;
    if (result == NULL) {
        PyErr_Fetch(&type, &value, &traceback);
        PyErr_NormalizeException(&type, &value, &traceback);
        if (traceback != NULL && value != NULL) {
            PyException_SetTraceback(value, traceback);
        }
    }
    PyObject *elapsed_ns = NULL;
    PyObject *end_ns = NS_CALL0(instrument_ns, _perf_counter_ns);
    if (end_ns != NULL) {
        elapsed_ns = PyNumber_Subtract(end_ns, start_ns);
        Py_DECREF(end_ns);
    }
    int outcome = -1;
    if (elapsed_ns != NULL) {
        if (result == NULL) {
            /* A query that raised goes the eager way: the errors table. */
            outcome = python_record(self, conf, call, started_at, elapsed_ns,
                                    value ? value : Py_None);
        }
        else {
            outcome = record_raw(conf, call[0], call[1], call[3], started_at,
                                 elapsed_ns);
            if (outcome == 0) {
                outcome = python_record(self, conf, call, started_at, elapsed_ns,
                                        Py_None);
            }
        }
    }
    Py_XDECREF(elapsed_ns);
    Py_DECREF(start_ns);
    Py_DECREF(started_at);
    Py_DECREF(conf);

    if (outcome < 0 && failed() < 0) {
        /* A KeyboardInterrupt or the like, raised while recording: it
         * replaces the query's outcome, as it would in Python. */
        Py_XDECREF(result);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return NULL;
    }
    if (result == NULL) {
        PyErr_Restore(type, value, traceback);
    }
    return result;
}

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "perfprobe.db._recorder.Recorder",
    .tp_doc = PyDoc_STR("Base of QueryRecorder: its call, in C."),
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_call = recorder_call,
};

static int
replace(PyObject **slot, PyObject *value)
{
    Py_XINCREF(value);
    Py_XSETREF(*slot, value);
    return 0;
}

PyDoc_STRVAR(configure_doc,
"configure(instrument_ns, callsite_ns, conf_ns, monitoring_ns, tracing_ns,\n"
"          mark_var, scope_var)\n"
"--\n\n"
"Give the recorder the namespaces it reads at each call and the context\n"
"variables of the request mark and the scope. Until called, every call\n"
"goes to python_call.");

static PyObject *
configure(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "configure() takes exactly 7 arguments");
        return NULL;
    }
    for (int i = 0; i < 5; i++) {
        if (!PyDict_Check(args[i])) {
            PyErr_SetString(PyExc_TypeError, "configure(): namespaces must be dicts");
            return NULL;
        }
    }
    if (!PyContextVar_CheckExact(args[5]) || !PyContextVar_CheckExact(args[6])) {
        PyErr_SetString(PyExc_TypeError, "configure(): expected two ContextVars");
        return NULL;
    }
    PyObject *stack_origin = PyDict_GetItemWithError(args[1], s_stack_origin);
    PyObject *walk_stack = stack_origin == NULL
                               ? NULL
                               : PyDict_GetItemWithError(args[1], s__walk_stack);
    if (walk_stack == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError,
                            "configure(): callsite_ns lacks stack_origin or _walk_stack");
        }
        return NULL;
    }
    replace(&plain_stack_origin, stack_origin);
    replace(&plain_walk_stack, walk_stack);
    replace(&callsite_ns, args[1]);
    replace(&conf_ns, args[2]);
    replace(&monitoring_ns, args[3]);
    replace(&tracing_ns, args[4]);
    replace(&mark_var, args[5]);
    replace(&scope_var, args[6]);
    /* Last: a call sees instrument_ns set only once the rest is. */
    replace(&instrument_ns, args[0]);
    Py_RETURN_NONE;
}

static PyMethodDef recorder_methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     configure_doc},
    {NULL, NULL, 0, NULL},
};

static int
recorder_exec(PyObject *module)
{
#define INTERN(name)                                                      \
    if (s_##name == NULL && (s_##name = PyUnicode_InternFromString(#name)) == NULL) { \
        return -1;                                                        \
    }
    NAMES(INTERN)
#undef INTERN
    if (one_e9 == NULL && (one_e9 = PyFloat_FromDouble(1e9)) == NULL) {
        return -1;
    }
    if (debug_level == NULL && (debug_level = PyLong_FromLong(10)) == NULL) {
        return -1;
    }
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return -1;
    }
    if (PyType_Ready(&RecorderType) < 0) {
        return -1;
    }
    Py_INCREF(&RecorderType);
    if (PyModule_AddObject(module, "Recorder", (PyObject *)&RecorderType) < 0) {
        Py_DECREF(&RecorderType);
        return -1;
    }
    return 0;
}

static struct PyModuleDef_Slot recorder_slots[] = {
    {Py_mod_exec, recorder_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* The configuration is process state, shared by whatever imports this. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef recorder_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "perfprobe.db._recorder",
    .m_doc = "The query recorder's common path, in C.",
    .m_size = 0,
    .m_methods = recorder_methods,
    .m_slots = recorder_slots,
};

PyMODINIT_FUNC
PyInit__recorder(void)
{
    return PyModuleDef_Init(&recorder_module);
}
