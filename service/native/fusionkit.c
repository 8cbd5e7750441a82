/* The arithmetic core of assess (service/scoring/fusion.py) and of the behaviour scorecard
 * (service/scoring/behaviour.py), in C. Python stays the definition and the fallback; the tests in
 * tests/unit/test_native_fusionkit.py hold each function here to its Python reference.
 *
 * scorecard(features, names, table, n_groups) -> tuple of n_groups floats:
 *   BehaviourModel.group_terms' values, in the order of its groups. names: the feature attribute
 *   names; table: native-endian doubles, for each feature in turn
 *     group_index, n_edges, missing_term, edges[n_edges], bin_terms[n_edges + 1]
 *   with missing_term = missing_weight - center and bin_terms[i] = weights[i] - center (the same
 *   double subtractions the Python code does per review). A value is None (the missing term) or
 *   is turned into a double as float(value) does; its bin is bisect_right(edges, value) (the same
 *   halving loop, on the same `<`); each group's sum starts at 0.0 and adds its features' terms
 *   in feature order.
 *
 * finish(terms, group_of, group_cap, min_reason, reason_type) -> (total, reasons) | None:
 *   the tail of assess over its (code, message, contribution) terms: groups them (group_of[code],
 *   else the code itself; groups in order of first appearance, members in term order), caps each
 *   group as _cap does, sums every kept contribution in that order from 0.0 (what sum() of floats
 *   does on CPython 3.11: the caller uses this only there), keeps those with
 *   abs(contribution) >= min_reason, rounds them as the builtin round(x, 3) does, sorts them
 *   stably by descending rounded contribution and builds one reason_type(code, message,
 *   contribution) each
 *   (slots set as object.__setattr__ does: reason_type is a frozen dataclass). None when some
 *   contribution is not exactly a float (the Python code then does it). The rounding is round3.
 *
 * round3(x) -> float: round(x, 3) for a float, worked out in doubles (see round3 below) where
 *   the builtin formats and parses decimal strings; the builtin itself beyond 2**30 and for NaN
 *   and infinities.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

static PyObject *round_fn = NULL; /* builtins.round */
static PyObject *three = NULL;    /* 3 */
static PyObject *name_code = NULL, *name_message = NULL, *name_contribution = NULL;

/* ---- scorecard ------------------------------------------------------------------------------ */

#define MAX_GROUPS 64

static int as_double(PyObject *value, double *out) {
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 0;
    }
    if (PyLong_Check(value)) { /* int and bool: float(int) */
        const double d = PyLong_AsDouble(value);
        if (d == -1.0 && PyErr_Occurred()) {
            return -1;
        }
        *out = d;
        return 0;
    }
    PyObject *f = PyNumber_Float(value);
    if (f == NULL) {
        return -1;
    }
    *out = PyFloat_AS_DOUBLE(f);
    Py_DECREF(f);
    return 0;
}

static PyObject *scorecard(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "scorecard(features, names, table, n_groups)");
        return NULL;
    }
    PyObject *features = args[0], *names = args[1], *table = args[2];
    if (!PyTuple_Check(names) || !PyBytes_Check(table)) {
        PyErr_SetString(PyExc_TypeError, "scorecard: names must be a tuple, table bytes");
        return NULL;
    }
    const Py_ssize_t n_groups = PyLong_AsSsize_t(args[3]);
    if (n_groups == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n_groups < 0 || n_groups > MAX_GROUPS) {
        PyErr_SetString(PyExc_ValueError, "scorecard: 0 to 64 groups");
        return NULL;
    }
    const Py_ssize_t n_doubles = PyBytes_GET_SIZE(table) / (Py_ssize_t)sizeof(double);
    if (PyBytes_GET_SIZE(table) % (Py_ssize_t)sizeof(double) != 0) {
        PyErr_SetString(PyExc_ValueError, "scorecard: table is not a whole number of doubles");
        return NULL;
    }
    double t[MAX_GROUPS];
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        t[g] = 0.0;
    }
    const char *raw = PyBytes_AS_STRING(table);
    Py_ssize_t at = 0; /* in doubles */
    const Py_ssize_t n_features = PyTuple_GET_SIZE(names);
    for (Py_ssize_t i = 0; i < n_features; i++) {
        double head[3];
        if (at + 3 > n_doubles) {
            goto malformed;
        }
        memcpy(head, raw + at * (Py_ssize_t)sizeof(double), sizeof head);
        const Py_ssize_t group = (Py_ssize_t)head[0], n_edges = (Py_ssize_t)head[1];
        if (group < 0 || group >= n_groups || n_edges < 0 || at + 3 + 2 * n_edges + 1 > n_doubles) {
            goto malformed;
        }
        const char *edges = raw + (at + 3) * (Py_ssize_t)sizeof(double);
        const char *terms = edges + n_edges * (Py_ssize_t)sizeof(double);
        at += 3 + 2 * n_edges + 1;
        PyObject *value = PyObject_GetAttr(features, PyTuple_GET_ITEM(names, i));
        if (value == NULL) {
            return NULL;
        }
        double term;
        if (value == Py_None) {
            term = head[2];
        } else {
            double x;
            const int rc = as_double(value, &x);
            if (rc < 0) {
                Py_DECREF(value);
                return NULL;
            }
            Py_ssize_t lo = 0, hi = n_edges; /* bisect_right */
            while (lo < hi) {
                const Py_ssize_t mid = ((size_t)lo + (size_t)hi) / 2;
                double edge;
                memcpy(&edge, edges + mid * (Py_ssize_t)sizeof(double), sizeof edge);
                if (x < edge) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            memcpy(&term, terms + lo * (Py_ssize_t)sizeof(double), sizeof term);
        }
        Py_DECREF(value);
        t[group] += term;
    }
    PyObject *out = PyTuple_New(n_groups);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        PyObject *f = PyFloat_FromDouble(t[g]);
        if (f == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, g, f);
    }
    return out;
malformed:
    PyErr_SetString(PyExc_ValueError, "scorecard: malformed table");
    return NULL;
}

/* ---- round(x, 3) ---------------------------------------------------------------------------- */

/* round(x, 3) as CPython's float.__round__ gives it: the double nearest to D / 1000, D the
 * integer nearest to the exact x * 1000 (ties to even), for finite |x| < 2**30; 0 (the caller then
 * calls the builtin round) for any other x.
 *   With a = |x| (both roundings are symmetric in sign): p = a * 1000 rounded and
 * e = fma(a, 1000, -p) make a * 1000 == p + e exactly, |e| <= ulp(p) / 2 <= 2**-13. With f =
 * floor(p), frac = p - f is exact (p < 2**40: for p >= 1 both are multiples of ulp(f), and
 * for p < 1, f = 0), so the exact fraction is frac + e, within (-2**-13, 1): below a half when
 * frac < 0.25, above it when frac > 0.75, and otherwise compared exactly through
 * h = frac - 0.5 (exact by Sterbenz) against -e. D < 2**40 and 1000 are exact doubles, so
 * D / 1000.0 is the correctly rounded quotient: what strtod of the decimal D e-3 gives (and
 * D / 1000 is never half-way between two doubles). The sign goes back on last, -0.0 included. */
static int round3(double x, double *out) {
    const double a = fabs(x);
    if (!(a < 1073741824.0)) {
        return 0;
    }
    const double p = a * 1000.0;
    const double e = fma(a, 1000.0, -p);
    const double f = floor(p);
    const double frac = p - f;
    double d;
    if (frac < 0.25) {
        d = f;
    } else if (frac > 0.75) {
        d = f + 1.0;
    } else {
        const double h = frac - 0.5;
        if (h > -e) {
            d = f + 1.0;
        } else if (h < -e) {
            d = f;
        } else {
            d = fmod(f, 2.0) == 0.0 ? f : f + 1.0;
        }
    }
    *out = copysign(d / 1000.0, x);
    return 1;
}

static PyObject *round_3(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyFloat_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "round3() takes a float");
        return NULL;
    }
    double r;
    if (round3(PyFloat_AS_DOUBLE(arg), &r)) {
        return PyFloat_FromDouble(r);
    }
    PyObject *call[2] = {arg, three};
    return PyObject_Vectorcall(round_fn, call, 2, NULL);
}

/* ---- finish --------------------------------------------------------------------------------- */

#define STACK_TERMS 64

typedef struct {
    PyObject *code;    /* borrowed from the terms */
    PyObject *message; /* borrowed */
    PyObject *group;   /* borrowed (group_of's value, or the code) */
    Py_ssize_t group_index;
    double contribution;
    PyObject *rounded; /* owned, once shown */
} term_t;

static PyObject *make_reason(PyTypeObject *type, const term_t *t) {
    PyObject *reason = type->tp_alloc(type, 0);
    if (reason == NULL) {
        return NULL;
    }
    if (PyObject_GenericSetAttr(reason, name_code, t->code) < 0 ||
        PyObject_GenericSetAttr(reason, name_message, t->message) < 0 ||
        PyObject_GenericSetAttr(reason, name_contribution, t->rounded) < 0) {
        Py_DECREF(reason);
        return NULL;
    }
    return reason;
}

static PyObject *finish(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "finish(terms, group_of, group_cap, min_reason, reason_type)");
        return NULL;
    }
    PyObject *terms = args[0], *group_of = args[1];
    if (!PyList_Check(terms) || !PyDict_Check(group_of) || !PyType_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "finish: terms a list, group_of a dict, a type");
        return NULL;
    }
    PyTypeObject *reason_type = (PyTypeObject *)args[4];
    const double group_cap = PyFloat_AsDouble(args[2]);
    if (group_cap == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    const double min_reason = PyFloat_AsDouble(args[3]);
    if (min_reason == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    const Py_ssize_t n = PyList_GET_SIZE(terms);
    term_t stack_terms[STACK_TERMS];
    Py_ssize_t stack_order[STACK_TERMS], stack_shown[STACK_TERMS];
    term_t *ts = stack_terms;
    Py_ssize_t *order = stack_order, *shown = stack_shown;
    PyObject *result = NULL, *reasons = NULL;
    Py_ssize_t n_ready = 0; /* entries of ts whose rounded is set (NULL or owned) */
    if (n > STACK_TERMS) {
        ts = PyMem_Malloc((size_t)n * sizeof *ts);
        order = PyMem_Malloc((size_t)n * sizeof *order);
        shown = PyMem_Malloc((size_t)n * sizeof *shown);
        if (ts == NULL || order == NULL || shown == NULL) {
            PyErr_NoMemory();
            goto done_free;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        ts[i].rounded = NULL;
    }
    n_ready = n;
    /* The terms, and their groups in order of first appearance. */
    Py_ssize_t n_groups = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(terms, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) {
            PyErr_SetString(PyExc_TypeError, "finish: terms are (code, message, contribution)");
            goto done_free;
        }
        PyObject *contribution = PyTuple_GET_ITEM(item, 2);
        if (!PyFloat_CheckExact(contribution)) {
            result = Py_NewRef(Py_None);
            goto done_free;
        }
        term_t *t = &ts[i];
        t->code = PyTuple_GET_ITEM(item, 0);
        t->message = PyTuple_GET_ITEM(item, 1);
        t->contribution = PyFloat_AS_DOUBLE(contribution);
        PyObject *group = PyDict_GetItemWithError(group_of, t->code);
        if (group == NULL) {
            if (PyErr_Occurred()) {
                goto done_free;
            }
            group = t->code;
        }
        t->group = group;
        t->group_index = -1;
        for (Py_ssize_t j = 0; j < i; j++) {
            if (ts[j].group == group) {
                t->group_index = ts[j].group_index;
                break;
            }
        }
        if (t->group_index < 0) { /* not the same object: compare as the dict would */
            for (Py_ssize_t j = 0; j < i; j++) {
                const int eq = PyObject_RichCompareBool(ts[j].group, group, Py_EQ);
                if (eq < 0) {
                    goto done_free;
                }
                if (eq) {
                    t->group_index = ts[j].group_index;
                    break;
                }
            }
        }
        if (t->group_index < 0) {
            t->group_index = n_groups++;
        }
    }
    /* Group by group, each capped; the total of every kept contribution in that order. */
    Py_ssize_t n_order = 0;
    double total = 0.0;
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        const Py_ssize_t first = n_order;
        double group_total = 0.0;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (ts[i].group_index == g) {
                order[n_order++] = i;
                group_total += ts[i].contribution;
            }
        }
        if (!(fabs(group_total) <= group_cap || group_total == 0)) {
            const double scale = group_cap / fabs(group_total);
            for (Py_ssize_t k = first; k < n_order; k++) {
                ts[order[k]].contribution = ts[order[k]].contribution * scale;
            }
        }
        for (Py_ssize_t k = first; k < n_order; k++) {
            total += ts[order[k]].contribution;
        }
    }
    /* The shown ones, rounded, in a stable descending order. */
    Py_ssize_t n_shown = 0;
    for (Py_ssize_t k = 0; k < n_order; k++) {
        term_t *t = &ts[order[k]];
        if (!(fabs(t->contribution) >= min_reason)) {
            continue;
        }
        double rounded;
        if (round3(t->contribution, &rounded)) {
            t->rounded = PyFloat_FromDouble(rounded);
        } else {
            PyObject *value = PyFloat_FromDouble(t->contribution);
            if (value == NULL) {
                goto done_free;
            }
            PyObject *call[2] = {value, three};
            t->rounded = PyObject_Vectorcall(round_fn, call, 2, NULL);
            Py_DECREF(value);
        }
        if (t->rounded == NULL) {
            goto done_free;
        }
        if (!PyFloat_CheckExact(t->rounded)) {
            Py_CLEAR(t->rounded);
            PyErr_SetString(PyExc_TypeError, "finish: round() gave no float");
            goto done_free;
        }
        /* insertion: after every earlier one not below it */
        const double r = PyFloat_AS_DOUBLE(t->rounded);
        Py_ssize_t at = n_shown;
        while (at > 0 && PyFloat_AS_DOUBLE(ts[shown[at - 1]].rounded) < r) {
            shown[at] = shown[at - 1];
            at--;
        }
        shown[at] = order[k];
        n_shown++;
    }
    reasons = PyList_New(n_shown);
    if (reasons == NULL) {
        goto done_free;
    }
    for (Py_ssize_t k = 0; k < n_shown; k++) {
        PyObject *reason = make_reason(reason_type, &ts[shown[k]]);
        if (reason == NULL) {
            Py_CLEAR(reasons);
            goto done_free;
        }
        PyList_SET_ITEM(reasons, k, reason);
    }
    result = Py_BuildValue("(dN)", total, reasons); /* N: takes reasons (on failure too) */
done_free:
    for (Py_ssize_t i = 0; i < n_ready; i++) {
        Py_XDECREF(ts[i].rounded);
    }
    if (ts != stack_terms) {
        PyMem_Free(ts);
        PyMem_Free(order);
        PyMem_Free(shown);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"round3", round_3, METH_O,
     "round3(x: float) -> float: round(x, 3), the same double (computed without strings)."},
    {"scorecard", (PyCFunction)(void (*)(void))scorecard, METH_FASTCALL,
     "scorecard(features, names, table, n_groups) -> tuple of floats: the behaviour groups' "
     "terms (see the module's source)."},
    {"finish", (PyCFunction)(void (*)(void))finish, METH_FASTCALL,
     "finish(terms, group_of, group_cap, min_reason, reason_type) -> (total, reasons) | None: "
     "assess's grouping, capping, sum and shown reasons."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.native.fusionkit", NULL, -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_fusionkit(void) {
    PyObject *builtins = PyImport_ImportModule("builtins");
    if (builtins == NULL) {
        return NULL;
    }
    round_fn = PyObject_GetAttrString(builtins, "round");
    Py_DECREF(builtins);
    three = PyLong_FromLong(3);
    name_code = PyUnicode_InternFromString("code");
    name_message = PyUnicode_InternFromString("message");
    name_contribution = PyUnicode_InternFromString("contribution");
    if (round_fn == NULL || three == NULL || name_code == NULL || name_message == NULL ||
        name_contribution == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
