/* The two hot loops of adding timer records to the aggregates, in C.
 *
 * A timer block's record waits in its thread's log and is added with 255
 * others (perfprobe.threadlog.add_records): its duration goes to the list
 * of its operation's name, and a record with a scope or tags is kept aside
 * for a second, rarer pass. split_records is that first pass, about 45 ns a
 * record in Python, a few here.
 *
 * The durations then reach the quantile sketch (perfprobe.sketch). In
 * Python each batch was sorted and binned by runs: a sort and some fifty
 * bytecodes per run of one bin, about 90 ns a sample on the clock.
 * count_bins computes each sample's bin with the same formula as
 * sketch.count_sorted_bins (ceil(log2(v) * bins_per_octave), the same libm
 * call, so the same bin to the bit), and the batch's sum, minimum and
 * maximum on the way. Anything unusual (a sample that is not a float, not
 * finite, or too small for the sketch's logarithmic bins) makes it return
 * None before anything is changed, and the caller takes the Python path.
 *
 * The fold of raw query records (perfprobe.querylog) groups them
 * (group_queries) and, for each group of a request scope, settles its
 * records, adds them to the query table's aggregates, counts them in the
 * scope and adds them to its N+1 analysis (fold_groups, add_new_run): in
 * Python about 250 bytecodes a group, two groups a request on an N+1 view.
 * A group that is not that common case is left to Python before anything
 * is changed.
 *
 * The Python code remains the definition of every result and the fallback
 * when this extension is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

/* Distinct bins counted in C before they are added to the caller's dict;
 * a power of two, for the open-addressing table below. A batch of latencies
 * falls in a few dozen bins; more only cost an extra pass through the dict.
 * A batch of n values uses the smallest table of at least 2n slots (and
 * TABLE_MIN_SLOTS), so that a batch of one is not a pass over 256. */
#define TABLE_SLOTS 256
#define TABLE_MIN_SLOTS 8

typedef struct {
    long key;
    Py_ssize_t count;
    int used;
} bin_entry;

/* ``held + count``, a new reference, or NULL with an exception set: in C
 * while the sum fits a Py_ssize_t (every count a sketch reaches), else as
 * Python adds it (sketch.count_sorted_bins' ``counts.get(key, 0) + n``), so
 * that a count past 2**63 - 1 neither wraps nor raises. */
static PyObject *
added_count(PyObject *held, Py_ssize_t count)
{
    if (PyLong_CheckExact(held)) {
        int overflow;
        long long before = PyLong_AsLongLongAndOverflow(held, &overflow);
        if (before == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (!overflow && before <= (long long)(PY_SSIZE_T_MAX - count) &&
            before >= (long long)PY_SSIZE_T_MIN) {
            return PyLong_FromSsize_t((Py_ssize_t)before + count);
        }
    }
    PyObject *add = PyLong_FromSsize_t(count);
    if (add == NULL) {
        return NULL;
    }
    PyObject *sum = PyNumber_Add(held, add);
    Py_DECREF(add);
    return sum;
}

/* Add every used entry's count to ``counts[key]``; 0, or -1 with an
 * exception set (the dict may then hold some of the entries).
 *
 * The bins already in counts are found by a pass over the dict (at most
 * PENDING_BINS of them, the sketch's) with their own key objects: their
 * counts are replaced in place, with no key made and no second lookup, and
 * a dict lookup by the very key object needs no comparison. Only the bins
 * not found are added as new keys, in slot order as before. That pass
 * needs every key and count an exact int (nothing else can run Python
 * code while the dict is walked); otherwise each entry is looked up. */
static int
add_new_bins(bin_entry *table, Py_ssize_t slots, PyObject *counts)
{
    for (Py_ssize_t i = 0; i < slots; i++) {
        if (table[i].used != 1) {
            continue;
        }
        PyObject *key = PyLong_FromLong(table[i].key);
        if (key == NULL) {
            return -1;
        }
        PyObject *value = PyLong_FromSsize_t(table[i].count);
        if (value == NULL) {
            Py_DECREF(key);
            return -1;
        }
        int failed = PyDict_SetItem(counts, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed) {
            return -1;
        }
    }
    return 0;
}

static int
flush_table(bin_entry *table, Py_ssize_t slots, PyObject *counts)
{
    const size_t mask = (size_t)slots - 1;
    Py_ssize_t pos = 0;
    PyObject *held_key;
    PyObject *held;
    int plain = 1;
    while (PyDict_Next(counts, &pos, &held_key, &held)) {
        if (!PyLong_CheckExact(held_key) || !PyLong_CheckExact(held)) {
            plain = 0;
            break;
        }
    }
    if (plain) {
        pos = 0;
        while (PyDict_Next(counts, &pos, &held_key, &held)) {
            int overflow;
            long key = PyLong_AsLongAndOverflow(held_key, &overflow);
            if (overflow) {
                continue; /* no bin's key */
            }
            size_t slot = ((size_t)key * 2654435761u) & mask;
            while (table[slot].used && table[slot].key != key) {
                slot = (slot + 1) & mask;
            }
            if (!table[slot].used) {
                continue;
            }
            /* Exact ints: no Python code runs. */
            PyObject *value = added_count(held, table[slot].count);
            if (value == NULL) {
                return -1;
            }
            /* A new value for a key the dict holds: allowed while walking
             * it with PyDict_Next, which the dict's keys do not change. */
            int failed = PyDict_SetItem(counts, held_key, value);
            Py_DECREF(value);
            if (failed) {
                return -1;
            }
            /* Still occupied for the probes of later keys, but added. */
            table[slot].used = 2;
        }
        if (add_new_bins(table, slots, counts) < 0) {
            return -1;
        }
    }
    else {
        for (Py_ssize_t i = 0; i < slots; i++) {
            if (!table[i].used) {
                continue;
            }
            PyObject *key = PyLong_FromLong(table[i].key);
            if (key == NULL) {
                return -1;
            }
            PyObject *found = PyDict_GetItemWithError(counts, key);
            PyObject *value;
            if (found != NULL) {
                /* Held while added: adding may run Python code. */
                Py_INCREF(found);
                value = added_count(found, table[i].count);
                Py_DECREF(found);
            }
            else if (PyErr_Occurred()) {
                Py_DECREF(key);
                return -1;
            }
            else {
                value = PyLong_FromSsize_t(table[i].count);
            }
            if (value == NULL) {
                Py_DECREF(key);
                return -1;
            }
            int failed = PyDict_SetItem(counts, key, value);
            Py_DECREF(key);
            Py_DECREF(value);
            if (failed) {
                return -1;
            }
        }
    }
    for (Py_ssize_t i = 0; i < slots; i++) {
        table[i].used = 0;
    }
    return 0;
}

PyDoc_STRVAR(count_bins_doc,
"count_bins(values, counts, bins_per_octave, min_positive, /)\n"
"--\n\n"
"Add each value's bin count to counts; return (sum, min, max) or None.\n\n"
"values is a list of floats, each counted in bin\n"
"ceil(log2(v) * bins_per_octave). None, with nothing changed, when a value\n"
"is not a float, not finite, or not above min_positive. ValueError unless\n"
"0 < bins_per_octave <= 1e9 and min_positive >= 0; RuntimeError if the\n"
"list changes meanwhile (Python code run by counts' keys).");

static PyObject *
count_bins(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "count_bins() takes 4 arguments");
        return NULL;
    }
    PyObject *values = args[0];
    PyObject *counts = args[1];
    if (!PyList_CheckExact(values) || !PyDict_CheckExact(counts)) {
        PyErr_SetString(PyExc_TypeError, "count_bins() needs a list and a dict");
        return NULL;
    }
    double bins_per_octave = PyFloat_AsDouble(args[2]);
    if (bins_per_octave == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    double min_positive = PyFloat_AsDouble(args[3]);
    if (min_positive == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    /* Bounds that keep every bin number of a finite sample above
     * min_positive well inside a long (|log2(v)| < 1100): a cast of a
     * double out of its range is undefined. */
    if (!(bins_per_octave > 0.0 && bins_per_octave <= 1e9)
        || !(min_positive >= 0.0)) {
        PyErr_SetString(PyExc_ValueError,
                        "count_bins() needs 0 < bins_per_octave <= 1e9 "
                        "and min_positive >= 0");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(values);
    if (n == 0) {
        Py_RETURN_NONE;
    }

    /* Checked first, so that a batch the Python path must take is left
     * exactly as it came; the sum is the same left-to-right double sum
     * as the builtin sum() of CPython 3.11. */
    double total = 0.0;
    double low = INFINITY;
    double high = -INFINITY;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(values, i);
        if (!PyFloat_CheckExact(item)) {
            Py_RETURN_NONE;
        }
        double v = PyFloat_AS_DOUBLE(item);
        if (!(v > min_positive) || !isfinite(v)) {
            Py_RETURN_NONE;
        }
        total += v;
        if (v < low) {
            low = v;
        }
        if (v > high) {
            high = v;
        }
    }
    if (!isfinite(total)) {
        Py_RETURN_NONE;
    }

    bin_entry table[TABLE_SLOTS];
    Py_ssize_t slots = TABLE_MIN_SLOTS;
    while (slots < TABLE_SLOTS && slots < 2 * n) {
        slots <<= 1;
    }
    const size_t mask = (size_t)slots - 1;
    const int fill = (int)(slots / 2);
    memset(table, 0, sizeof(bin_entry) * (size_t)slots);
    int filled = 0;
    int flushed = 0;
    /* Nothing here runs Python code until the table is flushed. A flush
     * before the last value (more than half the slots' bins) can: a key of
     * counts with an int's hash compares with Python code, which may
     * change the list; the values left are then checked again. */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (flushed) {
            PyObject *item = i < PyList_GET_SIZE(values)
                ? PyList_GET_ITEM(values, i) : NULL;
            if (item == NULL || !PyFloat_CheckExact(item)
                || !(PyFloat_AS_DOUBLE(item) > min_positive)
                || !isfinite(PyFloat_AS_DOUBLE(item))) {
                PyErr_SetString(PyExc_RuntimeError,
                                "count_bins(): the values changed while binned");
                return NULL;
            }
        }
        double v = PyFloat_AS_DOUBLE(PyList_GET_ITEM(values, i));
        long key = (long)ceil(log2(v) * bins_per_octave);
        size_t slot = ((size_t)key * 2654435761u) & mask;
        while (table[slot].used && table[slot].key != key) {
            slot = (slot + 1) & mask;
        }
        if (!table[slot].used) {
            if (filled == fill) {
                if (flush_table(table, slots, counts) < 0) {
                    return NULL;
                }
                filled = 0;
                flushed = 1;
                slot = ((size_t)key * 2654435761u) & mask;
            }
            table[slot].used = 1;
            table[slot].key = key;
            table[slot].count = 0;
            filled++;
        }
        table[slot].count++;
    }
    if (flush_table(table, slots, counts) < 0) {
        return NULL;
    }
    return Py_BuildValue("(ddd)", total, low, high);
}

PyDoc_STRVAR(split_records_doc,
"split_records(records, /)\n"
"--\n\n"
"Return ({name: [duration, ...]}, [record with a scope or tags, ...]).\n\n"
"records is a list of timer records (tuples or lists of six); names come\n"
"in the order first seen. None when an item is not such a record.");

/* Item k of a record of six, a tuple or a list; borrowed. */
static inline PyObject *
record_item(PyObject *record, Py_ssize_t k)
{
    return PyTuple_CheckExact(record) ? PyTuple_GET_ITEM(record, k)
                                      : PyList_GET_ITEM(record, k);
}

static inline int
is_record(PyObject *record)
{
    if (PyTuple_CheckExact(record)) {
        return PyTuple_GET_SIZE(record) == 6
            && PyUnicode_CheckExact(PyTuple_GET_ITEM(record, 0));
    }
    return PyList_CheckExact(record) && PyList_GET_SIZE(record) == 6
        && PyUnicode_CheckExact(PyList_GET_ITEM(record, 0));
}

static PyObject *
split_records(PyObject *module, PyObject *records)
{
    if (!PyList_CheckExact(records)) {
        PyErr_SetString(PyExc_TypeError, "split_records() needs a list");
        return NULL;
    }
    PyObject *name = NULL;
    PyObject *values = NULL;
    PyObject *durations = PyDict_New();
    PyObject *special = PyList_New(0);
    if (durations == NULL || special == NULL) {
        goto fail;
    }
    /* Records come in runs of one name object (a loop of blocks): the
     * name's list is looked up once per run. Names are exact str, whose
     * hashing and comparison run no Python code; an allocation can (a
     * finaliser), so every item is read again after one. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records); i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (!is_record(record)) {
            Py_XDECREF(name);
            Py_DECREF(durations);
            Py_DECREF(special);
            Py_RETURN_NONE;
        }
        Py_INCREF(record);
        if (record_item(record, 0) != name) {
            /* Held, so that its address cannot be another name's later. */
            Py_XSETREF(name, Py_NewRef(record_item(record, 0)));
            values = PyDict_GetItemWithError(durations, name);
            if (values == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(record);
                    goto fail;
                }
                values = PyList_New(0);
                if (values == NULL || PyDict_SetItem(durations, name, values) < 0) {
                    Py_XDECREF(values);
                    Py_DECREF(record);
                    goto fail;
                }
                /* The dict holds it from now on. */
                Py_DECREF(values);
            }
        }
        int failed = !is_record(record)
            || PyList_Append(values, record_item(record, 1)) < 0
            || ((record_item(record, 3) != Py_None
                 || record_item(record, 4) != Py_None)
                && PyList_Append(special, record) < 0);
        Py_DECREF(record);
        if (failed) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_RuntimeError,
                                "a timer record changed while it was added");
            }
            goto fail;
        }
    }
    Py_XDECREF(name);
    PyObject *result = PyTuple_Pack(2, durations, special);
    Py_DECREF(durations);
    Py_DECREF(special);
    return result;

fail:
    Py_XDECREF(name);
    Py_XDECREF(durations);
    Py_XDECREF(special);
    return NULL;
}

/* Raw query records (perfprobe.rawrecords): lists of RAW_LENGTH items, of
 * which group_queries reads the SQL text, the duration, the scope and the
 * call site. */
#define RAW_LENGTH 13
#define RAW_VENDOR 1
#define RAW_SQL 2
#define RAW_DURATION_S 3
#define RAW_SCOPE 6
#define RAW_CALL_SITE 7
#define RAW_ALIAS 0
#define RAW_PARAMS_HASH 8
#define RAW_LAZY_LOAD 9
#define RAW_SQL_HASH 10
#define RAW_BULK_CALL 11

PyDoc_STRVAR(group_queries_doc,
"group_queries(batch, /)\n"
"--\n\n"
"Return ([((text, scope, call_site), records, durations, total_s), ...],\n"
"durations of the whole batch), groups in the order first seen.\n\n"
"The definition is perfprobe.querygroups.group_records. None, with\n"
"nothing made, when an item is not a raw query record with a float\n"
"duration.");

/* 1 when every item of batch is a list of RAW_LENGTH with an exact float
 * duration, else 0. */
static int
all_raw_queries(PyObject *batch)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
        PyObject *record = PyList_GET_ITEM(batch, i);
        if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) != RAW_LENGTH
            || !PyFloat_CheckExact(PyList_GET_ITEM(record, RAW_DURATION_S))) {
            return 0;
        }
    }
    return 1;
}

/* Whether record's key equals key (a tuple of three), compared item by item
 * as tuples compare: 1, 0, or -1 with an exception set. The record's items
 * are held while compared, since an __eq__ may run any code. */
static int
same_key(PyObject *key, PyObject *record)
{
    static const Py_ssize_t at[3] = {RAW_SQL, RAW_SCOPE, RAW_CALL_SITE};
    for (int k = 0; k < 3; k++) {
        if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) != RAW_LENGTH) {
            PyErr_SetString(PyExc_RuntimeError,
                            "a raw query record changed while it was grouped");
            return -1;
        }
        PyObject *held = PyTuple_GET_ITEM(key, k);
        PyObject *found = PyList_GET_ITEM(record, at[k]);
        if (held == found) {
            continue;
        }
        if (PyUnicode_CheckExact(held) && PyUnicode_CheckExact(found)) {
            /* Two str of an N+1 loop's SQL, each made by its own query:
             * compared here, as str.__eq__ does, without the rich
             * comparison's dispatch (no Python code runs). */
#if PY_VERSION_HEX < 0x030C0000
            /* Every str is ready from 3.12 on, where this is deprecated. */
            if (PyUnicode_READY(held) < 0 || PyUnicode_READY(found) < 0) {
                return -1;
            }
#endif
            Py_ssize_t length = PyUnicode_GET_LENGTH(held);
            int kind = PyUnicode_KIND(held);
            if (length != PyUnicode_GET_LENGTH(found) || kind != PyUnicode_KIND(found)
                || memcmp(PyUnicode_DATA(held), PyUnicode_DATA(found),
                          (size_t)length * (size_t)kind) != 0) {
                return 0;
            }
            continue;
        }
        PyObject *item = Py_NewRef(found);
        int equal = PyObject_RichCompareBool(held, item, Py_EQ);
        Py_DECREF(item);
        if (equal <= 0) {
            return equal;
        }
    }
    return 1;
}

/* The durations of records as a new list, and their sum as sum() adds
 * floats (from 0.0, in order); NULL with an exception, or NULL without one
 * when a duration is not an exact float. */
static PyObject *
durations_of(PyObject *records, double *total)
{
    Py_ssize_t n = PyList_GET_SIZE(records);
    PyObject *durations = PyList_New(n);
    if (durations == NULL) {
        return NULL;
    }
    double sum = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        PyObject *value = PyList_CheckExact(record)
                && PyList_GET_SIZE(record) == RAW_LENGTH
            ? PyList_GET_ITEM(record, RAW_DURATION_S) : NULL;
        if (value == NULL || !PyFloat_CheckExact(value)) {
            Py_DECREF(durations);
            return NULL;
        }
        sum += PyFloat_AS_DOUBLE(value);
        PyList_SET_ITEM(durations, i, Py_NewRef(value));
    }
    *total = sum;
    return durations;
}

static PyObject *
group_queries(PyObject *module, PyObject *batch)
{
    if (!PyList_CheckExact(batch)) {
        PyErr_SetString(PyExc_TypeError, "group_queries() needs a list");
        return NULL;
    }
    if (!all_raw_queries(batch)) {
        Py_RETURN_NONE;
    }
    /* Held: the comparisons may run code that changes the caller's list. */
    PyObject *items = PyList_GetSlice(batch, 0, PyList_GET_SIZE(batch));
    PyObject *index = PyDict_New();
    PyObject *order = PyList_New(0);
    PyObject *key = NULL;
    PyObject *result = NULL;
    if (items == NULL || index == NULL || order == NULL) {
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    /* Runs of one key (an N+1 loop), each compared with its first record,
     * as itertools.groupby does; a later run of a key joins its group. */
    Py_ssize_t start = 0;
    while (start < n) {
        PyObject *first = PyList_GET_ITEM(items, start);
        if (!PyList_CheckExact(first) || PyList_GET_SIZE(first) != RAW_LENGTH) {
            PyErr_SetString(PyExc_RuntimeError,
                            "a raw query record changed while it was grouped");
            goto done;
        }
        key = PyTuple_Pack(3, PyList_GET_ITEM(first, RAW_SQL),
                           PyList_GET_ITEM(first, RAW_SCOPE),
                           PyList_GET_ITEM(first, RAW_CALL_SITE));
        if (key == NULL) {
            goto done;
        }
        Py_ssize_t end = start + 1;
        while (end < n) {
            int equal = same_key(key, PyList_GET_ITEM(items, end));
            if (equal < 0) {
                goto done;
            }
            if (!equal) {
                break;
            }
            end++;
        }
        PyObject *run = PyList_GetSlice(items, start, end);
        if (run == NULL) {
            goto done;
        }
        PyObject *found = PyDict_GetItemWithError(index, key);
        int failed;
        if (found != NULL) {
            Py_ssize_t size = PyList_GET_SIZE(found);
            failed = PyList_SetSlice(found, size, size, run) < 0;
        }
        else if (PyErr_Occurred()) {
            failed = 1;
        }
        else {
            PyObject *entry = PyTuple_Pack(2, key, run);
            failed = entry == NULL || PyDict_SetItem(index, key, run) < 0
                || PyList_Append(order, entry) < 0;
            Py_XDECREF(entry);
        }
        Py_DECREF(run);
        Py_CLEAR(key);
        if (failed) {
            goto done;
        }
        start = end;
    }
    /* Then each group's durations and their sum, and the batch's. */
    Py_ssize_t groups = PyList_GET_SIZE(order);
    PyObject *made = PyList_New(groups);
    if (made == NULL) {
        goto done;
    }
    for (Py_ssize_t g = 0; g < groups; g++) {
        PyObject *entry = PyList_GET_ITEM(order, g);
        PyObject *records = PyTuple_GET_ITEM(entry, 1);
        double total = 0.0;
        PyObject *durations = durations_of(records, &total);
        PyObject *sum = durations == NULL ? NULL : PyFloat_FromDouble(total);
        PyObject *group = sum == NULL ? NULL
            : PyTuple_Pack(4, PyTuple_GET_ITEM(entry, 0), records, durations, sum);
        Py_XDECREF(durations);
        Py_XDECREF(sum);
        if (group == NULL) {
            Py_DECREF(made);
            if (!PyErr_Occurred()) {
                Py_INCREF(Py_None);
                result = Py_None;
            }
            goto done;
        }
        PyList_SET_ITEM(made, g, group);
    }
    double ignored = 0.0;
    PyObject *all = durations_of(items, &ignored);
    if (all == NULL) {
        Py_DECREF(made);
        if (!PyErr_Occurred()) {
            Py_INCREF(Py_None);
            result = Py_None;
        }
        goto done;
    }
    result = PyTuple_Pack(2, made, all);
    Py_DECREF(made);
    Py_DECREF(all);

done:
    Py_XDECREF(key);
    Py_XDECREF(items);
    Py_XDECREF(index);
    Py_XDECREF(order);
    return result;
}


PyDoc_STRVAR(settle_group_doc,
"settle_group(records, shape, path, sql_hash, /)\n"
"--\n\n"
"Put shape, path and sql_hash into each record; return what the fold needs.\n\n"
"Return (params hashes, any bulk call, set of the params hashes, True (one\n"
"SQL hash), the alias if every record holds that one object else None, the\n"
"first lazy load that is not None, else None). The definition is\n"
"perfprobe.querygroups.settle_records. None, with nothing changed, when\n"
"records is empty or an item is not a raw query record with exact str SQL,\n"
"an exact int params hash and bulk call, an SQL hash that is None or an\n"
"exact int, the first record's scope, and a lazy load that is None or of a\n"
"type that is always true (no __bool__ nor __len__).");

/* 1 when item is None or of a type whose truth runs no Python code and is
 * always true: no __bool__ and no __len__ (a LazyLoad), else 0. */
static int
plainly_true_or_none(PyObject *item)
{
    if (item == Py_None) {
        return 1;
    }
    PyTypeObject *type = Py_TYPE(item);
    return (type->tp_as_number == NULL || type->tp_as_number->nb_bool == NULL)
        && (type->tp_as_mapping == NULL || type->tp_as_mapping->mp_length == NULL)
        && (type->tp_as_sequence == NULL || type->tp_as_sequence->sq_length == NULL);
}

/* 1 when every record is a raw query record whose items settle_group reads
 * or replaces are of exact types (so that hashing, comparing and freeing
 * them runs no Python code) and whose scope is scope, else 0. */
static int
settle_ready(PyObject *records, PyObject *scope)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records); i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) != RAW_LENGTH
            || !PyUnicode_CheckExact(PyList_GET_ITEM(record, RAW_SQL))
            || PyList_GET_ITEM(record, RAW_SCOPE) != scope
            || !PyLong_CheckExact(PyList_GET_ITEM(record, RAW_PARAMS_HASH))
            || !(PyList_GET_ITEM(record, RAW_SQL_HASH) == Py_None
                 || PyLong_CheckExact(PyList_GET_ITEM(record, RAW_SQL_HASH)))
            || !PyLong_CheckExact(PyList_GET_ITEM(record, RAW_BULK_CALL))
            || !plainly_true_or_none(PyList_GET_ITEM(record, RAW_LAZY_LOAD))) {
            return 0;
        }
    }
    return 1;
}

static PyObject *settle_impl(PyObject *records, PyObject *shape, PyObject *path,
                             PyObject *sql_hash);

static PyObject *
settle_group(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "settle_group() takes 4 arguments");
        return NULL;
    }
    return settle_impl(args[0], args[1], args[2], args[3]);
}

/* settle_group's work: the facts (a new reference), None with nothing
 * changed, or NULL with an exception set. */
static PyObject *
settle_impl(PyObject *records, PyObject *shape, PyObject *path, PyObject *sql_hash)
{
    if (!PyList_CheckExact(records)) {
        PyErr_SetString(PyExc_TypeError, "settle_group() needs a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(records);
    if (n == 0) {
        Py_RETURN_NONE;
    }
    /* Made first: making a tracked object may run the garbage collector
     * and with it any code, which the checks below must come after. */
    PyObject *params = PyList_New(n);
    PyObject *distinct = params == NULL ? NULL : PySet_New(NULL);
    if (distinct == NULL) {
        Py_XDECREF(params);
        return NULL;
    }
    /* A collection those allocations ran may have changed the list (a
     * finaliser or a gc callback holding it): params is sized n, and the
     * loop reads n records. */
    if (PyList_GET_SIZE(records) != n) {
        Py_DECREF(params);
        Py_DECREF(distinct);
        Py_RETURN_NONE;
    }
    PyObject *first = PyList_GET_ITEM(records, 0);
    if (!PyList_CheckExact(first) || PyList_GET_SIZE(first) != RAW_LENGTH) {
        Py_DECREF(params);
        Py_DECREF(distinct);
        Py_RETURN_NONE;
    }
    /* Held, so that replacing it in the records never frees it. */
    PyObject *scope = Py_NewRef(PyList_GET_ITEM(first, RAW_SCOPE));
    PyObject *alias = PyList_GET_ITEM(first, RAW_ALIAS);
    if (!settle_ready(records, scope)) {
        Py_DECREF(scope);
        Py_DECREF(params);
        Py_DECREF(distinct);
        Py_RETURN_NONE;
    }
    /* From here to the end of the loop nothing runs Python code: the items
     * tested and hashed are exact ints, the items replaced are exact str,
     * exact ints or None, the scopes replaced are held, and growing a set
     * does not run the garbage collector. */
    Py_INCREF(alias);
    PyObject *lazy_load = NULL;
    int bulk = 0;
    int one_alias = 1;
    int failed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        PyObject **items = ((PyListObject *)record)->ob_item;
        PyObject *params_hash = items[RAW_PARAMS_HASH];
        PyList_SET_ITEM(params, i, Py_NewRef(params_hash));
        if (PySet_Add(distinct, params_hash) < 0) {
            failed = 1;
            break;
        }
        if (!bulk && PyObject_IsTrue(items[RAW_BULK_CALL])) {
            bulk = 1;
        }
        if (items[RAW_ALIAS] != alias) {
            one_alias = 0;
        }
        if (lazy_load == NULL && items[RAW_LAZY_LOAD] != Py_None) {
            /* Held, as alias is: making the result may run any code. */
            lazy_load = Py_NewRef(items[RAW_LAZY_LOAD]);
        }
        Py_SETREF(items[RAW_SQL], Py_NewRef(shape));
        Py_SETREF(items[RAW_SCOPE], Py_NewRef(path));
        Py_SETREF(items[RAW_SQL_HASH], Py_NewRef(sql_hash));
    }
    if (failed) {
        /* A failed allocation only; the records before this one are
         * settled, and the caller counts the group's queries as lost. The
         * items of params not yet filled are NULL, which its deallocation
         * skips. */
        Py_XDECREF(lazy_load);
        Py_DECREF(alias);
        Py_DECREF(scope);
        Py_DECREF(params);
        Py_DECREF(distinct);
        return NULL;
    }
    /* Every record now holds the one SQL hash. */
    PyObject *result = PyTuple_Pack(6, params, bulk ? Py_True : Py_False, distinct,
                                    Py_True, one_alias ? alias : Py_None,
                                    lazy_load != NULL ? lazy_load : Py_None);
    Py_XDECREF(lazy_load);
    Py_DECREF(params);
    Py_DECREF(distinct);
    Py_DECREF(alias);
    Py_DECREF(scope);
    return result;
}

PyDoc_STRVAR(keep_record_doc,
"keep_record(queries, spare, items, /)\n"
"--\n\n"
"Append a raw query record holding items (a tuple of RAW_LENGTH) to queries;\n"
"return the new length of queries.\n\n"
"The record is the last of spare, taken out and filled, when spare holds\n"
"one of RAW_LENGTH items, else a new list. The definition is\n"
"perfprobe.rawrecords.keep_record.");

static PyObject *
keep_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "keep_record() takes 3 arguments");
        return NULL;
    }
    PyObject *queries = args[0];
    PyObject *spare = args[1];
    PyObject *items = args[2];
    if (!PyList_CheckExact(queries) || !PyList_CheckExact(spare)
        || !PyTuple_CheckExact(items) || PyTuple_GET_SIZE(items) != RAW_LENGTH) {
        PyErr_SetString(PyExc_TypeError,
                        "keep_record() needs two lists and a tuple of 13");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(spare);
    PyObject *record = NULL;
    PyObject *old[RAW_LENGTH];
    int filled = 0;
    if (n > 0 && PyList_CheckExact(PyList_GET_ITEM(spare, n - 1))
        && PyList_GET_SIZE(PyList_GET_ITEM(spare, n - 1)) == RAW_LENGTH) {
        /* Taken out of spare (whose reference becomes ours) and filled
         * without running Python code: no other thread sees it meanwhile. */
        record = PyList_GET_ITEM(spare, n - 1);
        Py_SET_SIZE(spare, n - 1);
        PyObject **slots = ((PyListObject *)record)->ob_item;
        for (Py_ssize_t i = 0; i < RAW_LENGTH; i++) {
            old[i] = slots[i];
            slots[i] = Py_NewRef(PyTuple_GET_ITEM(items, i));
        }
        filled = 1;
    }
    else {
        record = PySequence_List(items);
        if (record == NULL) {
            return NULL;
        }
    }
    int appended = PyList_Append(queries, record);
    Py_DECREF(record);
    if (filled) {
        /* Nones, as recycle_records leaves them; freed once the record is
         * in place all the same. */
        for (Py_ssize_t i = 0; i < RAW_LENGTH; i++) {
            Py_DECREF(old[i]);
        }
    }
    if (appended < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(PyList_GET_SIZE(queries));
}

PyDoc_STRVAR(recycle_records_doc,
"recycle_records(recent, count, spare, bound, /)\n"
"--\n\n"
"Remove the count oldest items of the deque recent (at most its length);\n"
"append to spare, while it holds fewer than bound, each raw query record\n"
"(a list of RAW_LENGTH) that nothing else held, its items set to None.\n"
"The definition is\n"
"perfprobe.rawrecords.recycle_records.");

static PyObject *
recycle_records(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "recycle_records() takes 4 arguments");
        return NULL;
    }
    PyObject *recent = args[0];
    PyObject *spare = args[2];
    Py_ssize_t count = PyLong_AsSsize_t(args[1]);
    Py_ssize_t bound = PyLong_AsSsize_t(args[3]);
    if ((count == -1 || bound == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyList_CheckExact(spare)) {
        PyErr_SetString(PyExc_TypeError, "recycle_records() needs a spare list");
        return NULL;
    }
    Py_ssize_t size = PyObject_Size(recent);
    if (size < 0) {
        return NULL;
    }
    if (count > size) {
        count = size;
    }
    if (count <= 0) {
        Py_RETURN_NONE;
    }
    PyObject *popleft = PyObject_GetAttrString(recent, "popleft");
    if (popleft == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyObject_CallNoArgs(popleft);
        if (item == NULL) {
            /* Emptied meanwhile, by code an item's freeing ran. */
            if (PyErr_ExceptionMatches(PyExc_IndexError)) {
                PyErr_Clear();
                break;
            }
            Py_DECREF(popleft);
            return NULL;
        }
        /* Ours is the only reference: nothing else holds the record. */
        if (Py_REFCNT(item) == 1 && PyList_CheckExact(item)
            && PyList_GET_SIZE(item) == RAW_LENGTH
            && PyList_GET_SIZE(spare) < bound) {
            /* Emptied now, so that its items are freed with the rest of the
             * batch's (the allocator's pools stay full or empty in runs),
             * not one record at a time between a later query's
             * allocations; and spare holds nothing but Nones. The old items
             * are freed only once the record is in spare and whole. */
            PyObject *old[RAW_LENGTH];
            PyObject **slots = ((PyListObject *)item)->ob_item;
            for (Py_ssize_t j = 0; j < RAW_LENGTH; j++) {
                old[j] = slots[j];
                slots[j] = Py_NewRef(Py_None);
            }
            int appended = PyList_Append(spare, item);
            for (Py_ssize_t j = 0; j < RAW_LENGTH; j++) {
                Py_DECREF(old[j]);
            }
            if (appended < 0) {
                Py_DECREF(item);
                Py_DECREF(popleft);
                return NULL;
            }
        }
        Py_DECREF(item);
    }
    Py_DECREF(popleft);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(indices_above_doc,
"indices_above(values, floor, /)\n"
"--\n\n"
"Return the indices of the values above floor, in order.\n\n"
"None, with nothing made, unless values is a list of exact floats and\n"
"floor an exact float. The definition is\n"
"perfprobe.querytable.indices_above.");

static PyObject *
indices_above(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "indices_above() takes 2 arguments");
        return NULL;
    }
    PyObject *values = args[0];
    if (!PyList_CheckExact(values) || !PyFloat_CheckExact(args[1])) {
        Py_RETURN_NONE;
    }
    double floor = PyFloat_AS_DOUBLE(args[1]);
    Py_ssize_t n = PyList_GET_SIZE(values);
    /* Checked first: comparing anything but exact floats could run code. */
    Py_ssize_t above = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(values, i);
        if (!PyFloat_CheckExact(item)) {
            Py_RETURN_NONE;
        }
        /* As float.__gt__: false for NaN on either side. */
        if (PyFloat_AS_DOUBLE(item) > floor) {
            above++;
        }
    }
    /* Made now: making it may run the cyclic collector and with it code
     * that changes values; what it holds is read again below. */
    PyObject *found = PyList_New(0);
    if (found == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values) && above > 0; i++) {
        PyObject *item = PyList_GET_ITEM(values, i);
        if (!PyFloat_CheckExact(item)) {
            Py_DECREF(found);
            Py_RETURN_NONE;
        }
        if (PyFloat_AS_DOUBLE(item) > floor) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(found, index) < 0) {
                Py_XDECREF(index);
                Py_DECREF(found);
                return NULL;
            }
            Py_DECREF(index);
            above--;
        }
    }
    return found;
}

PyDoc_STRVAR(add_in_range_doc,
"add_in_range(bins, offset, counts, /)\n"
"--\n\n"
"Add each counts[key] to bins[key - offset]; return the counts' sum.\n\n"
"bins is a list of floats (a ddsketch DenseStore's), counts a dict of int\n"
"keys to int counts. None, with nothing changed, when a key falls outside\n"
"bins, or an item is not of those exact types, or a count is not below\n"
"2**53. The definition is perfprobe.sketch._add_in_range.");

/* Counts below this are exact as doubles: a bin's float plus such a count
 * is the same here as in Python, which converts the int exactly. */
#define EXACT_COUNT (1LL << 53)

static PyObject *
add_in_range(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "add_in_range() takes 3 arguments");
        return NULL;
    }
    PyObject *bins = args[0];
    PyObject *counts = args[2];
    if (!PyList_CheckExact(bins) || !PyLong_CheckExact(args[1])
        || !PyDict_CheckExact(counts)) {
        Py_RETURN_NONE;
    }
    int overflow;
    long long offset = PyLong_AsLongLongAndOverflow(args[1], &overflow);
    if (overflow || (offset == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_ssize_t size = PyList_GET_SIZE(bins);
    /* Checked whole first, so that nothing changes unless all of it can:
     * exact ints and floats, whose reading runs no Python code. */
    Py_ssize_t pos = 0;
    PyObject *key;
    PyObject *count;
    long long sum = 0;
    while (PyDict_Next(counts, &pos, &key, &count)) {
        if (!PyLong_CheckExact(key) || !PyLong_CheckExact(count)) {
            Py_RETURN_NONE;
        }
        long long k = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (overflow || k < offset || k - offset >= size) {
            Py_RETURN_NONE;
        }
        long long n = PyLong_AsLongLongAndOverflow(count, &overflow);
        if (overflow || n <= -EXACT_COUNT || n >= EXACT_COUNT
            || !PyFloat_CheckExact(PyList_GET_ITEM(bins, k - offset))) {
            Py_RETURN_NONE;
        }
        sum += n;
        if (sum <= -EXACT_COUNT || sum >= EXACT_COUNT) {
            Py_RETURN_NONE;
        }
    }
    /* Floats are not tracked by the cyclic collector: making them runs no
     * Python code, and the dict and the list stay as checked. */
    pos = 0;
    while (PyDict_Next(counts, &pos, &key, &count)) {
        Py_ssize_t index = (Py_ssize_t)(PyLong_AsLongLong(key) - offset);
        PyObject *bin = PyList_GET_ITEM(bins, index);
        PyObject *added = PyFloat_FromDouble(
            PyFloat_AS_DOUBLE(bin) + (double)PyLong_AsLongLong(count));
        if (added == NULL) {
            return NULL;
        }
        PyList_SET_ITEM(bins, index, added);
        Py_DECREF(bin);
    }
    return PyLong_FromLongLong(sum);
}

/* The attribute names add_new_run reads and sets, interned once per module
 * (per interpreter). */
typedef struct {
    PyObject *groups;
    PyObject *max_groups;
    PyObject *sql_seen;
    PyObject *duplicates;
    PyObject *waiting;
    PyObject *waiting_count;
    PyObject *parent;
    PyObject *id;
    PyObject *name;
    PyObject *scope;
    PyObject *queries;
    PyObject *query_count;
    PyObject *query_time_s;
    PyObject *stats;
    PyObject *aliases;
    PyObject *call_sites;
    PyObject *add_records;
    PyObject *unknown_site;
    PyObject *outside_scopes;
    PyObject *getitem;
    PyObject *setitem;
    PyObject *contains;
} fold_state;

PyDoc_STRVAR(add_new_run_doc,
"add_new_run(queries, shape, call_site, records, total_s, facts, group_type,\n"
"            judged, max_params, /)\n"
"--\n\n"
"Add a run of raw records to a ScopeQueries as its add_records would, where\n"
"that is its common case; return True, or False with nothing changed.\n\n"
"The common case: a key (shape, call_site) not in queries._groups, shape\n"
"judged not transaction control (judged[shape] is False), room for a group,\n"
"facts saying no bulk call and one SQL hash, at most max_params records\n"
"with distinct parameter hashes, a statement (the first record's SQL hash)\n"
"not in queries._sql_seen, and room for its single sightings. Then the\n"
"group, group_type(shape, call_site, shape, count, total_s, distinct,\n"
"lazy_load), goes into _groups and the run waits in _waiting. The\n"
"definition is perfprobe.nplusone.ScopeQueries.add_records.");

/* add_new_run's work: 1 (added), 0 (nothing changed) or -1 with an
 * exception set. */
static int
add_new_run_impl(fold_state *state, PyObject *queries, PyObject *shape,
                 PyObject *call_site, PyObject *records, PyObject *total_s,
                 PyObject *facts, PyObject *group_type, PyObject *judged,
                 Py_ssize_t max_params)
{
    /* Exact str keys and exact containers: looking them up, hashing and
     * comparing run no Python code. */
    if (!PyUnicode_CheckExact(shape)
        || !(call_site == Py_None || PyUnicode_CheckExact(call_site))
        || !PyList_CheckExact(records) || !PyFloat_CheckExact(total_s)
        || !PyTuple_CheckExact(facts) || PyTuple_GET_SIZE(facts) != 6
        || !PyDict_CheckExact(judged)) {
        return 0;
    }
    Py_ssize_t count = PyList_GET_SIZE(records);
    PyObject *params = PyTuple_GET_ITEM(facts, 0);
    PyObject *distinct = PyTuple_GET_ITEM(facts, 2);
    if (count == 0 || count > max_params || !PyList_CheckExact(params)
        || PyList_GET_SIZE(params) != count
        || PyTuple_GET_ITEM(facts, 1) != Py_False
        || PyTuple_GET_ITEM(facts, 3) != Py_True
        || !PySet_CheckExact(distinct) || PySet_GET_SIZE(distinct) != count) {
        return 0;
    }
    PyObject *first = PyList_GET_ITEM(records, 0);
    if (!PyList_CheckExact(first) || PyList_GET_SIZE(first) != RAW_LENGTH
        || !PyLong_CheckExact(PyList_GET_ITEM(first, RAW_SQL_HASH))) {
        return 0;
    }
    PyObject *judgement = PyDict_GetItemWithError(judged, shape);
    if (judgement != Py_False) {
        /* Not judged yet (Python judges it), transaction control, or an
         * error. */
        return judgement == NULL && PyErr_Occurred() ? -1 : 0;
    }

    /* Held from here on: reading an attribute or allocating may run code. */
    PyObject *sql_hash = Py_NewRef(PyList_GET_ITEM(first, RAW_SQL_HASH));
    PyObject *groups = PyObject_GetAttr(queries, state->groups);
    PyObject *max_groups = NULL;
    PyObject *sql_seen = NULL;
    PyObject *duplicates = NULL;
    PyObject *waiting = NULL;
    PyObject *waiting_count = NULL;
    PyObject *key = NULL;
    PyObject *group = NULL;
    int result = -1;
    if (groups == NULL
        || (max_groups = PyObject_GetAttr(queries, state->max_groups)) == NULL
        || (sql_seen = PyObject_GetAttr(queries, state->sql_seen)) == NULL
        || (duplicates = PyObject_GetAttr(queries, state->duplicates)) == NULL
        || (waiting = PyObject_GetAttr(queries, state->waiting)) == NULL
        || (waiting_count = PyObject_GetAttr(queries, state->waiting_count))
            == NULL) {
        goto done;
    }
    if (!PyDict_CheckExact(groups) || !PyLong_CheckExact(max_groups)
        || !PySet_CheckExact(sql_seen) || !PyDict_CheckExact(duplicates)
        || !PyList_CheckExact(waiting) || !PyLong_CheckExact(waiting_count)) {
        result = 0;
        goto done;
    }
    Py_ssize_t max = PyLong_AsSsize_t(max_groups);
    Py_ssize_t held = PyLong_AsSsize_t(waiting_count);
    if ((max == -1 || held == -1) && PyErr_Occurred()) {
        /* Past a Py_ssize_t: Python's ints decide. */
        PyErr_Clear();
        result = 0;
        goto done;
    }
    key = PyTuple_Pack(2, shape, call_site);
    if (key == NULL) {
        goto done;
    }
    /* Keys are (str, str or None) tuples: no Python code compares them. */
    PyObject *found = PyDict_GetItemWithError(groups, key);
    if (found != NULL || PyErr_Occurred()) {
        if (found != NULL) {
            result = 0;
        }
        goto done;
    }
    int seen = PySet_Contains(sql_seen, sql_hash);
    if (seen < 0) {
        goto done;
    }
    if (seen || PyDict_GET_SIZE(groups) >= max
        || PyDict_GET_SIZE(duplicates) + held + count > max) {
        result = 0;
        goto done;
    }
    PyObject *made_args[7] = {
        shape, call_site, shape, NULL, total_s, distinct, PyTuple_GET_ITEM(facts, 5),
    };
    PyObject *number = PyLong_FromSsize_t(count);
    if (number == NULL) {
        goto done;
    }
    made_args[3] = number;
    /* The facts hold the set and the lazy load: held while the group is
     * made. */
    Py_INCREF(facts);
    group = PyObject_Vectorcall(group_type, made_args, 7, NULL);
    Py_DECREF(number);
    if (group == NULL) {
        Py_DECREF(facts);
        goto done;
    }
    /* In add_records' order: the group, then the run's wait. */
    PyObject *entry = NULL;
    PyObject *total = NULL;
    int failed = PyDict_SetItem(groups, key, group) < 0
        || PySet_Add(sql_seen, sql_hash) < 0
        || (entry = PyTuple_Pack(3, sql_hash, params, records)) == NULL
        || PyList_Append(waiting, entry) < 0
        || (total = PyLong_FromSsize_t(held + count)) == NULL
        || PyObject_SetAttr(queries, state->waiting_count, total) < 0;
    Py_XDECREF(entry);
    Py_XDECREF(total);
    Py_DECREF(facts);
    if (!failed) {
        result = 1;
    }

done:
    Py_DECREF(sql_hash);
    Py_XDECREF(groups);
    Py_XDECREF(max_groups);
    Py_XDECREF(sql_seen);
    Py_XDECREF(duplicates);
    Py_XDECREF(waiting);
    Py_XDECREF(waiting_count);
    Py_XDECREF(key);
    Py_XDECREF(group);
    return result;
}

static PyObject *
add_new_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "add_new_run() takes 9 arguments");
        return NULL;
    }
    fold_state *state = (fold_state *)PyModule_GetState(module);
    if (state == NULL) {
        return NULL;
    }
    Py_ssize_t max_params = PyLong_AsSsize_t(args[8]);
    if (max_params == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int added = add_new_run_impl(state, args[0], args[1], args[2], args[3], args[4],
                                 args[5], args[6], args[7], max_params);
    if (added < 0) {
        return NULL;
    }
    return Py_NewRef(added ? Py_True : Py_False);
}

/* The fold's context: what querylog's _add_queries passes fold_groups. */
typedef struct {
    PyObject *fingerprint;
    PyObject *table;
    PyObject *lineage;
    PyObject *states;
    PyObject *shapes;
    Py_ssize_t max_call_sites;
    PyObject *runs;
    PyObject *group_type;
    PyObject *judged;
    Py_ssize_t max_params;
} fold_context;

/* 1 when mapping is a dict whose type takes its item reads, writes and
 * membership test from dict (a dict, or a Counter, which only adds
 * __missing__), so that dict's own calls answer as Python's would. */
static int
plain_mapping(fold_state *state, PyObject *mapping)
{
    if (PyDict_CheckExact(mapping)) {
        return 1;
    }
    if (!PyDict_Check(mapping)) {
        return 0;
    }
    PyTypeObject *type = Py_TYPE(mapping);
    PyObject *names[3] = {state->getitem, state->setitem, state->contains};
    for (int i = 0; i < 3; i++) {
        PyObject *own = _PyType_Lookup(type, names[i]);
        if (own == NULL || own != _PyType_Lookup(&PyDict_Type, names[i])) {
            return 0;
        }
    }
    return 1;
}

/* Add ``increment`` to the attribute ``name`` of ``owner``; 0 or -1. */
static int
add_to_attr(PyObject *owner, PyObject *name, PyObject *increment)
{
    PyObject *held = PyObject_GetAttr(owner, name);
    if (held == NULL) {
        return -1;
    }
    PyObject *sum = PyNumber_InPlaceAdd(held, increment);
    Py_DECREF(held);
    if (sum == NULL) {
        return -1;
    }
    int failed = PyObject_SetAttr(owner, name, sum);
    Py_DECREF(sum);
    return failed;
}

/* Fold one group of fold_groups' list: 1 (folded), 0 (not the common case,
 * nothing changed: Python folds it) or -1 with an exception set (the group
 * may be partly added, as in Python). */
static int
fold_one(fold_state *state, fold_context *ctx, PyObject *entry)
{
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4) {
        return 0;
    }
    PyObject *key = PyTuple_GET_ITEM(entry, 0);
    PyObject *records = PyTuple_GET_ITEM(entry, 1);
    PyObject *durations = PyTuple_GET_ITEM(entry, 2);
    PyObject *total_s = PyTuple_GET_ITEM(entry, 3);
    if (!PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) != 3
        || !PyList_CheckExact(records) || PyList_GET_SIZE(records) == 0
        || !PyList_CheckExact(durations) || !PyFloat_CheckExact(total_s)
        || !isfinite(PyFloat_AS_DOUBLE(total_s))) {
        return 0;
    }
    PyObject *text = PyTuple_GET_ITEM(key, 0);
    PyObject *scope = PyTuple_GET_ITEM(key, 1);
    PyObject *call_site = PyTuple_GET_ITEM(key, 2);
    if (!PyUnicode_CheckExact(text) || scope == Py_None
        || !(call_site == Py_None || PyUnicode_CheckExact(call_site))) {
        return 0;
    }

    /* Everything read and tested first, so that what is not the common
     * case changes nothing; the entry (and with it the key, the records
     * and the durations) is held throughout. */
    PyObject *parent = NULL;
    PyObject *scope_id = NULL;
    PyObject *open = NULL;
    PyObject *owner = NULL;
    PyObject *shape = NULL;
    PyObject *q = NULL;
    PyObject *stats = NULL;
    PyObject *aliases = NULL;
    PyObject *sites = NULL;
    PyObject *queries = NULL;
    PyObject *path = NULL;
    PyObject *sql_hash = NULL;
    PyObject *facts = NULL;
    PyObject *count = NULL;
    int result = -1;
    if ((parent = PyObject_GetAttr(scope, state->parent)) == NULL) {
        goto done;
    }
    if (parent != Py_None) {
        result = 0;
        goto done;
    }
    if ((scope_id = PyObject_GetAttr(scope, state->id)) == NULL) {
        goto done;
    }
    if (!PyLong_CheckExact(scope_id)) {
        result = 0;
        goto done;
    }
    /* The scope's state if open already; else lineage() finds (or makes)
     * it after the table's part, where Python asks. */
    open = PyDict_GetItemWithError(ctx->states, scope_id);
    if (open == NULL && PyErr_Occurred()) {
        goto done;
    }
    Py_XINCREF(open);
    /* One alias object, an exact str, in every record. */
    PyObject *first = PyList_GET_ITEM(records, 0);
    if (!PyList_CheckExact(first) || PyList_GET_SIZE(first) != RAW_LENGTH) {
        result = 0;
        goto done;
    }
    PyObject *alias = PyList_GET_ITEM(first, RAW_ALIAS);
    if (!PyUnicode_CheckExact(alias)) {
        result = 0;
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records); i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (!PyList_CheckExact(record) || PyList_GET_SIZE(record) != RAW_LENGTH
            || PyList_GET_ITEM(record, RAW_ALIAS) != alias) {
            result = 0;
            goto done;
        }
    }
    /* Held: the fingerprint is Python code. */
    Py_INCREF(alias);
    PyObject *vendor = Py_NewRef(PyList_GET_ITEM(first, RAW_VENDOR));
    PyObject *shape_args[2] = {text, vendor};
    shape = PyObject_Vectorcall(ctx->fingerprint, shape_args, 2, NULL);
    Py_DECREF(vendor);
    if (shape == NULL) {
        Py_DECREF(alias);
        goto done;
    }
    if (!PyUnicode_CheckExact(shape)) {
        Py_DECREF(alias);
        result = 0;
        goto done;
    }
    q = PyDict_GetItemWithError(ctx->shapes, shape);
    if (q == NULL) {
        /* A new fingerprint: QueryTable.add_records makes its aggregates. */
        Py_DECREF(alias);
        result = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    Py_INCREF(q);
    if ((stats = PyObject_GetAttr(q, state->stats)) == NULL
        || (aliases = PyObject_GetAttr(q, state->aliases)) == NULL
        || (sites = PyObject_GetAttr(q, state->call_sites)) == NULL
        || (path = PyObject_GetAttr(scope, state->name)) == NULL) {
        Py_DECREF(alias);
        goto done;
    }
    /* The runs are keyed by the aggregates' identity; the sets and the
     * mappings are read and written without Python code. */
    if (Py_TYPE(stats)->tp_hash != PyBaseObject_Type.tp_hash
        || Py_TYPE(stats)->tp_richcompare != PyBaseObject_Type.tp_richcompare
        || !PySet_CheckExact(aliases) || !plain_mapping(state, sites)) {
        Py_DECREF(alias);
        result = 0;
        goto done;
    }
    Py_hash_t hashed = PyObject_Hash(text);
    if (hashed == -1 || (sql_hash = PyLong_FromSsize_t(hashed)) == NULL) {
        Py_DECREF(alias);
        goto done;
    }
    facts = settle_impl(records, shape, path, sql_hash);
    if (facts == NULL || facts == Py_None || PyTuple_GET_ITEM(facts, 4) != alias) {
        /* Left as it came (None), or settled and then seen to hold another
         * alias (a collection changed a record): settling again in Python
         * puts the same items in. */
        Py_DECREF(alias);
        result = facts == NULL ? -1 : 0;
        goto done;
    }

    /* The query table, as QueryTable.add_records. */
    Py_ssize_t n = PyList_GET_SIZE(records);
    if ((count = PyLong_FromSsize_t(n)) == NULL) {
        Py_DECREF(alias);
        goto done;
    }
    PyObject *run = PyDict_GetItemWithError(ctx->runs, stats);
    if (run == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(alias);
            goto done;
        }
        PyObject *sums = PyList_New(1);
        if (sums == NULL) {
            Py_DECREF(alias);
            goto done;
        }
        PyList_SET_ITEM(sums, 0, Py_NewRef(total_s));
        PyObject *made = PyTuple_Pack(2, durations, sums);
        Py_DECREF(sums);
        int failed = made == NULL || PyDict_SetItem(ctx->runs, stats, made) < 0;
        Py_XDECREF(made);
        if (failed) {
            Py_DECREF(alias);
            goto done;
        }
    }
    else {
        Py_INCREF(run);
        int failed = !PyTuple_CheckExact(run) || PyTuple_GET_SIZE(run) != 2
            || !PyList_CheckExact(PyTuple_GET_ITEM(run, 0))
            || !PyList_CheckExact(PyTuple_GET_ITEM(run, 1));
        if (failed) {
            PyErr_SetString(PyExc_TypeError, "a fold's runs hold (list, list)");
        }
        else {
            PyObject *values = PyTuple_GET_ITEM(run, 0);
            Py_ssize_t end = PyList_GET_SIZE(values);
            failed = PyList_SetSlice(values, end, end, durations) < 0
                || PyList_Append(PyTuple_GET_ITEM(run, 1), total_s) < 0;
        }
        Py_DECREF(run);
        if (failed) {
            Py_DECREF(alias);
            goto done;
        }
    }
    int added_alias = PySet_Add(aliases, alias);
    Py_DECREF(alias);
    if (added_alias < 0) {
        goto done;
    }
    PyObject *site = call_site != Py_None && PyUnicode_GET_LENGTH(call_site) > 0
        ? call_site : state->unknown_site;
    PyObject *seen = PyDict_GetItemWithError(sites, site);
    if (seen != NULL) {
        Py_INCREF(seen);
        PyObject *sum = PyNumber_InPlaceAdd(seen, count);
        Py_DECREF(seen);
        int failed = sum == NULL || PyDict_SetItem(sites, site, sum) < 0;
        Py_XDECREF(sum);
        if (failed) {
            goto done;
        }
    }
    else if (PyErr_Occurred()) {
        goto done;
    }
    else if (PyDict_GET_SIZE(sites) < ctx->max_call_sites
             && PyDict_SetItem(sites, site, count) < 0) {
        goto done;
    }

    /* The scope's counts, then its analysis. */
    if (open == NULL) {
        PyObject *lineage = PyObject_CallOneArg(ctx->lineage, scope);
        if (lineage == NULL) {
            goto done;
        }
        if (!PyList_CheckExact(lineage) || PyList_GET_SIZE(lineage) > 1) {
            /* A request scope has no ancestors: one state at most. */
            Py_DECREF(lineage);
            PyErr_SetString(PyExc_RuntimeError,
                            "a request scope's lineage holds one state at most");
            goto done;
        }
        if (PyList_GET_SIZE(lineage) == 0) {
            Py_DECREF(lineage);
            result = add_to_attr(ctx->table, state->outside_scopes, count) < 0 ? -1 : 1;
            goto done;
        }
        open = Py_NewRef(PyList_GET_ITEM(lineage, 0));
        Py_DECREF(lineage);
    }
    if (add_to_attr(open, state->query_count, count) < 0
        || add_to_attr(open, state->query_time_s, total_s) < 0
        || (owner = PyObject_GetAttr(open, state->scope)) == NULL) {
        goto done;
    }
    if (owner != scope) {
        result = 1;
        goto done;
    }
    if ((queries = PyObject_GetAttr(open, state->queries)) == NULL) {
        goto done;
    }
    int added = add_new_run_impl(state, queries, shape, call_site, records, total_s,
                                 facts, ctx->group_type, ctx->judged,
                                 ctx->max_params);
    if (added < 0) {
        goto done;
    }
    if (!added) {
        PyObject *answer = PyObject_CallMethodObjArgs(
            queries, state->add_records, shape, call_site, records, total_s, facts,
            NULL);
        if (answer == NULL) {
            goto done;
        }
        Py_DECREF(answer);
    }
    result = 1;

done:
    Py_XDECREF(parent);
    Py_XDECREF(scope_id);
    Py_XDECREF(open);
    Py_XDECREF(owner);
    Py_XDECREF(shape);
    Py_XDECREF(q);
    Py_XDECREF(stats);
    Py_XDECREF(aliases);
    Py_XDECREF(sites);
    Py_XDECREF(queries);
    Py_XDECREF(path);
    Py_XDECREF(sql_hash);
    Py_XDECREF(facts);
    Py_XDECREF(count);
    return result;
}

PyDoc_STRVAR(fold_groups_doc,
"fold_groups(groups, start, progress, fingerprint, table, lineage, states,\n"
"            shapes, max_call_sites, runs, group_type, judged, max_params, /)\n"
"--\n\n"
"Fold group_queries' groups from start on, as querylog's _add_queries does\n"
"each; return the index of the first one left to Python (len(groups) when\n"
"none is).\n\n"
"The common case is a request scope's group (its scope has no parent), of\n"
"a fingerprint the table knows (shapes), one alias object in every record,\n"
"a finite total and records that settle_group settles. Each is then\n"
"settled, added to the table's aggregates and to runs, counted in its\n"
"scope's state (in states, else lineage(scope)'s, else in the table's\n"
"outside_scopes), and added to the scope's analysis (add_new_run, else its\n"
"add_records) if that state is its own. On an exception, progress[0]\n"
"is the index of the group it came from. The definition is the loop of\n"
"perfprobe.querylog.QueryRecords._add_queries.");

static PyObject *
fold_groups(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "fold_groups() takes 13 arguments");
        return NULL;
    }
    fold_state *state = (fold_state *)PyModule_GetState(module);
    if (state == NULL) {
        return NULL;
    }
    PyObject *groups = args[0];
    PyObject *progress = args[2];
    fold_context ctx = {
        .fingerprint = args[3],
        .table = args[4],
        .lineage = args[5],
        .states = args[6],
        .shapes = args[7],
        .runs = args[9],
        .group_type = args[10],
        .judged = args[11],
    };
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    ctx.max_call_sites = PyLong_AsSsize_t(args[8]);
    ctx.max_params = PyLong_AsSsize_t(args[12]);
    if ((start == -1 || ctx.max_call_sites == -1 || ctx.max_params == -1)
        && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyList_CheckExact(groups) || !PyList_CheckExact(progress)
        || PyList_GET_SIZE(progress) < 1 || !PyDict_CheckExact(ctx.states)
        || !PyDict_CheckExact(ctx.shapes) || !PyDict_CheckExact(ctx.runs)) {
        PyErr_SetString(PyExc_TypeError,
                        "fold_groups() needs lists of groups and progress and "
                        "dicts of states, shapes and runs");
        return NULL;
    }
    Py_ssize_t index = start < 0 ? 0 : start;
    for (; index < PyList_GET_SIZE(groups); index++) {
        PyObject *entry = Py_NewRef(PyList_GET_ITEM(groups, index));
        int folded = fold_one(state, &ctx, entry);
        Py_DECREF(entry);
        if (folded < 0) {
            PyObject *type, *value, *traceback;
            PyErr_Fetch(&type, &value, &traceback);
            PyObject *at = PyLong_FromSsize_t(index);
            if (at == NULL || PyList_GET_SIZE(progress) < 1
                || PyList_SetItem(progress, 0, at) < 0) {
                /* The first exception is the one to report. */
                PyErr_Clear();
            }
            PyErr_Restore(type, value, traceback);
            return NULL;
        }
        if (!folded) {
            break;
        }
    }
    return PyLong_FromSsize_t(index);
}

static int
fold_exec(PyObject *module)
{
    fold_state *state = (fold_state *)PyModule_GetState(module);
    if ((state->groups = PyUnicode_InternFromString("_groups")) == NULL
        || (state->max_groups = PyUnicode_InternFromString("max_groups")) == NULL
        || (state->sql_seen = PyUnicode_InternFromString("_sql_seen")) == NULL
        || (state->duplicates = PyUnicode_InternFromString("_duplicates")) == NULL
        || (state->waiting = PyUnicode_InternFromString("_waiting")) == NULL
        || (state->waiting_count = PyUnicode_InternFromString("_waiting_count"))
            == NULL
        || (state->parent = PyUnicode_InternFromString("parent")) == NULL
        || (state->id = PyUnicode_InternFromString("id")) == NULL
        || (state->name = PyUnicode_InternFromString("name")) == NULL
        || (state->scope = PyUnicode_InternFromString("scope")) == NULL
        || (state->queries = PyUnicode_InternFromString("queries")) == NULL
        || (state->query_count = PyUnicode_InternFromString("query_count")) == NULL
        || (state->query_time_s = PyUnicode_InternFromString("query_time_s"))
            == NULL
        || (state->stats = PyUnicode_InternFromString("stats")) == NULL
        || (state->aliases = PyUnicode_InternFromString("aliases")) == NULL
        || (state->call_sites = PyUnicode_InternFromString("call_sites")) == NULL
        || (state->add_records = PyUnicode_InternFromString("add_records")) == NULL
        || (state->unknown_site = PyUnicode_InternFromString("(unknown)"))
            == NULL
        || (state->outside_scopes = PyUnicode_InternFromString("outside_scopes"))
            == NULL
        || (state->getitem = PyUnicode_InternFromString("__getitem__")) == NULL
        || (state->setitem = PyUnicode_InternFromString("__setitem__")) == NULL
        || (state->contains = PyUnicode_InternFromString("__contains__")) == NULL) {
        return -1;
    }
    return 0;
}

static int
fold_clear(PyObject *module)
{
    fold_state *state = (fold_state *)PyModule_GetState(module);
    if (state != NULL) {
        Py_CLEAR(state->groups);
        Py_CLEAR(state->max_groups);
        Py_CLEAR(state->sql_seen);
        Py_CLEAR(state->duplicates);
        Py_CLEAR(state->waiting);
        Py_CLEAR(state->waiting_count);
        Py_CLEAR(state->parent);
        Py_CLEAR(state->id);
        Py_CLEAR(state->name);
        Py_CLEAR(state->scope);
        Py_CLEAR(state->queries);
        Py_CLEAR(state->query_count);
        Py_CLEAR(state->query_time_s);
        Py_CLEAR(state->stats);
        Py_CLEAR(state->aliases);
        Py_CLEAR(state->call_sites);
        Py_CLEAR(state->add_records);
        Py_CLEAR(state->unknown_site);
        Py_CLEAR(state->outside_scopes);
        Py_CLEAR(state->getitem);
        Py_CLEAR(state->setitem);
        Py_CLEAR(state->contains);
    }
    return 0;
}

static void
fold_free(void *module)
{
    fold_clear((PyObject *)module);
}

static PyMethodDef fold_methods[] = {
    {"count_bins", (PyCFunction)(void (*)(void))count_bins, METH_FASTCALL,
     count_bins_doc},
    {"split_records", (PyCFunction)split_records, METH_O, split_records_doc},
    {"group_queries", (PyCFunction)group_queries, METH_O, group_queries_doc},
    {"settle_group", (PyCFunction)(void (*)(void))settle_group, METH_FASTCALL,
     settle_group_doc},
    {"add_in_range", (PyCFunction)(void (*)(void))add_in_range, METH_FASTCALL,
     add_in_range_doc},
    {"indices_above", (PyCFunction)(void (*)(void))indices_above, METH_FASTCALL,
     indices_above_doc},
    {"keep_record", (PyCFunction)(void (*)(void))keep_record, METH_FASTCALL,
     keep_record_doc},
    {"recycle_records", (PyCFunction)(void (*)(void))recycle_records,
     METH_FASTCALL, recycle_records_doc},
    {"add_new_run", (PyCFunction)(void (*)(void))add_new_run, METH_FASTCALL,
     add_new_run_doc},
    {"fold_groups", (PyCFunction)(void (*)(void))fold_groups, METH_FASTCALL,
     fold_groups_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot fold_slots[] = {
    {Py_mod_exec, fold_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef fold_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "perfprobe._fold",
    .m_doc = "The hot loops of adding timer and query records, in C.",
    .m_size = sizeof(fold_state),
    .m_methods = fold_methods,
    .m_slots = fold_slots,
    .m_clear = fold_clear,
    .m_free = fold_free,
};

PyMODINIT_FUNC
PyInit__fold(void)
{
    return PyModuleDef_Init(&fold_module);
}
