/* The request middleware's common synchronous path, in C.
 *
 * perfprobe.middleware.PerformanceMiddleware derives from RequestPath when
 * this extension is built. Its tp_call serves a request the way the
 * middleware's Python __call__ does (perfprobe.middleware.python_call, the
 * definition), for the common case only: a synchronous middleware, no
 * enclosing scope or mark, settings already seen to monitor every request,
 * no running event loop. Anything else is handed to the Python code before
 * anything is changed. After the view, the scope is named here when its
 * route and method are already known (perfprobe.routes.endpoint_names) and
 * the view is not marked unmonitored, else by perfprobe.requestend.finish;
 * a request that ends quiet is kept as its tuple by try_quiet, the quiet
 * branch of Collector.request_ended, else that method is called.
 *
 * Every module-level object the Python code reads at call time is read at
 * call time here too, from the module's dict (the monitor, the loaded
 * settings, the tracing state, the clocks and RequestScope of the
 * middleware module, requestscope's next_scope_id): a test or a user that
 * replaces one is followed. On CPython 3.11 a global is taken again only
 * when its module's dict changed, attributes are read and stored through
 * per-site caches of where they live (_attrcache.h), and the request's
 * scope is made without running RequestScope.__init__'s frame while the
 * class, its __init__ and next_scope_id are the configured ones; the
 * clocks are read here while they are time.time and time.perf_counter_ns.
 * Exceptions from the view pass through with their traceback; failures in
 * the recording are logged through the Python helper given to configure,
 * never raised.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_timebuiltin.h"
#include <structmember.h>

#include "_attrcache.h"

#if PY_VERSION_HEX >= 0x030D0000
#define lookup_attr PyObject_GetOptionalAttr
#else
#define lookup_attr _PyObject_LookupAttr
#endif

typedef struct {
    PyObject_HEAD
    PyObject *get_response;
    PyObject *is_async;
    PyObject *monitors_all;
    PyObject *store_query_strings;
} RequestPath;

/* What configure() was given; NULL until then, and every call goes to
 * the Python path while any is. One interpreter: the module is loaded
 * with single-phase initialisation. */
static struct {
    PyObject *python_call;   /* the Python __call__, for whole requests */
    PyObject *finish;        /* requestend.finish: naming and record */
    PyObject *abandon;       /* middleware._abandon */
    PyObject *log_record;    /* logs a failure to record a request */
    PyObject *current_scope; /* the scope ContextVar */
    PyObject *running_loop;  /* asyncio._get_running_loop */
    PyObject *mw_globals;    /* the middleware module's dict */
    PyObject *monitoring;    /* perfprobe.monitoring's dict */
    PyObject *conf;          /* perfprobe.conf's dict */
    PyObject *tracing;       /* perfprobe.tracing's dict */
    PyObject *endpoint_names;
    PyObject *unmonitored_attr;
    PyObject *collector_type;
    PyObject *request_ended; /* the function RequestRecorder defines */
    Py_ssize_t request_batch;
    PyObject *wall_clock;    /* time.time, if configure was given it, or NULL */
    PyObject *perf_clock;    /* time.perf_counter_ns, likewise */
    PyObject *scope_globals; /* perfprobe.requestscope's dict */
    PyObject *scope_init;    /* RequestScope.__init__ */
    PyObject *scope_init_code; /* its code when configured, or NULL: always called */
    PyObject *next_scope_id; /* requestscope.next_scope_id as configured */
    PyObject *scope_counter; /* its __self__, an iterator: its tp_iternext */
} S;

static PyObject *str_time, *str_perf_counter_ns, *str_request_scope,
    *str_monitor, *str_loaded, *str_active, *str_no_tracer_until_ns,
    *str_get_tracer, *str_traced, *str_collector, *str_scope_table,
    *str_resolver_match, *str_named_match, *str_route, *str_method,
    *str_func, *str_request, *str_name, *str_endpoint, *str_error_attr,
    *str_raised_at_attr, *str_status_code, *str_meta, *str_get,
    *str_query_string, *str_id, *str_request_ended, *str_listeners,
    *str_scope_listeners, *str_request_listeners, *str_items, *str_lock,
    *str_is_owned, *str_scopes, *str_tracker, *str_pending, *str_acquire,
    *str_release, *str_thread_logs, *str_logs, *str_records, *str_queries,
    *str_states, *str_history, *str_closed_count, *str_request_log,
    *str_fold_requests, *str_activity, *str_open_blocks, *str_mark_others,
    *str_recent, *str_append, *str_deferred, *str_run_deferred, *str_init,
    *str_next_scope_id, *str_parent, *str_started_at, *str_started_ns,
    *str_task, *str_self, *str_next, *str_suppressed;

static PyObject *one_billion;

static PyObject *thread_ident(void);

/* The whole request in Python, as if this type had no tp_call. */
static PyObject *
in_python(RequestPath *self, PyObject *request)
{
    return PyObject_CallFunctionObjArgs(S.python_call, (PyObject *)self,
                                        request, NULL);
}

/* ``obj.name``'s truth through a cache: 1, 0, or -1 with an exception set. */
static int
cached_true(AttrCache *cache, PyObject *obj)
{
    PyObject *value = attr_get(cache, obj);
    if (value == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
}

/* One cache for each attribute read or stored on every request: each call
 * site sees one type (the collector's, its scope table's, the request's). */
static AttrCache ac_records = ATTR_CACHE(&str_records);
static AttrCache ac_queries = ATTR_CACHE(&str_queries);
static AttrCache ac_request_ended = ATTR_CACHE(&str_request_ended);
static AttrCache ac_items = ATTR_CACHE(&str_items);
static AttrCache ac_tracker = ATTR_CACHE(&str_tracker);
static AttrCache ac_set_tracker = ATTR_CACHE(&str_tracker);
static AttrCache ac_pending = ATTR_CACHE(&str_pending);
static AttrCache ac_history = ATTR_CACHE(&str_history);
static AttrCache ac_closed_count = ATTR_CACHE(&str_closed_count);
static AttrCache ac_set_closed_count = ATTR_CACHE(&str_closed_count);
static AttrCache ac_request_log = ATTR_CACHE(&str_request_log);
static AttrCache ac_recent = ATTR_CACHE(&str_recent);
static AttrCache ac_states = ATTR_CACHE(&str_states);
static AttrCache ac_resolver_match = ATTR_CACHE(&str_resolver_match);
static AttrCache ac_named_match = ATTR_CACHE(&str_named_match);
static AttrCache ac_route = ATTR_CACHE(&str_route);
static AttrCache ac_method = ATTR_CACHE(&str_method);
static AttrCache ac_func = ATTR_CACHE(&str_func);
static AttrCache ac_unmonitored = ATTR_CACHE(&S.unmonitored_attr);
static AttrCache ac_set_request = ATTR_CACHE(&str_request);
static AttrCache ac_set_name = ATTR_CACHE(&str_name);
static AttrCache ac_set_endpoint = ATTR_CACHE(&str_endpoint);
static AttrCache ac_error_attr = ATTR_CACHE(&str_error_attr);
static AttrCache ac_raised_at_attr = ATTR_CACHE(&str_raised_at_attr);
static AttrCache ac_status_code = ATTR_CACHE(&str_status_code);
static AttrCache ac_id = ATTR_CACHE(&str_id);
static AttrCache ac_collector = ATTR_CACHE(&str_collector);

/* ``obj.name()``, a new reference or NULL with an exception set. */
static PyObject *
call_method0(PyObject *obj, PyObject *name)
{
    return PyObject_VectorcallMethod(name, &obj, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     NULL);
}

static PyObject *
call_method1(PyObject *obj, PyObject *name, PyObject *arg)
{
    PyObject *args[2] = {obj, arg};
    return PyObject_VectorcallMethod(name, args, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     NULL);
}

/* What a Collector sets once in __init__ and never rebinds (its scope
 * table, listener lists, lock, the thread logs' list and the activity with
 * its list of open blocks; the lock's deferred queue and bound methods), read once per collector: kept
 * for the collector last seen, known by a weak reference, as db/_recorder.c
 * keeps its listeners. Only for a collector whose type is Collector. */
#define PART_COUNT 13

typedef union {
    struct {
        PyObject *scopes;       /* _scopes */
        PyObject *scope_table;  /* scope_table */
        PyObject *listeners;    /* _listeners */
        PyObject *scope_listeners;
        PyObject *request_listeners;
        PyObject *lock;         /* _lock */
        PyObject *is_owned;     /* _lock._is_owned, bound */
        PyObject *acquire;      /* _lock.acquire, bound */
        PyObject *release;      /* _lock.release, bound */
        PyObject *deferred;     /* _lock._deferred */
        PyObject *activity;     /* _activity */
        PyObject *logs;         /* thread_logs.logs, a list changed in place */
        PyObject *open_blocks;  /* _activity.open_blocks, a list changed in place */
    };
    PyObject *all[PART_COUNT];
} Parts;

static PyObject *seen_collector_ref;
static Parts seen;

/* ``collector``'s parts (a Collector's), new references in ``parts``,
 * read when ``collector`` is not the one last seen, which it becomes: 0,
 * or -1 with an exception set. Held by the caller: code run meanwhile (the
 * release of the parts replaced here, a deferred call, a finaliser) may
 * serve a request for another collector and replace ``seen``. */
static int
hold_parts(PyObject *collector, Parts *parts)
{
    if (seen_collector_ref != NULL &&
        PyWeakref_GET_OBJECT(seen_collector_ref) == collector) {
        for (int i = 0; i < PART_COUNT; i++) {
            parts->all[i] = Py_NewRef(seen.all[i]);
        }
        return 0;
    }
    Parts got = {{NULL}};
    PyObject *names[6] = {str_scopes, str_scope_table, str_listeners,
                          str_scope_listeners, str_request_listeners, str_lock};
    PyObject *lock_names[4] = {str_is_owned, str_acquire, str_release,
                               str_deferred};
    int ok = 1;
    for (int i = 0; i < 6 && ok; i++) {
        got.all[i] = PyObject_GetAttr(collector, names[i]);
        ok = got.all[i] != NULL;
    }
    for (int i = 0; i < 4 && ok; i++) {
        got.all[6 + i] = PyObject_GetAttr(got.lock, lock_names[i]);
        ok = got.all[6 + i] != NULL;
    }
    if (ok) {
        got.activity = PyObject_GetAttr(collector, str_activity);
        PyObject *threads = got.activity == NULL
                                ? NULL
                                : PyObject_GetAttr(collector, str_thread_logs);
        got.logs = threads == NULL ? NULL : PyObject_GetAttr(threads, str_logs);
        Py_XDECREF(threads);
        got.open_blocks = got.logs == NULL
                              ? NULL
                              : PyObject_GetAttr(got.activity, str_open_blocks);
        if (got.open_blocks != NULL &&
            !(PyList_CheckExact(got.logs) && PyList_CheckExact(got.open_blocks))) {
            PyErr_SetString(PyExc_TypeError, "the thread logs must be lists");
            Py_CLEAR(got.open_blocks);
        }
        ok = got.open_blocks != NULL;
    }
    PyObject *ref = ok ? PyWeakref_NewRef(collector, NULL) : NULL;
    if (ref == NULL) {
        for (int i = 0; i < PART_COUNT; i++) {
            Py_XDECREF(got.all[i]);
        }
        return -1;
    }
    for (int i = 0; i < PART_COUNT; i++) {
        parts->all[i] = Py_NewRef(got.all[i]);
    }
    /* Every part replaced before the old ones are released, whose release
     * may run code (a finaliser) that serves a request. */
    PyObject *old_ref = seen_collector_ref;
    Parts old = seen;
    seen_collector_ref = ref;
    seen = got;
    Py_XDECREF(old_ref);
    for (int i = 0; i < PART_COUNT; i++) {
        Py_XDECREF(old.all[i]);
    }
    return 0;
}

static void
drop_parts(Parts *parts)
{
    for (int i = 0; i < PART_COUNT; i++) {
        Py_CLEAR(parts->all[i]);
    }
}

/* Whether any thread log holds a timer record or a raw query: 1, 0, -1.
 * The list is walked as Python's ``for`` walks it, each log held while
 * read (reading it may run code that changes the list). */
static int
logs_busy(PyObject *logs)
{
    int busy = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(logs) && !busy; i++) {
        PyObject *log = Py_NewRef(PyList_GET_ITEM(logs, i));
        busy = cached_true(&ac_records, log);
        if (busy == 0) {
            busy = cached_true(&ac_queries, log);
        }
        Py_DECREF(log);
    }
    return busy;
}

/* Whether ``collector.request_ended`` is RequestRecorder's own, bound to
 * it (no instance attribute, no patched class): 1, 0, or -1. */
static int
own_request_ended(PyObject *collector)
{
    if (attr_is_class_descr(&ac_request_ended, collector, S.request_ended)) {
        return 1;
    }
    PyObject *method = NULL;
#if PY_VERSION_HEX < 0x030D0000
    /* As the interpreter looks a method up: no bound method made. */
    int found = _PyObject_GetMethod(collector, str_request_ended, &method);
    Py_XDECREF(method);
    if (method == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return found == 1 && method == S.request_ended;
#else
    method = PyObject_GetAttr(collector, str_request_ended);
    if (method == NULL) {
        return -1;
    }
    int own = PyMethod_Check(method) &&
              PyMethod_GET_FUNCTION(method) == S.request_ended &&
              PyMethod_GET_SELF(method) == collector;
    Py_DECREF(method);
    return own;
#endif
}

/* The checks of request_ended's quiet branch that need no lock: 1 when
 * the request may be quiet, 0 when the Python method must decide, -1. */
static int
may_be_quiet(PyObject *collector, PyObject *scope, Parts *parts)
{
    /* A subclass, a patched class or an instance attribute: its own. */
    int own = own_request_ended(collector);
    if (own <= 0) {
        return own;
    }
    PyObject *lists[3] = {parts->listeners, parts->scope_listeners,
                          parts->request_listeners};
    for (int i = 0; i < 3; i++) {
        int heard = cached_true(&ac_items, lists[i]);
        if (heard != 0) {
            return heard < 0 ? -1 : 0;
        }
    }
    PyObject *tracker = attr_get(&ac_tracker, scope);
    if (tracker == NULL) {
        return -1;
    }
    Py_DECREF(tracker);
    if (tracker != parts->scopes) {
        return 0; /* not opened here */
    }
    /* Looked at before the lock too: a request after one with queries
     * (whose scope waits) takes the lock once, in Python. The thread logs
     * are looked at only under the lock: a request with queries takes it
     * twice, a quiet one reads them once. */
    int pending = cached_true(&ac_pending, collector);
    return pending == 0 ? 1 : (pending < 0 ? -1 : 0);
}

/* Keep a quiet request as its tuple, with the collector's lock held: the
 * keeps of request_ended's quiet branch, in its order. 0, or -1. */
static int
keep_quiet(PyObject *collector, PyObject *scope, Parts *parts, PyObject *quiet)
{
    PyObject *scopes = parts->scopes;
    if (attr_set(&ac_set_tracker, scope, Py_None) < 0) {
        return -1;
    }
    PyObject *history = attr_get(&ac_history, scopes);
    if (history == NULL) {
        return -1;
    }
    PyObject *done = call_method1(history, str_append, quiet);
    Py_DECREF(history);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    PyObject *count = attr_get(&ac_closed_count, scopes);
    if (count == NULL) {
        return -1;
    }
    PyObject *one = PyLong_FromLong(1);
    PyObject *more = one == NULL ? NULL : PyNumber_Add(count, one);
    Py_DECREF(count);
    Py_XDECREF(one);
    if (more == NULL) {
        return -1;
    }
    int stored = attr_set(&ac_set_closed_count, scopes, more);
    Py_DECREF(more);
    if (stored < 0) {
        return -1;
    }
    PyObject *waiting = attr_get(&ac_request_log, collector);
    if (waiting == NULL) {
        return -1;
    }
    Py_ssize_t size = -1;
    if (PyList_CheckExact(waiting)) {
        if (PyList_Append(waiting, quiet) == 0) {
            size = PyList_GET_SIZE(waiting);
        }
    }
    else if ((done = call_method1(waiting, str_append, quiet)) != NULL) {
        Py_DECREF(done);
        size = PyObject_Length(waiting);
    }
    Py_DECREF(waiting);
    if (size < 0) {
        return -1;
    }
    if (size >= S.request_batch) {
        done = call_method0(collector, str_fold_requests);
        if (done == NULL) {
            return -1;
        }
        Py_DECREF(done);
    }
    if (PyList_GET_SIZE(parts->open_blocks) > 0) {
        done = call_method1(parts->activity, str_mark_others,
                            PyTuple_GET_ITEM(quiet, 4));
        if (done == NULL) {
            return -1;
        }
        Py_DECREF(done);
    }
    PyObject *recent = attr_get(&ac_recent, collector);
    if (recent == NULL) {
        return -1;
    }
    done = call_method1(recent, str_append, quiet);
    Py_DECREF(recent);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    return 0;
}

/* The lock's ``_is_owned``, ``acquire`` or ``release``, a bound method kept
 * per collector: 0, or -1 with an exception set. ``owned`` gets the truth
 * of the answer when not NULL. */
static int
lock_call(PyObject *bound, int *owned)
{
    PyObject *answer = PyObject_CallNoArgs(bound);
    if (answer == NULL) {
        return -1;
    }
    if (owned != NULL) {
        *owned = answer != Py_False;
    }
    Py_DECREF(answer);
    return 0;
}

/* request_ended's quiet branch: 1 when the request was kept as its
 * tuple, 0 when nothing was changed and Collector.request_ended must be
 * called, -1 with an exception set. The caller has checked the error
 * type and the status; the scope has no parent (made by tp_call). */
static int
try_quiet(PyObject *collector, PyObject *scope, PyObject *quiet)
{
    if ((PyObject *)Py_TYPE(collector) != S.collector_type) {
        return 0;
    }
    Parts parts;
    if (hold_parts(collector, &parts) < 0) {
        return -1;
    }
    int outcome = may_be_quiet(collector, scope, &parts);
    if (outcome <= 0) {
        goto done;
    }
    /* Inside the lock already (a finaliser): the Python method defers. */
    int owned = 1;
    if (lock_call(parts.is_owned, &owned) < 0 || owned) {
        outcome = owned ? 0 : -1;
        goto done;
    }
    if (lock_call(parts.acquire, NULL) < 0) {
        outcome = -1;
        goto done;
    }
    /* Under the lock, as the Python branch decides: no records, no raw
     * queries, no waiting scope, no state of the scope's own. */
    outcome = logs_busy(parts.logs);
    if (outcome == 0) {
        outcome = cached_true(&ac_pending, collector);
    }
    if (outcome == 0) {
        PyObject *states = attr_get(&ac_states, parts.scopes);
        PyObject *id = PyTuple_GET_ITEM(quiet, 8);
        outcome = states == NULL ? -1 : PySequence_Contains(states, id);
        Py_XDECREF(states);
    }
    if (outcome == 0) {
        outcome = keep_quiet(collector, scope, &parts, quiet) < 0 ? -1 : 1;
    }
    else if (outcome > 0) {
        outcome = 0;
    }
    {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (lock_call(parts.release, NULL) < 0) {
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
            outcome = -1;
            goto done;
        }
        PyErr_Restore(type, value, tb);
    }
    if (outcome == 1) {
        int deferred = PyObject_IsTrue(parts.deferred);
        if (deferred > 0) {
            PyObject *ran = call_method0(parts.lock, str_run_deferred);
            deferred = ran == NULL ? -1 : 0;
            Py_XDECREF(ran);
        }
        if (deferred < 0) {
            outcome = -1;
        }
    }
done:
    drop_parts(&parts);
    return outcome;
}

static AttrCache ac_suppressed = ATTR_CACHE(&str_suppressed);
static AttrCache ac_endpoint = ATTR_CACHE(&str_endpoint);

/* The endpoint of a scope a probe had named after ``match``, the URL match
 * the request still has (RequestScope.named's first case): a new reference,
 * the request let go of; NULL with the scope untouched when the view is
 * unmonitored, or on a failure (with an exception set). */
static PyObject *
named_before(PyObject *scope)
{
    PyObject *flag = NULL, *endpoint = NULL;
    if (attr_lookup(&ac_suppressed, scope, &flag) <= 0) {
        return NULL;
    }
    int suppressed = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    if (suppressed != 0 || attr_lookup(&ac_endpoint, scope, &endpoint) <= 0) {
        return NULL;
    }
    if (!PyTuple_CheckExact(endpoint) || PyTuple_GET_SIZE(endpoint) != 2 ||
        attr_set(&ac_set_request, scope, Py_None) < 0) {
        Py_DECREF(endpoint);
        return NULL;
    }
    return endpoint;
}

/* The scope's endpoint, named as RequestScope.named does, when a probe
 * had it named after the request's URL match, or when its route and
 * method are known and its view is not unmonitored: a new reference, the
 * scope named and its request let go of. NULL otherwise, with no
 * exception set and the scope untouched: RequestScope.named decides (or
 * with one set that must pass). */
static PyObject *
named(PyObject *scope, PyObject *request)
{
    PyObject *match = NULL, *seen = NULL, *route = NULL, *method = NULL;
    PyObject *func = NULL, *flag = NULL, *endpoint = NULL;
    PyObject *by_method = NULL, *found = NULL;
    if (attr_lookup(&ac_resolver_match, request, &match) <= 0 || match == Py_None) {
        goto done;
    }
    if (attr_lookup(&ac_named_match, scope, &seen) < 0) {
        goto done;
    }
    if (seen == match) {
        endpoint = named_before(scope);
        goto done;
    }
    if (seen != Py_None) {
        goto done; /* resolved again since: the Python method */
    }
    route = attr_get(&ac_route, match);
    method = route == NULL ? NULL : attr_get(&ac_method, request);
    if (method == NULL) {
        goto done;
    }
    /* Held, not borrowed: the look-ups below run the user's code (a view
     * object's __getattr__, a method's __eq__), which may let another
     * thread name the endpoint anew and free the tuple found here. */
    by_method = PyDict_GetItemWithError(S.endpoint_names, route);
    if (by_method == NULL || !PyDict_CheckExact(by_method)) {
        by_method = NULL;
        goto done;
    }
    Py_INCREF(by_method);
    found = PyDict_GetItemWithError(by_method, method);
    if (found == NULL || !PyTuple_CheckExact(found) || PyTuple_GET_SIZE(found) != 2) {
        found = NULL;
        goto done;
    }
    Py_INCREF(found);
    func = attr_get(&ac_func, match);
    if (func == NULL || attr_lookup(&ac_unmonitored, func, &flag) < 0) {
        goto done;
    }
    if (flag != NULL) {
        int unmonitored = PyObject_IsTrue(flag);
        if (unmonitored != 0) {
            goto done;
        }
    }
    if (attr_set(&ac_set_request, scope, Py_None) < 0 ||
        attr_set(&ac_set_name, scope, PyTuple_GET_ITEM(found, 0)) < 0 ||
        attr_set(&ac_set_endpoint, scope, found) < 0) {
        goto done;
    }
    endpoint = Py_NewRef(found);
done:
    Py_XDECREF(match);
    Py_XDECREF(seen);
    Py_XDECREF(route);
    Py_XDECREF(method);
    Py_XDECREF(func);
    Py_XDECREF(flag);
    Py_XDECREF(by_method);
    Py_XDECREF(found);
    /* Whatever failed here is retried by the Python method, which logs;
     * but an exception that is no Exception (KeyboardInterrupt from a
     * signal handler, run in the user's code read here) passes, as it
     * would through that method. */
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_Exception)) {
        return NULL;
    }
    PyErr_Clear();
    return endpoint;
}

/* Record a named request: 0, or -1 with an exception set. */
static int
record(RequestPath *self, PyObject *monitor, PyObject *scope, PyObject *request,
       PyObject *response, PyObject *started_at, PyObject *duration,
       PyObject *endpoint)
{
    PyObject *error_type = NULL, *raised_at = NULL, *status = NULL;
    PyObject *query_string = NULL, *quiet = NULL, *collector = NULL;
    int result = -1;
    if (attr_lookup(&ac_error_attr, request, &error_type) < 0) {
        goto done;
    }
    if (error_type == NULL) {
        error_type = Py_NewRef(Py_None);
    }
    else if (error_type != Py_None &&
             attr_lookup(&ac_raised_at_attr, request, &raised_at) < 0) {
        goto done;
    }
    if (raised_at == NULL) {
        raised_at = Py_NewRef(Py_None);
    }
    PyObject *code = attr_get(&ac_status_code, response);
    if (code == NULL) {
        goto done;
    }
    status = PyNumber_Long(code);
    Py_DECREF(code);
    if (status == NULL) {
        goto done;
    }
    int store = self->store_query_strings == NULL
                    ? 0
                    : PyObject_IsTrue(self->store_query_strings);
    if (store < 0) {
        goto done;
    }
    if (store) {
        PyObject *meta = PyObject_GetAttr(request, str_meta);
        if (meta == NULL) {
            goto done;
        }
        query_string = call_method1(meta, str_get, str_query_string);
        Py_DECREF(meta);
        if (query_string == NULL) {
            goto done;
        }
        int given = PyObject_IsTrue(query_string);
        if (given < 0) {
            goto done;
        }
        if (!given) {
            Py_SETREF(query_string, Py_NewRef(Py_None));
        }
    }
    else {
        query_string = Py_NewRef(Py_None);
    }
    PyObject *id = attr_get(&ac_id, scope);
    if (id == NULL) {
        goto done;
    }
    PyObject *thread = thread_ident();
    if (thread == NULL) {
        Py_DECREF(id);
        goto done;
    }
    quiet = PyTuple_Pack(11, PyTuple_GET_ITEM(endpoint, 1), status, duration,
                         started_at, thread, query_string, error_type, raised_at,
                         id, PyTuple_GET_ITEM(endpoint, 0), started_at);
    Py_DECREF(id);
    Py_DECREF(thread);
    if (quiet == NULL) {
        goto done;
    }
    /* Read again: a collector replaced during the request takes it. */
    collector = attr_get(&ac_collector, monitor);
    if (collector == NULL) {
        goto done;
    }
    int kept = 0;
    if (error_type == Py_None) {
        long code_value = PyLong_AsLong(status);
        if (code_value == -1 && PyErr_Occurred()) {
            PyErr_Clear(); /* past a C long: not quiet */
        }
        else if (code_value < 500) {
            kept = try_quiet(collector, scope, quiet);
            if (kept < 0) {
                goto done;
            }
        }
    }
    if (!kept) {
        PyObject *args[3] = {collector, scope, quiet};
        PyObject *done = PyObject_VectorcallMethod(
            str_request_ended, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (done == NULL) {
            goto done;
        }
        Py_DECREF(done);
    }
    result = 0;
done:
    Py_XDECREF(error_type);
    Py_XDECREF(raised_at);
    Py_XDECREF(status);
    Py_XDECREF(query_string);
    Py_XDECREF(quiet);
    Py_XDECREF(collector);
    return result;
}

/* Log the exception set now as a failure to record a request; an
 * exception that is no Exception (KeyboardInterrupt) stays set: -1. */
static int
log_record_failure(void)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return -1;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    PyObject *handled = PyErr_GetHandledException();
    PyErr_SetHandledException(value);
    PyObject *logged = PyObject_CallNoArgs(S.log_record);
    PyErr_SetHandledException(handled);
    Py_XDECREF(handled);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (logged == NULL) {
        /* logging itself failed: nothing more to do than Python would */
        PyErr_Clear();
    }
    Py_XDECREF(logged);
    return 0;
}

/* After the view: name, record, return the response (a new reference). */
static PyObject *
finish(RequestPath *self, PyObject *monitor, PyObject *scope, PyObject *request,
       PyObject *response, PyObject *started_at, PyObject *duration)
{
    PyObject *endpoint = named(scope, request);
    if (endpoint == NULL && PyErr_Occurred()) {
        return NULL;
    }
    if (endpoint == NULL) {
        PyObject *args[7] = {(PyObject *)self, monitor, scope, request, response,
                             started_at, duration};
        return PyObject_Vectorcall(S.finish, args, 7, NULL);
    }
    int recorded = record(self, monitor, scope, request, response, started_at,
                          duration, endpoint);
    Py_DECREF(endpoint);
    if (recorded < 0 && log_record_failure() < 0) {
        return NULL;
    }
    return Py_NewRef(response);
}

/* A module global read on every request, kept with the version of the
 * module's dict it was read at (3.11: ma_version_tag, which every change
 * of any dict makes new, so one version is one dict in one state; the
 * value is the dict's while it holds). Elsewhere, looked up each time. */
typedef struct {
    PyObject **dict;
    PyObject **name;
    uint64_t version;
    PyObject *value;
} GlobalCache;

#define GLOBAL_CACHE(dict, name) {(dict), (name), 0, NULL}

/* The global's value, borrowed; NULL when missing, with an exception set
 * if the look-up failed. */
static PyObject *
global_value(GlobalCache *cache)
{
    PyObject *dict = *cache->dict;
#ifdef PERFPROBE_ATTR_CACHE
    _Py_COMP_DIAG_PUSH
    _Py_COMP_DIAG_IGNORE_DEPR_DECLS
    uint64_t version = ((PyDictObject *)dict)->ma_version_tag;
    _Py_COMP_DIAG_POP
    if (cache->version != 0 && version == cache->version) {
        return cache->value;
    }
    cache->version = 0;
#endif
    PyObject *value = PyDict_GetItemWithError(dict, *cache->name);
#ifdef PERFPROBE_ATTR_CACHE
    if (value != NULL) {
        cache->value = value;
        cache->version = version;
    }
#endif
    return value;
}

static GlobalCache g_next_scope_id = GLOBAL_CACHE(&S.scope_globals, &str_next_scope_id);
static GlobalCache g_active = GLOBAL_CACHE(&S.tracing, &str_active);
static GlobalCache g_no_tracer_until = GLOBAL_CACHE(&S.tracing, &str_no_tracer_until_ns);
static GlobalCache g_get_tracer = GLOBAL_CACHE(&S.tracing, &str_get_tracer);
static GlobalCache g_loaded = GLOBAL_CACHE(&S.conf, &str_loaded);
static GlobalCache g_monitor = GLOBAL_CACHE(&S.monitoring, &str_monitor);
static GlobalCache g_time = GLOBAL_CACHE(&S.mw_globals, &str_time);
static GlobalCache g_perf_counter_ns = GLOBAL_CACHE(&S.mw_globals, &str_perf_counter_ns);
static GlobalCache g_request_scope = GLOBAL_CACHE(&S.mw_globals, &str_request_scope);

/* The global's value, a new reference; NULL as global_value. */
static PyObject *
global(GlobalCache *cache)
{
    return Py_XNewRef(global_value(cache));
}

/* ``clock()``: read here when it is the very function the configured
 * module had (time.time or time.perf_counter_ns), which compute the same
 * objects from the same clocks; else called (a test's patched clock). */
static PyObject *
clock_now(PyObject *clock)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyTime_t t;
    if (clock == S.wall_clock) {
        return PyTime_Time(&t) < 0 ? NULL : PyFloat_FromDouble(PyTime_AsSecondsDouble(t));
    }
    if (clock == S.perf_clock) {
        return PyTime_PerfCounter(&t) < 0 ? NULL : PyLong_FromLongLong(t);
    }
#else
    if (clock == S.wall_clock) {
        return PyFloat_FromDouble(_PyTime_AsSecondsDouble(_PyTime_GetSystemClock()));
    }
    if (clock == S.perf_clock) {
        return _PyTime_AsNanosecondsObject(_PyTime_GetPerfCounter());
    }
#endif
    return PyObject_CallNoArgs(clock);
}

/* threading.get_ident() as an int, the one last made kept for the next
 * request of the same thread (an int is immutable; only its value is
 * read). The GIL is held from the read of the ident to its use. */
static PyObject *
thread_ident(void)
{
    static unsigned long last_ident;
    static PyObject *last_object;
    unsigned long ident = PyThread_get_thread_ident();
    if (last_object == NULL || ident != last_ident) {
        PyObject *made = PyLong_FromUnsignedLong(ident);
        if (made == NULL) {
            return NULL;
        }
        Py_XSETREF(last_object, made);
        last_ident = ident;
    }
    return Py_NewRef(last_object);
}

static AttrCache ac_set_parent = ATTR_CACHE(&str_parent);
static AttrCache ac_set_id = ATTR_CACHE(&str_id);
static AttrCache ac_set_started_at = ATTR_CACHE(&str_started_at);
static AttrCache ac_set_started_ns = ATTR_CACHE(&str_started_ns);
static AttrCache ac_set_task = ATTR_CACHE(&str_task);
static AttrCache ac_set_scope_request = ATTR_CACHE(&str_request);
static AttrCache ac_set_scope_tracker = ATTR_CACHE(&str_tracker);

/* Whether ``type`` is made by object.__new__ and the configured
 * RequestScope.__init__, through type.__call__: known for the type's
 * version last seen (changed by any change to the class or its bases). */
#ifdef PERFPROBE_ATTR_CACHE
/* The type plain_scope_type() last found plain, at its version; emptied by
 * configure(). */
static PyTypeObject *seen_type;
static unsigned int seen_version;
#endif

static int
plain_scope_type(PyObject *type_obj)
{
#ifdef PERFPROBE_ATTR_CACHE
    PyTypeObject *type = (PyTypeObject *)type_obj;
    /* __init__ given other code (its __code__ assigned) runs that code. */
    if (!PyType_Check(type_obj) || S.scope_init_code == NULL ||
        PyFunction_GET_CODE(S.scope_init) != S.scope_init_code) {
        return 0;
    }
    if (type == seen_type && seen_version != 0 && type->tp_version_tag == seen_version) {
        return 1;
    }
    seen_version = 0;
    if (Py_TYPE(type_obj)->tp_call != PyType_Type.tp_call ||
        type->tp_new != PyBaseObject_Type.tp_new ||
        !(type->tp_flags & Py_TPFLAGS_MANAGED_DICT) ||
        _PyType_Lookup(type, str_init) != S.scope_init ||
        !(type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) || type->tp_version_tag == 0) {
        return 0;
    }
    seen_type = type;
    seen_version = type->tp_version_tag;
    return 1;
#else
    return 0;
#endif
}

/* ``RequestScope(None, started_at, started_ns, None, request, tracker)``.
 * Where the class and its __init__ are the configured ones and the
 * module's next_scope_id is the count's own, the object is made by
 * object.__new__ and given __init__'s attributes in __init__'s order, with
 * the count's next value: what __init__ would do, without its frame. */
static PyObject *
new_scope(PyObject *scope_type, PyObject *started_at, PyObject *started_ns,
          PyObject *request, PyObject *tracker)
{
    PyObject *next_id = global_value(&g_next_scope_id);
    if (next_id == NULL || next_id != S.next_scope_id || S.scope_counter == NULL ||
        !plain_scope_type(scope_type)) {
        PyObject *args[6] = {Py_None, started_at, started_ns, Py_None, request,
                             tracker};
        return PyErr_Occurred() ? NULL : PyObject_Vectorcall(scope_type, args, 6, NULL);
    }
    PyObject *no_args = PyTuple_New(0);
    if (no_args == NULL) {
        return NULL;
    }
    PyObject *scope = PyBaseObject_Type.tp_new((PyTypeObject *)scope_type, no_args, NULL);
    Py_DECREF(no_args);
    if (scope == NULL) {
        return NULL;
    }
    if (attr_set(&ac_set_parent, scope, Py_None) < 0) {
        goto fail;
    }
    PyObject *counter = S.scope_counter;
    PyObject *id = Py_TYPE(counter)->tp_iternext(counter);
    if (id == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        goto fail;
    }
    int stored = attr_set(&ac_set_id, scope, id);
    Py_DECREF(id);
    if (stored < 0 || attr_set(&ac_set_started_at, scope, started_at) < 0 ||
        attr_set(&ac_set_started_ns, scope, started_ns) < 0 ||
        attr_set(&ac_set_task, scope, Py_None) < 0 ||
        attr_set(&ac_set_scope_request, scope, request) < 0 ||
        attr_set(&ac_set_scope_tracker, scope, tracker) < 0) {
        goto fail;
    }
    return scope;
fail:
    Py_DECREF(scope);
    return NULL;
}

/* Whether a span is to be made: tracing.active, the start past
 * no_tracer_until_ns and a tracer. 1, 0, or -1 with an exception set. */
static int
traced(PyObject *started_ns)
{
    PyObject *active = global_value(&g_active);
    if (active == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    int on = PyObject_IsTrue(active);
    if (on <= 0) {
        return on;
    }
    PyObject *until = global_value(&g_no_tracer_until);
    if (until == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    on = PyObject_RichCompareBool(started_ns, until, Py_GE);
    if (on <= 0) {
        return on;
    }
    PyObject *get_tracer = global(&g_get_tracer);
    if (get_tracer == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *tracer = PyObject_CallNoArgs(get_tracer);
    Py_DECREF(get_tracer);
    if (tracer == NULL) {
        return -1;
    }
    Py_DECREF(tracer);
    return tracer != Py_None;
}

static PyObject *
duration_of(PyObject *started_ns, PyObject *ended_ns)
{
    int overflow = 0;
    long long start = PyLong_AsLongLongAndOverflow(started_ns, &overflow);
    if (!overflow && !(start == -1 && PyErr_Occurred())) {
        long long end = PyLong_AsLongLongAndOverflow(ended_ns, &overflow);
        if (!overflow && !(end == -1 && PyErr_Occurred()) &&
            (start <= 0 || end >= LLONG_MIN + start) &&
            (start >= 0 || end <= LLONG_MAX + start)) {
            return PyFloat_FromDouble((double)(end - start) / 1e9);
        }
    }
    PyErr_Clear();
    PyObject *elapsed = PyNumber_Subtract(ended_ns, started_ns);
    if (elapsed == NULL) {
        return NULL;
    }
    PyObject *duration = PyNumber_TrueDivide(elapsed, one_billion);
    Py_DECREF(elapsed);
    return duration;
}

static PyObject *
request_path_call(RequestPath *self, PyObject *args, PyObject *kwargs)
{
    if (S.python_call == NULL || PyTuple_GET_SIZE(args) != 1 ||
        (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        if (S.python_call == NULL) {
            PyErr_SetString(PyExc_RuntimeError,
                            "perfprobe._reqpath is not configured");
            return NULL;
        }
        PyObject *with_self = PyTuple_New(PyTuple_GET_SIZE(args) + 1);
        if (with_self == NULL) {
            return NULL;
        }
        PyTuple_SET_ITEM(with_self, 0, Py_NewRef(self));
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
            PyTuple_SET_ITEM(with_self, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
        }
        PyObject *result = PyObject_Call(S.python_call, with_self, kwargs);
        Py_DECREF(with_self);
        return result;
    }
    PyObject *request = PyTuple_GET_ITEM(args, 0);
    if (self->is_async != Py_False || self->get_response == NULL) {
        return in_python(self, request);
    }

    /* Guards: the Python code serves whatever is not the common case. */
    PyObject *parent = NULL;
    if (PyContextVar_Get(S.current_scope, Py_None, &parent) < 0) {
        PyErr_Clear();
        return in_python(self, request);
    }
    Py_DECREF(parent);
    if (parent != Py_None) {
        return in_python(self, request);
    }
    PyObject *loaded = global_value(&g_loaded);
    if (loaded == NULL || loaded != self->monitors_all) {
        PyErr_Clear();
        return in_python(self, request);
    }

    PyObject *monitor = NULL, *time_fn = NULL, *clock = NULL, *scope_type = NULL;
    PyObject *started_at = NULL, *started_ns = NULL, *collector = NULL;
    PyObject *tracker = NULL, *loop = NULL, *scope = NULL, *token = NULL;
    PyObject *get_response = NULL, *response = NULL, *ended_ns = NULL;
    PyObject *duration = NULL, *result = NULL;
    int handed_back = 1;

    monitor = global(&g_monitor);
    time_fn = monitor == NULL ? NULL : global(&g_time);
    clock = time_fn == NULL ? NULL : global(&g_perf_counter_ns);
    scope_type = clock == NULL ? NULL : global(&g_request_scope);
    if (scope_type == NULL) {
        goto cleanup;
    }
    started_at = clock_now(time_fn);
    started_ns = started_at == NULL ? NULL : clock_now(clock);
    if (started_ns == NULL) {
        goto cleanup;
    }
    /* A collector without a scope table (one of the user's own) is the
     * Python code's to log. */
    collector = attr_get(&ac_collector, monitor);
    if (collector != NULL && (PyObject *)Py_TYPE(collector) == S.collector_type) {
        Parts parts;
        if (hold_parts(collector, &parts) == 0) {
            tracker = Py_NewRef(parts.scope_table);
            drop_parts(&parts);
        }
    }
    else if (collector != NULL) {
        tracker = PyObject_GetAttr(collector, str_scope_table);
    }
    if (tracker == NULL) {
        goto cleanup;
    }
    loop = PyObject_CallNoArgs(S.running_loop);
    if (loop == NULL || loop != Py_None) {
        goto cleanup; /* a scope opened in a running loop has its task */
    }
    scope = new_scope(scope_type, started_at, started_ns, request, tracker);
    if (scope == NULL) {
        goto cleanup;
    }
    token = PyContextVar_Set(S.current_scope, scope);
    if (token == NULL) {
        goto cleanup;
    }
    handed_back = 0;

    /* The view, with the scope current. */
    int span = traced(started_ns);
    if (span == 0 && self->get_response == NULL) {
        PyErr_SetString(PyExc_AttributeError, "get_response");
    }
    else if (span == 0) {
        get_response = Py_NewRef(self->get_response);
        response = PyObject_CallOneArg(get_response, request);
    }
    else if (span > 0) {
        response = call_method1((PyObject *)self, str_traced, request);
    }
    if (response == NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *args3[3] = {monitor, scope, token};
        PyObject *abandoned = PyObject_Vectorcall(S.abandon, args3, 3, NULL);
        if (abandoned == NULL) {
            PyErr_WriteUnraisable(S.abandon);
        }
        Py_XDECREF(abandoned);
        PyErr_Restore(type, value, tb);
        goto cleanup;
    }
    if (PyContextVar_Reset(S.current_scope, token) < 0) {
        goto cleanup;
    }
    ended_ns = clock_now(clock);
    duration = ended_ns == NULL ? NULL : duration_of(started_ns, ended_ns);
    if (duration == NULL) {
        goto cleanup;
    }
    result = finish(self, monitor, scope, request, response, started_at, duration);

cleanup:
    /* Handed back, the Python code does it all again and meets a lasting
     * failure itself; an exception that is no Exception (KeyboardInterrupt
     * or SystemExit from a signal handler, run in whatever Python code was
     * called here) passes, as it would through the Python code. */
    if (handed_back && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_Exception)) {
            PyErr_Clear();
        }
        else {
            handed_back = 0;
        }
    }
    Py_XDECREF(monitor);
    Py_XDECREF(time_fn);
    Py_XDECREF(clock);
    Py_XDECREF(scope_type);
    Py_XDECREF(started_at);
    Py_XDECREF(started_ns);
    Py_XDECREF(collector);
    Py_XDECREF(tracker);
    Py_XDECREF(loop);
    Py_XDECREF(scope);
    Py_XDECREF(token);
    Py_XDECREF(get_response);
    Py_XDECREF(response);
    Py_XDECREF(ended_ns);
    Py_XDECREF(duration);
    if (handed_back) {
        return in_python(self, request);
    }
    return result;
}

static int
request_path_traverse(RequestPath *self, visitproc visit, void *arg)
{
    Py_VISIT(self->get_response);
    Py_VISIT(self->is_async);
    Py_VISIT(self->monitors_all);
    Py_VISIT(self->store_query_strings);
    return 0;
}

static int
request_path_clear(RequestPath *self)
{
    Py_CLEAR(self->get_response);
    Py_CLEAR(self->is_async);
    Py_CLEAR(self->monitors_all);
    Py_CLEAR(self->store_query_strings);
    return 0;
}

static void
request_path_dealloc(RequestPath *self)
{
    PyObject_GC_UnTrack(self);
    request_path_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef request_path_members[] = {
    {"get_response", T_OBJECT_EX, offsetof(RequestPath, get_response), 0,
     "The rest of the stack, called with the request."},
    {"_is_async", T_OBJECT_EX, offsetof(RequestPath, is_async), 0, NULL},
    {"_monitors_all", T_OBJECT_EX, offsetof(RequestPath, monitors_all), 0, NULL},
    {"_store_query_strings", T_OBJECT_EX,
     offsetof(RequestPath, store_query_strings), 0, NULL},
    {NULL},
};

static PyTypeObject RequestPathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "perfprobe._reqpath.RequestPath",
    .tp_doc = PyDoc_STR("The middleware's common synchronous path in C."),
    .tp_basicsize = sizeof(RequestPath),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_call = (ternaryfunc)request_path_call,
    .tp_traverse = (traverseproc)request_path_traverse,
    .tp_clear = (inquiry)request_path_clear,
    .tp_dealloc = (destructor)request_path_dealloc,
    .tp_members = request_path_members,
};

static PyObject *
dict_of(PyObject *module)
{
    PyObject *dict = PyObject_GetAttrString(module, "__dict__");
    if (dict != NULL && !PyDict_CheckExact(dict)) {
        PyErr_SetString(PyExc_TypeError, "a module's __dict__ must be a dict");
        Py_CLEAR(dict);
    }
    return dict;
}

PyDoc_STRVAR(configure_doc,
"configure(python_call, finish, abandon, log_record, current_scope,\n"
"          running_loop, middleware, monitoring, conf, tracing,\n"
"          endpoint_names, unmonitored_attr, collector_type, request_ended,\n"
"          request_batch, wall_clock, perf_clock, requestscope,\n"
"          scope_init, /)\n"
"--\n\n"
"Give RequestPath the Python code and state it reads (see _reqpath.c).");

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *python_call, *finish_fn, *abandon, *log_record, *current_scope;
    PyObject *running_loop, *middleware, *monitoring, *conf, *tracing;
    PyObject *endpoint_names, *unmonitored_attr, *collector_type, *request_ended;
    Py_ssize_t request_batch;
    PyObject *wall_clock, *perf_clock, *requestscope, *scope_init;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOO!UO!OnOOOO:configure", &python_call,
                          &finish_fn, &abandon, &log_record, &current_scope,
                          &running_loop, &middleware, &monitoring, &conf,
                          &tracing, &PyDict_Type, &endpoint_names,
                          &unmonitored_attr, &PyType_Type, &collector_type,
                          &request_ended, &request_batch, &wall_clock,
                          &perf_clock, &requestscope, &scope_init)) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(current_scope)) {
        PyErr_SetString(PyExc_TypeError, "current_scope must be a ContextVar");
        return NULL;
    }
    PyObject *dicts[5] = {dict_of(middleware), NULL, NULL, NULL, NULL};
    dicts[1] = dicts[0] == NULL ? NULL : dict_of(monitoring);
    dicts[2] = dicts[1] == NULL ? NULL : dict_of(conf);
    dicts[3] = dicts[2] == NULL ? NULL : dict_of(tracing);
    dicts[4] = dicts[3] == NULL ? NULL : dict_of(requestscope);
    /* The scope id the module's __init__ takes as it stands now: taken
     * from the count itself only while the module's name is bound to it. */
    PyObject *next_id = dicts[4] == NULL
                            ? NULL
                            : PyDict_GetItemWithError(dicts[4], str_next_scope_id);
    PyObject *counter = NULL;
    if (next_id != NULL && lookup_attr(next_id, str_self, &counter) >= 0) {
        PyObject *bound = NULL;
        if (counter != NULL && Py_TYPE(counter)->tp_iternext != NULL &&
            lookup_attr(counter, str_next, &bound) > 0 &&
            Py_IS_TYPE(bound, Py_TYPE(next_id)) &&
            PyObject_RichCompareBool(bound, next_id, Py_EQ) > 0) {
            /* next_scope_id is the iterator's own __next__ */
        }
        else {
            Py_CLEAR(counter); /* anything else: always called */
        }
        Py_XDECREF(bound);
        PyErr_Clear();
    }
    if (next_id == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "requestscope has no next_scope_id");
        }
        for (int i = 0; i < 5; i++) {
            Py_XDECREF(dicts[i]);
        }
        return NULL;
    }
    /* Read here only if they are the time module's own functions: a fake
     * put in time.time while the middleware is imported (freezegun) is
     * what the middleware module has too, and must be called. */
    Py_XSETREF(S.wall_clock, time_builtin(wall_clock, "time"));
    Py_XSETREF(S.perf_clock, time_builtin(perf_clock, "perf_counter_ns"));
    Py_XSETREF(S.scope_globals, dicts[4]);
    Py_XSETREF(S.scope_init, Py_NewRef(scope_init));
    /* What new_scope() does in __init__'s stead is RequestScope.__init__'s
     * own code: an __init__ patched before this call (or code put in it)
     * is called. */
    PyObject *init_code = NULL;
#ifdef PERFPROBE_ATTR_CACHE
    if (PyFunction_Check(scope_init)) {
        PyCodeObject *code = (PyCodeObject *)PyFunction_GET_CODE(scope_init);
        if (PyUnicode_Check(code->co_qualname) &&
            PyUnicode_CompareWithASCIIString(code->co_qualname,
                                             "RequestScope.__init__") == 0) {
            init_code = Py_NewRef((PyObject *)code);
        }
    }
    seen_version = 0;
#endif
    Py_XSETREF(S.scope_init_code, init_code);
    Py_XSETREF(S.next_scope_id, Py_NewRef(next_id));
    Py_XSETREF(S.scope_counter, counter);
    Py_XSETREF(S.python_call, Py_NewRef(python_call));
    Py_XSETREF(S.finish, Py_NewRef(finish_fn));
    Py_XSETREF(S.abandon, Py_NewRef(abandon));
    Py_XSETREF(S.log_record, Py_NewRef(log_record));
    Py_XSETREF(S.current_scope, Py_NewRef(current_scope));
    Py_XSETREF(S.running_loop, Py_NewRef(running_loop));
    Py_XSETREF(S.mw_globals, dicts[0]);
    Py_XSETREF(S.monitoring, dicts[1]);
    Py_XSETREF(S.conf, dicts[2]);
    Py_XSETREF(S.tracing, dicts[3]);
    Py_XSETREF(S.endpoint_names, Py_NewRef(endpoint_names));
    Py_XSETREF(S.unmonitored_attr, Py_NewRef(unmonitored_attr));
    Py_XSETREF(S.collector_type, Py_NewRef(collector_type));
    Py_XSETREF(S.request_ended, Py_NewRef(request_ended));
    S.request_batch = request_batch;
    Py_RETURN_NONE;
}

static PyMethodDef reqpath_methods[] = {
    {"configure", configure, METH_VARARGS, configure_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef reqpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "perfprobe._reqpath",
    .m_doc = "The request middleware's common synchronous path, in C.",
    .m_size = -1,
    .m_methods = reqpath_methods,
};

static int
intern_names(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&str_time, "_time"},
        {&str_perf_counter_ns, "_perf_counter_ns"},
        {&str_request_scope, "RequestScope"},
        {&str_monitor, "monitor"},
        {&str_loaded, "loaded"},
        {&str_active, "active"},
        {&str_no_tracer_until_ns, "no_tracer_until_ns"},
        {&str_get_tracer, "get_tracer"},
        {&str_traced, "_traced"},
        {&str_collector, "collector"},
        {&str_scope_table, "scope_table"},
        {&str_resolver_match, "resolver_match"},
        {&str_named_match, "named_match"},
        {&str_route, "route"},
        {&str_method, "method"},
        {&str_func, "func"},
        {&str_request, "request"},
        {&str_name, "name"},
        {&str_endpoint, "endpoint"},
        {&str_error_attr, "_perfprobe_error_type"},
        {&str_raised_at_attr, "_perfprobe_raised_at"},
        {&str_status_code, "status_code"},
        {&str_meta, "META"},
        {&str_get, "get"},
        {&str_query_string, "QUERY_STRING"},
        {&str_id, "id"},
        {&str_request_ended, "request_ended"},
        {&str_listeners, "_listeners"},
        {&str_scope_listeners, "_scope_listeners"},
        {&str_request_listeners, "_request_listeners"},
        {&str_items, "items"},
        {&str_lock, "_lock"},
        {&str_is_owned, "_is_owned"},
        {&str_scopes, "_scopes"},
        {&str_tracker, "tracker"},
        {&str_pending, "_pending"},
        {&str_acquire, "acquire"},
        {&str_release, "release"},
        {&str_thread_logs, "thread_logs"},
        {&str_logs, "logs"},
        {&str_records, "records"},
        {&str_queries, "queries"},
        {&str_states, "states"},
        {&str_history, "history"},
        {&str_closed_count, "closed_count"},
        {&str_request_log, "_request_log"},
        {&str_fold_requests, "_fold_requests"},
        {&str_activity, "_activity"},
        {&str_open_blocks, "open_blocks"},
        {&str_mark_others, "mark_others"},
        {&str_recent, "_recent"},
        {&str_append, "append"},
        {&str_deferred, "_deferred"},
        {&str_run_deferred, "run_deferred"},
        {&str_init, "__init__"},
        {&str_next_scope_id, "next_scope_id"},
        {&str_parent, "parent"},
        {&str_started_at, "started_at"},
        {&str_started_ns, "started_ns"},
        {&str_task, "task"},
        {&str_self, "__self__"},
        {&str_next, "__next__"},
        {&str_suppressed, "suppressed"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].text);
        if (*names[i].slot == NULL) {
            return -1;
        }
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__reqpath(void)
{
    if (intern_names() < 0) {
        return NULL;
    }
    one_billion = PyFloat_FromDouble(1e9);
    if (one_billion == NULL || PyType_Ready(&RequestPathType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&reqpath_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "RequestPath", (PyObject *)&RequestPathType) <
        0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
