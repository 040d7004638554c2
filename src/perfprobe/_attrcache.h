/* Attribute reads and stores from C that remember where the value is.
 *
 * PyObject_GetAttr and PyObject_SetAttr look the name up in the type's MRO
 * and then in the instance on every call: 250 to 350 instructions each,
 * where the interpreter's specialised LOAD_ATTR and STORE_ATTR cost a few
 * dozen. An AttrCache is one call site's memory of the interpreter's kind:
 * for one type, at one version of it (tp_version_tag, which CPython
 * changes whenever the type or one of its bases is changed: a class
 * attribute set or deleted, a method patched, __bases__ assigned), where
 * the attribute lives:
 *
 * - SLOT: a __slots__ member (T_OBJECT_EX, writable), read and written at
 *   its offset, as PyMember_GetOne and PyMember_SetOne do;
 * - VALUES: an instance attribute of a class whose instances keep their
 *   attributes inline (Py_TPFLAGS_MANAGED_DICT): its index in the type's
 *   shared keys, read from the instance's values, or from its dict where
 *   one was made (``vars(obj)``); when the instance has none, the class
 *   attribute found at that version when it is no descriptor.
 *
 * - DICT: an instance attribute of a type whose instances have a dict of
 *   their own at a fixed offset (a function's), read from that dict.
 *
 * A name in none of the places looked at is missing, as it is for
 * PyObject_GetAttr, when the type's MRO does not hold it either.
 * Anything else (a data descriptor such as a property, a non-data
 * descriptor the instance does not shadow, __getattr__ or __setattr__ of
 * the type's own, a type without a valid version, a name missing
 * everywhere) goes to PyObject_GetAttr or PyObject_SetAttr, which raise as
 * always. A cache holds no reference: the type is compared by identity and
 * version (versions are never reused), and a class value is used only
 * while the version it was found at holds, which keeps it in the type's
 * dict. The class value's own type is not covered by that version: it is
 * looked at on each use, so a type given __get__ or __set__ since (a plain
 * value become a descriptor) sends the access to the generic call.
 *
 * CPython 3.11 only: the layout of inline values changes between minor
 * versions, so other versions build these as the plain calls.
 */
#ifndef PERFPROBE_ATTRCACHE_H
#define PERFPROBE_ATTRCACHE_H

#include <Python.h>
#include <structmember.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define PERFPROBE_ATTR_CACHE 1
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#define PERFPROBE_UNDEF_BUILD_CORE 1
#endif
#include "internal/pycore_dict.h"
#ifdef PERFPROBE_UNDEF_BUILD_CORE
#undef Py_BUILD_CORE
#undef PERFPROBE_UNDEF_BUILD_CORE
#endif

/* 3.11's pre-header of a type with Py_TPFLAGS_MANAGED_DICT: the instance's
 * inline values sit four pointers before the object, the dict made from
 * them (if any) three before (CPython's pycore_object.h). */
static inline PyDictValues **
attr_values_slot(PyObject *obj)
{
    return (PyDictValues **)obj - 4;
}

static inline PyObject **
attr_dict_slot(PyObject *obj)
{
    return (PyObject **)obj - 3;
}
#endif

enum { ATTR_GENERIC = 0, ATTR_SLOT = 1, ATTR_VALUES = 2, ATTR_DICT = 3 };

typedef struct {
    PyObject **name;        /* the interned name's slot */
    PyTypeObject *type;     /* compared only */
    unsigned int version;   /* the type's tp_version_tag; 0: nothing kept */
    int kind;
    Py_ssize_t where;       /* SLOT: the offset; VALUES: the index, or -1 */
    PyObject *class_value;  /* VALUES: a class attribute, no descriptor */
    PyObject *descr;        /* what the type's MRO holds under the name */
    Py_ssize_t keys_seen;   /* VALUES, index -1: the keys' entries looked at */
} AttrCache;

#define ATTR_CACHE(name_slot) {(name_slot), NULL, 0, ATTR_GENERIC, -1, NULL, NULL, 0}

#ifdef PERFPROBE_ATTR_CACHE

/* ``name``'s index in a type's shared keys, or -1. The keys only grow, so
 * an index found stays true. */
static Py_ssize_t
attr_shared_index(PyDictKeysObject *keys, PyObject *name)
{
    if (keys == NULL || keys->dk_kind == DICT_KEYS_GENERAL) {
        return -1;
    }
    PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        PyObject *key = entries[i].me_key;
        if (key == name) {
            return i;
        }
        if (key != NULL && PyUnicode_CheckExact(key) &&
            _PyUnicode_EQ(key, name)) {
            return i;
        }
    }
    return -1;
}

/* Work out where ``name`` lives for ``type`` and keep it in ``cache``, or
 * leave the cache empty (every access then generic). ``store`` asks for a
 * store: the type's __setattr__ must be the generic one, not __getattr__. */
static void
attr_fill(AttrCache *cache, PyTypeObject *type, int store)
{
    PyObject *name = *cache->name;
    cache->version = 0;
    if (store ? type->tp_setattro != PyObject_GenericSetAttr
              : type->tp_getattro != PyObject_GenericGetAttr) {
        return;
    }
    /* Assigns the type a version where it can; runs no Python code. */
    PyObject *descr = _PyType_Lookup(type, name);
    if (!(type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ||
        type->tp_version_tag == 0) {
        return;
    }
    int kind = ATTR_GENERIC;
    Py_ssize_t where = -1;
    PyObject *class_value = NULL;
    if (descr != NULL && Py_TYPE(descr)->tp_descr_set != NULL) {
        /* A data descriptor wins over the instance: only a plain slot. */
        if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
            if (member->type == T_OBJECT_EX &&
                !(member->flags & (READONLY | PY_AUDIT_READ))) {
                kind = ATTR_SLOT;
                where = member->offset;
            }
        }
    }
    else if ((type->tp_flags & Py_TPFLAGS_MANAGED_DICT) &&
             (type->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        kind = ATTR_VALUES;
        PyDictKeysObject *keys = ((PyHeapTypeObject *)type)->ht_cached_keys;
        where = attr_shared_index(keys, name);
        cache->keys_seen = keys == NULL ? 0 : keys->dk_nentries;
    }
    else if (!store && !(type->tp_flags & Py_TPFLAGS_MANAGED_DICT) &&
             type->tp_dictoffset > 0) {
        kind = ATTR_DICT;
        where = type->tp_dictoffset;
    }
    if (kind >= ATTR_VALUES && descr != NULL && Py_TYPE(descr)->tp_descr_get == NULL) {
        class_value = descr;
    }
    cache->type = type;
    cache->kind = kind;
    cache->where = where;
    cache->class_value = class_value;
    cache->descr = descr;
    cache->version = type->tp_version_tag;
}

static inline int
attr_current(AttrCache *cache, PyTypeObject *type)
{
    return type == cache->type && cache->version != 0 &&
           type->tp_version_tag == cache->version;
}

/* The index of a VALUES cache's name, looked for again if the shared keys
 * grew since it was missing. */
static inline Py_ssize_t
attr_index(AttrCache *cache, PyTypeObject *type)
{
    if (cache->where < 0) {
        PyDictKeysObject *keys = ((PyHeapTypeObject *)type)->ht_cached_keys;
        if (keys != NULL && keys->dk_nentries != cache->keys_seen) {
            cache->where = attr_shared_index(keys, *cache->name);
            cache->keys_seen = keys->dk_nentries;
        }
    }
    return cache->where;
}

/* Whether the class attribute found when the cache was filled is still no
 * data descriptor. Its class's version does not follow its type: a
 * non-data descriptor (or a plain value) whose type is given __set__ since
 * wins over the instance's value, as in PyObject_GenericGetAttr. */
static inline int
attr_descr_unchanged(AttrCache *cache)
{
    return cache->descr == NULL || Py_TYPE(cache->descr)->tp_descr_set == NULL;
}

/* ``obj.name``: 1 with a new reference in ``*value``, 0 when it is missing
 * (``*value`` NULL, no exception), -1 with an exception set. */
static int
attr_lookup(AttrCache *cache, PyObject *obj, PyObject **value)
{
    PyTypeObject *type = Py_TYPE(obj);
    if (!attr_current(cache, type)) {
        attr_fill(cache, type, 0);
    }
    if (cache->version != 0 && cache->kind == ATTR_SLOT) {
        PyObject *found = *(PyObject **)((char *)obj + cache->where);
        if (found != NULL) {
            *value = Py_NewRef(found);
            return 1;
        }
    }
    else if (cache->version != 0 && cache->kind >= ATTR_VALUES &&
             attr_descr_unchanged(cache)) {
        PyObject *found = NULL;
        PyDictValues *values = cache->kind == ATTR_VALUES ? *attr_values_slot(obj) : NULL;
        if (values != NULL) {
            Py_ssize_t index = attr_index(cache, type);
            if (index >= 0) {
                found = values->values[index];
            }
        }
        else {
            PyObject *dict = cache->kind == ATTR_VALUES
                                 ? *attr_dict_slot(obj)
                                 : *(PyObject **)((char *)obj + cache->where);
            if (dict != NULL) {
                /* Held: a key's __eq__ may run and drop the dict. */
                Py_INCREF(dict);
                found = PyDict_GetItemWithError(dict, *cache->name);
                Py_XINCREF(found);
                Py_DECREF(dict);
                if (found != NULL) {
                    *value = found;
                    return 1;
                }
                if (PyErr_Occurred()) {
                    *value = NULL;
                    return -1;
                }
            }
        }
        if (found == NULL && type->tp_version_tag == cache->version) {
            if (cache->descr == NULL) {
                *value = NULL;
                return 0; /* nowhere: missing */
            }
            found = cache->class_value;
            if (found != NULL && Py_TYPE(found)->tp_descr_get != NULL) {
                found = NULL; /* its type given __get__ since: bound */
            }
        }
        if (found != NULL) {
            *value = Py_NewRef(found);
            return 1;
        }
    }
    return _PyObject_LookupAttr(obj, *cache->name, value);
}

/* Whether ``obj.name`` is the class's ``descr`` itself, not shadowed by
 * the instance (a method that would be bound to ``obj``): 1, or 0 when
 * that is not known here (the caller looks it up the long way). */
static int
attr_is_class_descr(AttrCache *cache, PyObject *obj, PyObject *descr)
{
    PyTypeObject *type = Py_TYPE(obj);
    if (!attr_current(cache, type)) {
        attr_fill(cache, type, 0);
    }
    if (cache->version == 0 || cache->kind != ATTR_VALUES || cache->descr != descr) {
        return 0;
    }
    PyDictValues *values = *attr_values_slot(obj);
    if (values != NULL) {
        Py_ssize_t index = attr_index(cache, type);
        return index < 0 || values->values[index] == NULL;
    }
    return *attr_dict_slot(obj) == NULL;
}

/* ``obj.name``, a new reference, or NULL with AttributeError (or another
 * exception) set, as PyObject_GetAttr. */
static PyObject *
attr_get(AttrCache *cache, PyObject *obj)
{
    PyObject *value = NULL;
    int found = attr_lookup(cache, obj, &value);
    if (found == 0) {
        return PyObject_GetAttr(obj, *cache->name); /* raises as always */
    }
    return value;
}

/* ``obj.name = value``: 0, or -1 with an exception set. */
static int
attr_set(AttrCache *cache, PyObject *obj, PyObject *value)
{
    PyTypeObject *type = Py_TYPE(obj);
    if (!attr_current(cache, type)) {
        attr_fill(cache, type, 1);
    }
    if (cache->version != 0 && cache->kind == ATTR_SLOT) {
        PyObject **slot = (PyObject **)((char *)obj + cache->where);
        PyObject *old = *slot;
        *slot = Py_NewRef(value);
        Py_XDECREF(old);
        return 0;
    }
    if (cache->version != 0 && cache->kind == ATTR_VALUES &&
        attr_descr_unchanged(cache)) {
        PyDictValues *values = *attr_values_slot(obj);
        Py_ssize_t index = values == NULL ? -1 : attr_index(cache, type);
        if (index >= 0) {
            /* As the interpreter's STORE_ATTR_INSTANCE_VALUE. */
            PyObject *old = values->values[index];
            values->values[index] = Py_NewRef(value);
            if (old == NULL) {
                _PyDictValues_AddToInsertionOrder(values, index);
            }
            else {
                Py_DECREF(old);
            }
            return 0;
        }
    }
    return PyObject_SetAttr(obj, *cache->name, value);
}

#else /* not CPython 3.11: the plain calls */

static int
attr_lookup(AttrCache *cache, PyObject *obj, PyObject **value)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(obj, *cache->name, value);
#else
    return _PyObject_LookupAttr(obj, *cache->name, value);
#endif
}

static int
attr_is_class_descr(AttrCache *cache, PyObject *obj, PyObject *descr)
{
    return 0;
}

static PyObject *
attr_get(AttrCache *cache, PyObject *obj)
{
    return PyObject_GetAttr(obj, *cache->name);
}

static int
attr_set(AttrCache *cache, PyObject *obj, PyObject *value)
{
    return PyObject_SetAttr(obj, *cache->name, value);
}

#endif /* PERFPROBE_ATTR_CACHE */
#endif /* PERFPROBE_ATTRCACHE_H */
