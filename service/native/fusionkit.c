/* assess (service/scoring/fusion.py) and the behaviour scorecard (service/scoring/behaviour.py)
 * in C: the terms with their messages, the caps, the sum and the reasons. Python stays the definition and the fallback; the tests in
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
 * text_terms(counts, text_probability, logit_prior, weights), rule_terms(features, weights),
 * behaviour_terms(features, groups, values) -> list of (code, message, contribution) | None:
 *   fusion._text_terms, _rule_terms and _behaviour_terms (see "the terms" below).
 *
 * round3(x) -> float: round(x, 3) for a float, worked out in doubles (see round3 below) where
 *   the builtin formats and parses decimal strings; the builtin itself beyond 2**30 and for NaN
 *   and infinities.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <structmember.h>

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
 * D / 1000 is never half-way between two doubles). The sign goes back on last, -0.0 included.
 *   nearest_scaled below finds D; round3 after it divides and puts the sign back. */

/* The integer nearest to the exact a * scale, ties to even (as a double), for 0 <= a < 2**30
 * and an integer scale of at most 1000 (round3's 1000; the messages' 10 and 100): the reasoning
 * above holds for any such scale, as a * scale < 2**40. */
static double nearest_scaled(double a, double scale) {
    const double p = a * scale;
    const double e = fma(a, scale, -p);
    const double f = floor(p);
    const double frac = p - f;
    if (frac < 0.25) {
        return f;
    }
    if (frac > 0.75) {
        return f + 1.0;
    }
    const double h = frac - 0.5;
    if (h > -e) {
        return f + 1.0;
    }
    if (h < -e) {
        return f;
    }
    return fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

static int round3(double x, double *out) {
    const double a = fabs(x);
    if (!(a < 1073741824.0)) {
        return 0;
    }
    *out = copysign(nearest_scaled(a, 1000.0) / 1000.0, x);
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

/* ---- the terms: their codes, messages and contributions ------------------------------------ */

/* The three functions below build assess's terms as fusion.py's _text_terms, _rule_terms and
 * _behaviour_terms do: the same (code, message, contribution) tuples, the messages character for
 * character (numbers formatted as format() does: PyOS_double_to_string for 'f', and for '%' the
 * value times 100 in 'f' with '%' after it) and the contributions bit for bit (the same double
 * operations in the same order: Python's int / int of integers below 2**53 is the double
 * division, math.log and math.log2 of positive finite values are libm's log and log2, max and
 * min keep the first of equal arguments). A value of a type the C code does not take as Python
 * would (an int field that is not exactly an int, a float field that is neither a float nor an
 * int a double holds exactly, a flag that is not a bool, a weight that is not a float, a group
 * the wording is not written for) makes the function return None: the Python code then runs. */

#define EXACT_INT 9007199254740992LL /* 2**53 */

enum { BAIL = 0, OK = 1, ERR = -1 };

static PyObject *s_text_model, *s_punctuation, *s_extreme, *s_repetitive;
static PyObject *s_device_shared, *s_velocity_device, *s_ip_shared, *s_velocity_ip;
static PyObject *s_product_burst, *s_duplicate, *s_linked, *s_disposable, *s_dubious;
static PyObject *s_account_new, *s_headless, *s_inconsistent, *s_rating_without_text;
static PyObject *s_established, *s_first_review, *s_thin_history, *s_velocity_account;
static PyObject *s_pace_ordinary, *s_rating_deviation, *s_rating_typical, *s_product_pattern;
static PyObject *g_account_history, *g_velocity_account, *g_rating, *g_product_pattern;

/* The attributes read, by index: the features' and the weights'. Both are slotted dataclasses, so
 * a value is read from its slot (the offset of the type's member descriptor, found once per
 * type) rather than through getattr; any other object goes through getattr. */
#define FEATURE_FIELDS \
    X(F_ACCOUNT_AGE_S, "account_age_s") \
    X(F_ACCOUNT_EXTREME_SHARE_BEFORE, "account_extreme_share_before") \
    X(F_ACCOUNT_REVIEWS_1H, "account_reviews_1h") \
    X(F_ACCOUNT_REVIEWS_24H, "account_reviews_24h") \
    X(F_ACCOUNT_REVIEWS_7D, "account_reviews_7d") \
    X(F_ACCOUNT_REVIEWS_BEFORE, "account_reviews_before") \
    X(F_BURST_EXTREME_SHARE, "burst_extreme_share") \
    X(F_DEVICE_ACCOUNTS_24H, "device_accounts_24h") \
    X(F_DEVICE_ACCOUNTS_30D, "device_accounts_30d") \
    X(F_DEVICE_REVIEWS_1H, "device_reviews_1h") \
    X(F_DEVICE_REVIEWS_24H, "device_reviews_24h") \
    X(F_DUPLICATE_ACCOUNTS_7D, "duplicate_accounts_7d") \
    X(F_IP_ACCOUNTS_1H, "ip_accounts_1h") \
    X(F_IP_ACCOUNTS_24H, "ip_accounts_24h") \
    X(F_IP_REVIEWS_1H, "ip_reviews_1h") \
    X(F_IS_ACCOUNT_AGE_FROM_FIRST_SEEN, "is_account_age_from_first_seen") \
    X(F_IS_DISPOSABLE_EMAIL, "is_disposable_email") \
    X(F_IS_EXTREME_RATING, "is_extreme_rating") \
    X(F_IS_FIRST_REVIEW, "is_first_review") \
    X(F_IS_HEADLESS, "is_headless") \
    X(F_IS_INCONSISTENT_DEVICE, "is_inconsistent_device") \
    X(F_IS_RATING_WITHOUT_TEXT, "is_rating_without_text") \
    X(F_LINKED_ACCOUNT, "linked_account") \
    X(F_LINKED_DEVICE, "linked_device") \
    X(F_LINKED_IP, "linked_ip") \
    X(F_NET_ACCOUNTS_24H, "net_accounts_24h") \
    X(F_NET_REVIEWS_1H, "net_reviews_1h") \
    X(F_PRODUCT_BURST_RATIO, "product_burst_ratio") \
    X(F_PRODUCT_MEAN_RATING_BEFORE, "product_mean_rating_before") \
    X(F_PRODUCT_REVIEWS_1H, "product_reviews_1h") \
    X(F_PRODUCT_REVIEWS_24H, "product_reviews_24h") \
    X(F_PRODUCT_REVIEWS_BEFORE, "product_reviews_before") \
    X(F_PRODUCT_USUAL_PER_24H, "product_usual_per_24h") \
    X(F_RATING_DEVIATION, "rating_deviation") \
    X(F_USERNAME_DUBIOUSNESS, "username_dubiousness") 
#define WEIGHT_FIELDS \
    X(W_ACCOUNT_NEW, "account_new") \
    X(W_DEVICE_SHARED, "device_shared") \
    X(W_DEVICE_VELOCITY, "device_velocity") \
    X(W_DISPOSABLE_EMAIL, "disposable_email") \
    X(W_DUBIOUS_NAME, "dubious_name") \
    X(W_DUPLICATE_TEXT, "duplicate_text") \
    X(W_EXCESSIVE_PUNCTUATION, "excessive_punctuation") \
    X(W_EXTREME_WORDING, "extreme_wording") \
    X(W_HEADLESS, "headless") \
    X(W_INCONSISTENT_DEVICE, "inconsistent_device") \
    X(W_IP_SHARED, "ip_shared") \
    X(W_IP_VELOCITY, "ip_velocity") \
    X(W_LINKED_ACCOUNT, "linked_account") \
    X(W_LINKED_DEVICE, "linked_device") \
    X(W_LINKED_IP, "linked_ip") \
    X(W_NETWORK_SHARED, "network_shared") \
    X(W_PRODUCT_BURST, "product_burst") \
    X(W_RATING_WITHOUT_TEXT, "rating_without_text") \
    X(W_REPETITIVE_TEXT, "repetitive_text") \
    X(W_TEXT_MODEL, "text_model") 
#define X(id, name) id,
enum { FEATURE_FIELDS N_FEATURE_FIELDS };
enum { WEIGHT_FIELDS N_WEIGHT_FIELDS };
#undef X
#define X(id, name) name,
static const char *const feature_field_names[] = {FEATURE_FIELDS};
static const char *const weight_field_names[] = {WEIGHT_FIELDS};
#undef X

#define MAX_FIELDS 64

typedef struct {
    int n;
    const char *const *names;
    PyObject *strings[MAX_FIELDS]; /* interned names */
    PyTypeObject *type;            /* the slotted type whose offsets these are (owned), or NULL */
    Py_ssize_t offsets[MAX_FIELDS];
} layout_t;

static layout_t feature_layout = {N_FEATURE_FIELDS, feature_field_names, {NULL}, NULL, {0}};
static layout_t weight_layout = {N_WEIGHT_FIELDS, weight_field_names, {NULL}, NULL, {0}};

static int layout_init(layout_t *layout) {
    for (int i = 0; i < layout->n; i++) {
        layout->strings[i] = PyUnicode_InternFromString(layout->names[i]);
        if (layout->strings[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

/* Learn type's slot offsets when every field is a plain object slot (T_OBJECT_EX member); else
 * leave the layout as it was. 0, or -1 on an error (set). */
static int layout_learn(layout_t *layout, PyTypeObject *type) {
    Py_ssize_t offsets[MAX_FIELDS];
    for (int i = 0; i < layout->n; i++) {
        PyObject *descr = _PyType_Lookup(type, layout->strings[i]); /* borrowed */
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            return 0;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX) {
            return 0;
        }
        offsets[i] = member->offset;
    }
    Py_INCREF(type);
    Py_XSETREF(layout->type, type);
    memcpy(layout->offsets, offsets, sizeof offsets);
    return 0;
}

/* obj.<field i>: a new reference, or NULL with an error set (AttributeError when unset). */
static PyObject *field(layout_t *layout, PyObject *obj, int i) {
    if (Py_TYPE(obj) != layout->type && layout_learn(layout, Py_TYPE(obj)) < 0) {
        return NULL;
    }
    if (Py_TYPE(obj) == layout->type) {
        PyObject *value = *(PyObject **)((char *)obj + layout->offsets[i]);
        if (value != NULL) {
            return Py_NewRef(value);
        }
    }
    return PyObject_GetAttr(obj, layout->strings[i]);
}

/* an exact int below 2**53 in magnitude */
static int int_of(PyObject *value, long long *out) {
    if (!PyLong_CheckExact(value)) {
        return BAIL;
    }
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return ERR;
    }
    if (overflow || v > EXACT_INT || v < -EXACT_INT) {
        return BAIL;
    }
    *out = v;
    return OK;
}

/* a float, or an exact int below 2**53 (what float(value) gives exactly) */
static int double_of(PyObject *value, double *out) {
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return OK;
    }
    long long v;
    const int rc = int_of(value, &v);
    if (rc == OK) {
        *out = (double)v;
    }
    return rc;
}

static int bool_of(PyObject *value, int *out) {
    if (value == Py_True || value == Py_False) {
        *out = value == Py_True;
        return OK;
    }
    return BAIL;
}

static int attr_int(PyObject *obj, int name, long long *out) {
    PyObject *value = field(&feature_layout, obj, name);
    if (value == NULL) {
        return ERR;
    }
    const int rc = int_of(value, out);
    Py_DECREF(value);
    return rc;
}

static int attr_double(PyObject *obj, int name, double *out) {
    PyObject *value = field(&feature_layout, obj, name);
    if (value == NULL) {
        return ERR;
    }
    const int rc = double_of(value, out);
    Py_DECREF(value);
    return rc;
}

/* float | None: *present 0 for None */
static int attr_optional(PyObject *obj, int name, double *out, int *present) {
    PyObject *value = field(&feature_layout, obj, name);
    if (value == NULL) {
        return ERR;
    }
    int rc = OK;
    *present = value != Py_None;
    if (*present) {
        rc = double_of(value, out);
    }
    Py_DECREF(value);
    return rc;
}

static int attr_bool(PyObject *obj, int name, int *out) {
    PyObject *value = field(&feature_layout, obj, name);
    if (value == NULL) {
        return ERR;
    }
    const int rc = bool_of(value, out);
    Py_DECREF(value);
    return rc;
}

/* a weight: a float and nothing else (an int weight leaves the products to Python) */
static int weight(PyObject *weights, int name, double *out) {
    PyObject *value = field(&weight_layout, weights, name);
    if (value == NULL) {
        return ERR;
    }
    int rc = BAIL;
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        rc = OK;
    }
    Py_DECREF(value);
    return rc;
}

#define NUM 400 /* room for any double in 'f' with up to 2 decimals (309 digits), or '%' */

/* the decimal digits of v >= 0 at out, at least min_digits of them (zeros in front); their
 * count */
static size_t put_digits(char *out, unsigned long long v, size_t min_digits) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < min_digits) {
        tmp[n++] = '0';
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    return n;
}

/* format(x, '.<precision>f') into buf, or format(x, '.0%') when percent; 0 on a failure (set).
 * Python's 'f' is the exact value of the double rounded to precision decimals, ties to even
 * (_Py_dg_dtoa's mode 3), with a '-' for any negative double, -0.0 included; '%' is 'f' of x *
 * 100 (that product's double) with a '%' after it. Done here for finite values below 2**30
 * (2**52 for no decimals), through PyOS_double_to_string, as format() does, for any other. */
static int fmt(char *buf, size_t size, double x, int precision, int percent) {
    const double v = percent ? x * 100.0 : x;
    const double a = fabs(v);
    if (size >= 40 && precision >= 0 && precision <= 3 &&
        a < (precision == 0 ? 4503599627370496.0 : 1073741824.0)) {
        static const unsigned long long scales[] = {1, 10, 100, 1000};
        const unsigned long long scale = scales[precision];
        const double d = precision == 0 ? nearbyint(a) : nearest_scaled(a, (double)scale);
        const unsigned long long digits = (unsigned long long)d;
        size_t n = 0;
        if (signbit(v)) {
            buf[n++] = '-';
        }
        n += put_digits(buf + n, digits / scale, 1);
        if (precision > 0) {
            buf[n++] = '.';
            n += put_digits(buf + n, digits % scale, (size_t)precision);
        }
        if (percent) {
            buf[n++] = '%';
        }
        buf[n] = '\0';
        return 1;
    }
    char *s = PyOS_double_to_string(v, 'f', precision, 0, NULL);
    if (s == NULL) {
        return 0;
    }
    const size_t n = strlen(s);
    if (n + 2 > size) {
        PyMem_Free(s);
        PyErr_SetString(PyExc_OverflowError, "fusionkit: number too long to format");
        return 0;
    }
    memcpy(buf, s, n);
    if (percent) {
        buf[n] = '%';
        buf[n + 1] = '\0';
    } else {
        buf[n] = '\0';
    }
    PyMem_Free(s);
    return 1;
}

/* An ASCII str from format, which holds only literal ASCII, %lld (long long) and %s (an ASCII
 * C string): the messages' own PyUnicode_FromFormat, at a fraction of its cost. NULL on a
 * failure (set). */
static PyObject *ascii_message(const char *format, ...) {
    char out[2048];
    size_t n = 0;
    va_list args;
    va_start(args, format);
    for (const char *c = format; *c != '\0'; c++) {
        if (n + 24 >= sizeof out) {
            goto too_long;
        }
        if (*c != '%') {
            out[n++] = *c;
        } else if (c[1] == 's') {
            const char *text = va_arg(args, const char *);
            const size_t k = strlen(text);
            if (n + k >= sizeof out) {
                goto too_long;
            }
            memcpy(out + n, text, k);
            n += k;
            c += 1;
        } else if (c[1] == 'l' && c[2] == 'l' && c[3] == 'd') {
            const long long v = va_arg(args, long long);
            if (v < 0) {
                out[n++] = '-';
            }
            n += put_digits(out + n, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v,
                            1);
            c += 3;
        } else {
            va_end(args);
            PyErr_SetString(PyExc_SystemError, "ascii_message: unknown conversion");
            return NULL;
        }
    }
    va_end(args);
    PyObject *message = PyUnicode_New((Py_ssize_t)n, 127);
    if (message != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(message), out, n);
    }
    return message;
too_long:
    va_end(args);
    PyErr_SetString(PyExc_OverflowError, "ascii_message: message too long");
    return NULL;
}

/* fixed(x, precision, percent) -> str: format(x, f'.{precision}f'), or format(x, '.0%') when
 * percent (precision 0): what the messages print, for the tests. */
static PyObject *fixed(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 || !PyFloat_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "fixed(x: float, precision: int, percent: bool)");
        return NULL;
    }
    const long precision = PyLong_AsLong(args[1]);
    if (precision == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const int percent = PyObject_IsTrue(args[2]);
    if (percent < 0) {
        return NULL;
    }
    if (precision < 0 || precision > 3 || (percent && precision != 0)) {
        PyErr_SetString(PyExc_ValueError, "fixed: precision 0 to 3, 0 with percent");
        return NULL;
    }
    char buf[NUM];
    if (!fmt(buf, sizeof buf, PyFloat_AS_DOUBLE(args[0]), (int)precision, percent)) {
        return NULL;
    }
    return PyUnicode_FromString(buf);
}

/* terms.append((code, message, contribution)); message is stolen. -1 on a failure. */
static int add(PyObject *terms, PyObject *code, PyObject *message, double contribution) {
    if (message == NULL) {
        return -1;
    }
    PyObject *value = PyFloat_FromDouble(contribution);
    if (value == NULL) {
        Py_DECREF(message);
        return -1;
    }
    PyObject *term = PyTuple_New(3);
    if (term == NULL) {
        Py_DECREF(message);
        Py_DECREF(value);
        return -1;
    }
    PyTuple_SET_ITEM(term, 0, Py_NewRef(code));
    PyTuple_SET_ITEM(term, 1, message);
    PyTuple_SET_ITEM(term, 2, value);
    const int rc = PyList_Append(terms, term);
    Py_DECREF(term);
    return rc;
}

/* fusion._doublings of integers below 2**53 */
static double doublings(long long count, long long free) {
    return count > free ? log2((double)count / (double)free) : 0.0;
}

/* Python's min(2.0, x) and max(a, b): the first unless a later one is strictly past it */
static double min_2(double x) { return x < 2.0 ? x : 2.0; }
static double max_2(double a, double b) { return b > a ? b : a; }

#define CHECK(call)                                                                           \
    do {                                                                                      \
        const int rc_ = (call);                                                               \
        if (rc_ == BAIL) {                                                                    \
            goto bail;                                                                        \
        }                                                                                     \
        if (rc_ == ERR) {                                                                     \
            goto fail;                                                                        \
        }                                                                                     \
    } while (0)

/* text_terms(counts, text_probability, logit_prior, weights) -> list | None: _text_terms of a
 * non-empty text, from describe_counts(text) and, when text_probability is not None,
 * logit_prior = _logit_of_constant(text_prior). */
static PyObject *text_terms(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "text_terms(counts, text_probability, logit_prior, weights)");
        return NULL;
    }
    PyObject *counts = args[0], *probability = args[1], *w = args[3];
    if (!PyTuple_Check(counts) || PyTuple_GET_SIZE(counts) != 9) {
        PyErr_SetString(PyExc_TypeError, "text_terms: counts is describe_counts' 9-tuple");
        return NULL;
    }
    PyObject *terms = PyList_New(0);
    if (terms == NULL) {
        return NULL;
    }
    char a[NUM], b[NUM];
    double x;
    if (probability != Py_None) {
        if (!PyFloat_CheckExact(probability)) {
            goto bail;
        }
        const double logit_prior = PyFloat_AsDouble(args[2]);
        if (logit_prior == -1.0 && PyErr_Occurred()) {
            goto fail;
        }
        CHECK(weight(w, W_TEXT_MODEL, &x));
        const double tp = PyFloat_AS_DOUBLE(probability);
        const double lo = 1e-6 > tp ? 1e-6 : tp;
        const double p = (1 - 1e-6) < lo ? (1 - 1e-6) : lo;
        const double llr = x * (log(p / (1 - p)) - logit_prior);
        if (!fmt(a, sizeof a, tp, 2, 0)) {
            goto fail;
        }
        PyObject *message =
            llr >= 0 ? ascii_message("text resembles known fake reviews (%s)", a)
                     : ascii_message(
                           "text resembles genuine reviews (fake-text score %s)", a);
        if (add(terms, s_text_model, message, llr) < 0) {
            goto fail;
        }
    }
    long long n_words, runs, exclamations, emoticons, repeats;
    double extreme_share, distinct_share;
    CHECK(int_of(PyTuple_GET_ITEM(counts, 0), &n_words));
    CHECK(int_of(PyTuple_GET_ITEM(counts, 1), &runs));
    CHECK(int_of(PyTuple_GET_ITEM(counts, 2), &exclamations));
    CHECK(int_of(PyTuple_GET_ITEM(counts, 3), &emoticons));
    CHECK(double_of(PyTuple_GET_ITEM(counts, 5), &extreme_share));
    PyObject *top_word = PyTuple_GET_ITEM(counts, 6);
    CHECK(int_of(PyTuple_GET_ITEM(counts, 7), &repeats));
    CHECK(double_of(PyTuple_GET_ITEM(counts, 8), &distinct_share));
    const long long loud = runs + emoticons;
    if (loud >= 2 || (exclamations >= 4 && n_words < 80)) {
        CHECK(weight(w, W_EXCESSIVE_PUNCTUATION, &x));
        const double louder = (double)(loud > 1 ? loud : 1);
        const double c = x * min_2(1.0 + log2(louder / 2.0 + 1) / 2);
        PyObject *message = ascii_message(
            "%lld exclamation marks, %lld runs like '!!!' and %lld emoticons", exclamations, runs,
            emoticons);
        if (add(terms, s_punctuation, message, c) < 0) {
            goto fail;
        }
    }
    if (n_words >= 5 && extreme_share >= 0.12) {
        CHECK(weight(w, W_EXTREME_WORDING, &x));
        if (!fmt(a, sizeof a, extreme_share, 0, 1)) {
            goto fail;
        }
        PyObject *message =
            ascii_message("%s of the words are superlatives or absolutes", a);
        if (add(terms, s_extreme, message, x * min_2(extreme_share / 0.12)) < 0) {
            goto fail;
        }
    }
    if (repeats >= 4 && distinct_share < 0.6) {
        if (!PyUnicode_CheckExact(top_word)) {
            goto bail;
        }
        CHECK(weight(w, W_REPETITIVE_TEXT, &x));
        if (!fmt(b, sizeof b, distinct_share, 0, 1)) {
            goto fail;
        }
        PyObject *message = PyUnicode_FromFormat("'%U' repeated %lld times (%s distinct words)",
                                                 top_word, repeats, b);
        if (add(terms, s_repetitive, message, x * min_2((double)repeats / 4.0)) < 0) {
            goto fail;
        }
    }
    return terms;
bail:
    Py_DECREF(terms);
    Py_RETURN_NONE;
fail:
    Py_DECREF(terms);
    return NULL;
}

/* rule_terms(features, weights) -> list | None: _rule_terms. */
static PyObject *rule_terms(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "rule_terms(features, weights)");
        return NULL;
    }
    PyObject *f = args[0], *w = args[1];
    PyObject *terms = PyList_New(0);
    if (terms == NULL) {
        return NULL;
    }
    char a[NUM], b[NUM];
    double x;
    long long dev24, dev30, dev_r1, dev_r24, ip_a24, ip_a1, net_a24, ip_r1, net_r1;
    CHECK(attr_int(f, F_DEVICE_ACCOUNTS_24H, &dev24));
    CHECK(attr_int(f, F_DEVICE_ACCOUNTS_30D, &dev30));
    CHECK(attr_int(f, F_DEVICE_REVIEWS_1H, &dev_r1));
    CHECK(attr_int(f, F_DEVICE_REVIEWS_24H, &dev_r24));
    CHECK(attr_int(f, F_IP_ACCOUNTS_24H, &ip_a24));
    CHECK(attr_int(f, F_IP_ACCOUNTS_1H, &ip_a1));
    CHECK(attr_int(f, F_NET_ACCOUNTS_24H, &net_a24));
    CHECK(attr_int(f, F_IP_REVIEWS_1H, &ip_r1));
    CHECK(attr_int(f, F_NET_REVIEWS_1H, &net_r1));
    if (dev24 >= 2) {
        CHECK(weight(w, W_DEVICE_SHARED, &x));
        PyObject *message = ascii_message(
            "device used by %lld accounts in the last 24 h (%lld in 30 days)", dev24, dev30);
        if (add(terms, s_device_shared, message, x * log2((double)dev24)) < 0) {
            goto fail;
        }
    } else if (dev30 >= 3) {
        CHECK(weight(w, W_DEVICE_SHARED, &x));
        PyObject *message =
            ascii_message("device used by %lld accounts in the last 30 days", dev30);
        if (add(terms, s_device_shared, message, x * 0.5 * log2((double)(dev30 - 1))) < 0) {
            goto fail;
        }
    }
    if (dev_r1 >= 4 || dev_r24 >= 10) {
        CHECK(weight(w, W_DEVICE_VELOCITY, &x));
        PyObject *message = ascii_message(
            "%lld reviews from this device in the last hour, %lld in 24 h", dev_r1, dev_r24);
        const double c = x * max_2(doublings(dev_r1, 2), doublings(dev_r24, 5));
        if (add(terms, s_velocity_device, message, c) < 0) {
            goto fail;
        }
    }
    if (ip_a24 >= 3) {
        CHECK(weight(w, W_IP_SHARED, &x));
        PyObject *message = ascii_message(
            "IP address used by %lld accounts in the last 24 h (%lld in the last hour)", ip_a24,
            ip_a1);
        if (add(terms, s_ip_shared, message, x * doublings(ip_a24, 1)) < 0) {
            goto fail;
        }
    } else if (net_a24 >= 5) {
        CHECK(weight(w, W_NETWORK_SHARED, &x));
        PyObject *message =
            ascii_message("IP network used by %lld accounts in the last 24 h", net_a24);
        if (add(terms, s_ip_shared, message, x * doublings(net_a24, 2)) < 0) {
            goto fail;
        }
    }
    if (ip_r1 >= 6 || net_r1 >= 12) {
        CHECK(weight(w, W_IP_VELOCITY, &x));
        PyObject *message = ascii_message(
            "%lld reviews from this IP address in the last hour (%lld from its network)", ip_r1,
            net_r1);
        const double c = x * max_2(doublings(ip_r1, 3), doublings(net_r1, 6));
        if (add(terms, s_velocity_ip, message, c) < 0) {
            goto fail;
        }
    }
    long long prod_r1, prod_r24;
    double burst_ratio, extreme_share, usual;
    CHECK(attr_int(f, F_PRODUCT_REVIEWS_1H, &prod_r1));
    CHECK(attr_double(f, F_PRODUCT_BURST_RATIO, &burst_ratio));
    CHECK(attr_double(f, F_BURST_EXTREME_SHARE, &extreme_share));
    if (prod_r1 >= 4 && burst_ratio >= 2 && extreme_share >= 0.75) {
        CHECK(attr_int(f, F_PRODUCT_REVIEWS_24H, &prod_r24));
        CHECK(attr_double(f, F_PRODUCT_USUAL_PER_24H, &usual));
        CHECK(weight(w, W_PRODUCT_BURST, &x));
        /* round(ratio): ties to even, as rint does in the default rounding mode; beyond 2**53
         * (or infinite, where round raises) Python does it */
        if (!(burst_ratio < 9007199254740992.0)) {
            goto bail;
        }
        const long long rounded = (long long)rint(burst_ratio);
        if (!fmt(a, sizeof a, usual, 1, 0) || !fmt(b, sizeof b, extreme_share, 0, 1)) {
            goto fail;
        }
        PyObject *message = ascii_message(
            "product received %lld reviews in the last hour and %lld in 24 h against a usual "
            "%s a day (%s of them 1 or 5 stars)",
            prod_r1, prod_r24, a, b);
        if (add(terms, s_product_burst, message, x * (doublings(rounded, 1) + extreme_share)) <
            0) {
            goto fail;
        }
    }
    long long duplicates;
    CHECK(attr_int(f, F_DUPLICATE_ACCOUNTS_7D, &duplicates));
    if (duplicates >= 1) {
        CHECK(weight(w, W_DUPLICATE_TEXT, &x));
        PyObject *message = ascii_message(
            "near-identical text posted by %lld other account%s in the last 7 days", duplicates,
            duplicates > 1 ? "s" : "");
        if (add(terms, s_duplicate, message, x * (1 + log2((double)duplicates))) < 0) {
            goto fail;
        }
    }
    int linked_account, linked_device, linked_ip;
    CHECK(attr_bool(f, F_LINKED_ACCOUNT, &linked_account));
    CHECK(attr_bool(f, F_LINKED_DEVICE, &linked_device));
    CHECK(attr_bool(f, F_LINKED_IP, &linked_ip));
    if (linked_account || linked_device || linked_ip) {
        double wa, wd, wi;
        CHECK(weight(w, W_LINKED_ACCOUNT, &wa));
        CHECK(weight(w, W_LINKED_DEVICE, &wd));
        CHECK(weight(w, W_LINKED_IP, &wi));
        char names[64];
        names[0] = '\0';
        int n = 0;
        const char *const labels[3] = {"account", "device", "IP network"};
        const int linked[3] = {linked_account, linked_device, linked_ip};
        for (int i = 0; i < 3; i++) {
            if (linked[i]) {
                if (n++) {
                    strcat(names, ", ");
                }
                strcat(names, labels[i]);
            }
        }
        /* float * bool is float * 1.0 or float * 0.0 */
        const double c =
            max_2(max_2(wa * (double)linked_account, wd * (double)linked_device),
                  wi * (double)linked_ip) +
            0.5 * (double)(n - 1);
        PyObject *message =
            ascii_message("%s tied to reviews moderators confirmed fake", names);
        if (add(terms, s_linked, message, c) < 0) {
            goto fail;
        }
    }
    int flag;
    CHECK(attr_bool(f, F_IS_DISPOSABLE_EMAIL, &flag));
    if (flag) {
        CHECK(weight(w, W_DISPOSABLE_EMAIL, &x));
        if (add(terms, s_disposable,
                PyUnicode_FromString("e-mail domain is a disposable-mail service"), x) < 0) {
            goto fail;
        }
    }
    double dubious;
    CHECK(attr_double(f, F_USERNAME_DUBIOUSNESS, &dubious));
    if (dubious >= 0.5) {
        CHECK(weight(w, W_DUBIOUS_NAME, &x));
        if (!fmt(a, sizeof a, dubious, 2, 0)) {
            goto fail;
        }
        PyObject *message = ascii_message(
            "username looks machine-generated (dubiousness %s)", a);
        if (add(terms, s_dubious, message, x * dubious) < 0) {
            goto fail;
        }
    }
    double age;
    int has_age, from_first_seen;
    CHECK(attr_optional(f, F_ACCOUNT_AGE_S, &age, &has_age));
    CHECK(attr_bool(f, F_IS_ACCOUNT_AGE_FROM_FIRST_SEEN, &from_first_seen));
    if (has_age && !from_first_seen && age < 7 * 86400.0) {
        CHECK(weight(w, W_ACCOUNT_NEW, &x));
        const double strength = age < 3600.0 ? 1.0 : age < 86400.0 ? 0.6 : 0.3;
        /* _duration */
        if (age < 3600.0) {
            const double minutes = age / 60.0;
            if (!isfinite(minutes)) {
                goto bail; /* round() raises */
            }
            const double r = rint(minutes); /* round(): ties to even */
            snprintf(a, sizeof a, "%lld minutes", r > 1.0 ? (long long)r : 1LL);
        } else if (age < 2 * 86400.0) {
            if (!fmt(b, sizeof b, age / 3600.0, 1, 0)) {
                goto fail;
            }
            snprintf(a, sizeof a, "%s hours", b);
        } else {
            if (!fmt(b, sizeof b, age / 86400.0, 0, 0)) {
                goto fail;
            }
            snprintf(a, sizeof a, "%s days", b);
        }
        PyObject *message =
            ascii_message("account created %s before this review", a);
        if (add(terms, s_account_new, message, x * strength) < 0) {
            goto fail;
        }
    }
    CHECK(attr_bool(f, F_IS_HEADLESS, &flag));
    if (flag) {
        CHECK(weight(w, W_HEADLESS, &x));
        if (add(terms, s_headless,
                PyUnicode_FromString("browser identifies itself as headless or automated"),
                x) < 0) {
            goto fail;
        }
    }
    CHECK(attr_bool(f, F_IS_INCONSISTENT_DEVICE, &flag));
    if (flag) {
        CHECK(weight(w, W_INCONSISTENT_DEVICE, &x));
        if (add(terms, s_inconsistent,
                PyUnicode_FromString(
                    "device's language, timezone or platform contradict each other"),
                x) < 0) {
            goto fail;
        }
    }
    CHECK(attr_bool(f, F_IS_RATING_WITHOUT_TEXT, &flag));
    if (flag) {
        int extreme;
        CHECK(attr_bool(f, F_IS_EXTREME_RATING, &extreme));
        CHECK(weight(w, W_RATING_WITHOUT_TEXT, &x));
        PyObject *message = ascii_message("%s rating with no comment at all",
                                                 extreme ? "extreme" : "star");
        if (add(terms, s_rating_without_text, message, x) < 0) {
            goto fail;
        }
    }
    return terms;
bail:
    Py_DECREF(terms);
    Py_RETURN_NONE;
fail:
    Py_DECREF(terms);
    return NULL;
}

static const char *plural(long long n) { return n == 1 ? "" : "s"; }

/* behaviour_terms(features, groups, values) -> list | None: _behaviour_terms, with values =
 * model.group_values(features) and groups = model.groups; None for a group other than the four
 * the shipped model has (their wording is _describe_group's). */
static PyObject *behaviour_terms(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "behaviour_terms(features, groups, values)");
        return NULL;
    }
    PyObject *f = args[0], *groups = args[1], *values = args[2];
    if (!PyTuple_Check(groups) || !PyTuple_Check(values) ||
        PyTuple_GET_SIZE(groups) != PyTuple_GET_SIZE(values)) {
        PyErr_SetString(PyExc_ValueError, "behaviour_terms: groups and values, tuples alike");
        return NULL;
    }
    PyObject *terms = PyList_New(0);
    if (terms == NULL) {
        return NULL;
    }
    char a[NUM], b[NUM];
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(groups); i++) {
        PyObject *group = PyTuple_GET_ITEM(groups, i), *value = PyTuple_GET_ITEM(values, i);
        if (!PyUnicode_CheckExact(group) || !PyFloat_CheckExact(value)) {
            goto bail;
        }
        const double term = PyFloat_AS_DOUBLE(value);
        PyObject *code, *message;
        if (PyUnicode_Compare(group, g_account_history) == 0) {
            long long n;
            int first;
            CHECK(attr_int(f, F_ACCOUNT_REVIEWS_BEFORE, &n));
            if (term < 0) {
                code = s_established;
                message = ascii_message("account has %lld earlier review%s", n, plural(n));
            } else {
                CHECK(attr_bool(f, F_IS_FIRST_REVIEW, &first));
                if (first) {
                    code = s_first_review;
                    message = PyUnicode_FromString("first review by this account");
                } else {
                    double share;
                    int has_share;
                    CHECK(attr_optional(f, F_ACCOUNT_EXTREME_SHARE_BEFORE, &share, &has_share));
                    b[0] = '\0';
                    if (has_share) {
                        if (!fmt(a, sizeof a, share, 0, 1)) {
                            goto fail;
                        }
                        snprintf(b, sizeof b, " (%s of them 1 or 5 stars)", a);
                    }
                    code = s_thin_history;
                    message = ascii_message("account has only %lld earlier review%s%s", n,
                                                   plural(n), b);
                }
            }
        } else if (PyUnicode_Compare(group, g_velocity_account) == 0) {
            long long n, n1, n7;
            CHECK(attr_int(f, F_ACCOUNT_REVIEWS_24H, &n));
            CHECK(attr_int(f, F_ACCOUNT_REVIEWS_1H, &n1));
            CHECK(attr_int(f, F_ACCOUNT_REVIEWS_7D, &n7));
            code = term >= 0 ? s_velocity_account : s_pace_ordinary;
            message = ascii_message(
                "account posted %lld review%s in the last 24 h (%lld in the last hour, %lld in 7 "
                "days)",
                n, plural(n), n1, n7);
        } else if (PyUnicode_Compare(group, g_rating) == 0) {
            double mean, deviation;
            int has_mean, extreme;
            CHECK(attr_optional(f, F_PRODUCT_MEAN_RATING_BEFORE, &mean, &has_mean));
            CHECK(attr_bool(f, F_IS_EXTREME_RATING, &extreme));
            const char *rating = extreme ? "a 1- or 5-star rating, " : "a 2- to 4-star rating, ";
            code = term >= 0 ? s_rating_deviation : s_rating_typical;
            if (!has_mean) {
                message = ascii_message("%son a product with no earlier ratings", rating);
            } else {
                CHECK(attr_double(f, F_RATING_DEVIATION, &deviation));
                if (!fmt(a, sizeof a, deviation, 1, 0) || !fmt(b, sizeof b, mean, 1, 0)) {
                    goto fail;
                }
                message = ascii_message("%s%s stars from the product's mean of %s",
                                               rating, a, b);
            }
        } else if (PyUnicode_Compare(group, g_product_pattern) == 0) {
            long long n, n24;
            double usual, share;
            CHECK(attr_int(f, F_PRODUCT_REVIEWS_BEFORE, &n));
            CHECK(attr_int(f, F_PRODUCT_REVIEWS_24H, &n24));
            CHECK(attr_double(f, F_PRODUCT_USUAL_PER_24H, &usual));
            CHECK(attr_double(f, F_BURST_EXTREME_SHARE, &share));
            if (!fmt(a, sizeof a, usual, 1, 0) || !fmt(b, sizeof b, share, 0, 1)) {
                goto fail;
            }
            code = s_product_pattern;
            message = ascii_message(
                "product has %lld earlier review%s, %lld in the last 24 h against a usual %s a "
                "day (%s of them 1 or 5 stars)",
                n, plural(n), n24, a, b);
        } else {
            goto bail;
        }
        if (add(terms, code, message, term) < 0) {
            goto fail;
        }
    }
    return terms;
bail:
    Py_DECREF(terms);
    Py_RETURN_NONE;
fail:
    Py_DECREF(terms);
    return NULL;
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
    {"fixed", (PyCFunction)(void (*)(void))fixed, METH_FASTCALL,
     "fixed(x, precision, percent) -> str: format(x, '.<precision>f'), or '.0%' (tests)."},
    {"text_terms", (PyCFunction)(void (*)(void))text_terms, METH_FASTCALL,
     "text_terms(counts, text_probability, logit_prior, weights) -> list | None: "
     "fusion._text_terms of a non-empty text."},
    {"rule_terms", (PyCFunction)(void (*)(void))rule_terms, METH_FASTCALL,
     "rule_terms(features, weights) -> list | None: fusion._rule_terms."},
    {"behaviour_terms", (PyCFunction)(void (*)(void))behaviour_terms, METH_FASTCALL,
     "behaviour_terms(features, groups, values) -> list | None: fusion._behaviour_terms."},
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
    struct {
        PyObject **slot;
        const char *text;
    } const strings[] = {
        {&s_text_model, "TEXT_MODEL"},
        {&s_punctuation, "TEXT_EXCESSIVE_PUNCTUATION"},
        {&s_extreme, "TEXT_EXTREME"},
        {&s_repetitive, "TEXT_REPETITIVE"},
        {&s_device_shared, "DEVICE_SHARED"},
        {&s_velocity_device, "VELOCITY_DEVICE"},
        {&s_ip_shared, "IP_SHARED"},
        {&s_velocity_ip, "VELOCITY_IP"},
        {&s_product_burst, "PRODUCT_BURST"},
        {&s_duplicate, "DUPLICATE_TEXT"},
        {&s_linked, "LINKED_TO_CONFIRMED_FRAUD"},
        {&s_disposable, "ACCOUNT_DISPOSABLE_EMAIL"},
        {&s_dubious, "ACCOUNT_DUBIOUS_NAME"},
        {&s_account_new, "ACCOUNT_NEW"},
        {&s_headless, "DEVICE_HEADLESS"},
        {&s_inconsistent, "DEVICE_INCONSISTENT"},
        {&s_rating_without_text, "RATING_WITHOUT_TEXT"},
        {&s_established, "ACCOUNT_ESTABLISHED"},
        {&s_first_review, "ACCOUNT_FIRST_REVIEW"},
        {&s_thin_history, "ACCOUNT_THIN_HISTORY"},
        {&s_velocity_account, "VELOCITY_ACCOUNT"},
        {&s_pace_ordinary, "ACCOUNT_PACE_ORDINARY"},
        {&s_rating_deviation, "RATING_DEVIATION"},
        {&s_rating_typical, "RATING_TYPICAL"},
        {&s_product_pattern, "PRODUCT_PATTERN"},
        {&g_account_history, "ACCOUNT_HISTORY"},
        {&g_velocity_account, "VELOCITY_ACCOUNT"},
        {&g_rating, "RATING"},
        {&g_product_pattern, "PRODUCT_PATTERN"},
    };
    if (layout_init(&feature_layout) < 0 || layout_init(&weight_layout) < 0) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        *strings[i].slot = PyUnicode_InternFromString(strings[i].text);
        if (*strings[i].slot == NULL) {
            return NULL;
        }
    }
    return PyModule_Create(&module);
}
