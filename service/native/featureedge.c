/* The Redis edge of a review's features, in C: its batch command's bytes (command, see below),
 * the bytes of the commands written after answering (pack),
 * and from the replies of its batch script to its Features (features): decode_replies and
 * derive_features (service/features/calls.py, service/scoring/features.py) in one pass, with no
 * AccountState / ProductState / CrowdState / RawState in between and the frozen Features
 * filled slot by slot instead of through its __init__ (47 object.__setattr__ calls).
 *
 * configure(features_type, field_names, bands, max_distance, entity_len, review_len): the
 * Features class (a slots dataclass without __post_init__) and its field names in order, which
 * must be the ones this file fills (checked: a renamed or reordered field turns configure into
 * an error, and the Python code then runs alone); the number of SimHash bands and the
 * near-duplicate distance; the lengths of the entity and review hashes (ENTITY_HASH_HEX,
 * REVIEW_HASH_HEX), the only ones command() writes.
 *
 * features(review, identity, replies, retention_s, wrapped) -> (Features, answer) | None:
 *   replies: the script replies in plan order (account, product, each crowd of the identity:
 *   device, IP, network, each band when identity.simhash is not None, the review record), each
 *   wrapped in a one-element list (an empty list for nil) when ``wrapped`` is true, as the batch
 *   script sends them. None whenever the inputs are not the usual ones, the Python code then
 *   answers (and raises where it raises):
 *   - review.submitted_at a float, review.account.created_at None or a float, review.rating an
 *     int; identity.simhash None or an int in [0, 2**64);
 *   - account and product replies lists of exactly 10 ints, crowd replies lists of exactly 6
 *     ints, every int used in arithmetic below 2**48 in magnitude (so every sum, difference and
 *     conversion to double below is exact and each division is the correctly rounded one of
 *     Python's int / int, int / float and float / float);
 *   - band replies lists of 32-byte bytes members: 16 ASCII bytes (the account hash), then 16
 *     hex digits (its text's SimHash);
 *   - the answer None or bytes.
 * pack(args) -> bytes | None: any command in RESP, as service.features.mux.pack_python.
 *
 * Held to the Python code by tests/unit/test_native_featureedge.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>

#define N_FIELDS 47
#define LIMIT (((long long)1) << 48)
#define DAY_MS 86400000LL
#define MAX_BANDS 64

static const char *FIELD_NAMES[N_FIELDS] = {
    "account_age_s", "is_account_age_from_first_seen", "account_reviews_before",
    "account_reviews_1h", "account_reviews_24h", "account_reviews_7d", "is_first_review",
    "account_product_reviews_before", "account_mean_rating_before",
    "account_extreme_share_before", "account_rating_deviation_before", "is_disposable_email",
    "username_dubiousness", "has_device", "has_fingerprint", "device_accounts_24h",
    "device_accounts_30d", "device_reviews_1h", "device_reviews_24h", "is_headless",
    "is_inconsistent_device", "has_ip", "ip_accounts_1h", "ip_accounts_24h", "ip_reviews_1h",
    "ip_reviews_24h", "net_accounts_1h", "net_accounts_24h", "net_reviews_1h",
    "net_reviews_24h", "product_reviews_before", "product_reviews_1h", "product_reviews_24h",
    "product_usual_per_24h", "product_burst_ratio", "burst_extreme_share",
    "product_mean_rating_before", "rating_deviation", "is_extreme_rating", "has_text",
    "is_rating_without_text", "duplicate_accounts_7d", "linked_device", "linked_ip",
    "linked_account", "rating_deviation_signed", "account_history_days",
};

static PyTypeObject *features_type = NULL;
static Py_ssize_t offsets[N_FIELDS];
static Py_ssize_t n_bands = 0;
static int max_distance = 0;
static Py_ssize_t entity_len = 16, review_len = 12;

/* interned attribute names */
static PyObject *s_submitted_at, *s_rating, *s_account, *s_created_at, *s_text;
static PyObject *s_review_h, *s_product_h;
static PyObject *s_account_h, *s_device_h, *s_ip_h, *s_net_h, *s_simhash, *s_has_fingerprint;
static PyObject *s_is_headless, *s_is_inconsistent_device, *s_is_disposable_email;
static PyObject *s_username_dubiousness;
static PyObject *zero_int, *empty_str;

static PyObject *configure(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *type, *names;
    Py_ssize_t bands, entity, review;
    int distance;
    if (!PyArg_ParseTuple(args, "O!Oninn", &PyType_Type, &type, &names, &bands, &distance,
                          &entity, &review)) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(names, "field_names must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    if (PySequence_Fast_GET_SIZE(seq) != N_FIELDS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "Features does not have the fields this module fills");
        return NULL;
    }
    Py_ssize_t found[N_FIELDS];
    for (Py_ssize_t i = 0; i < N_FIELDS; i++) {
        PyObject *name = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, FIELD_NAMES[i])) {
            Py_DECREF(seq);
            PyErr_Format(PyExc_ValueError, "Features field %zd is not %s", i, FIELD_NAMES[i]);
            return NULL;
        }
        PyObject *descr = PyObject_GetAttr(type, name);
        if (descr == NULL) {
            Py_DECREF(seq);
            return NULL;
        }
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type);
        if (ok) {
            PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
            ok = member->type == T_OBJECT_EX && !(member->flags & READONLY);
            found[i] = member->offset;
        }
        Py_DECREF(descr);
        if (!ok) {
            Py_DECREF(seq);
            PyErr_Format(PyExc_ValueError, "Features.%s is not a slot", FIELD_NAMES[i]);
            return NULL;
        }
    }
    Py_DECREF(seq);
    if (bands < 0 || bands > MAX_BANDS || distance < 0 || entity < 1 || entity > 64
        || review < 1 || review > 64) {
        PyErr_SetString(PyExc_ValueError, "bands, distance or hash lengths out of range");
        return NULL;
    }
    memcpy(offsets, found, sizeof offsets);
    Py_INCREF(type);
    Py_XSETREF(features_type, (PyTypeObject *)type);
    n_bands = bands;
    max_distance = distance;
    entity_len = entity;
    review_len = review;
    Py_RETURN_NONE;
}

/* An exact int below LIMIT in magnitude, into *out; 0 for anything else (no error set). */
static int small_int(PyObject *o, long long *out) {
    if (!PyLong_CheckExact(o)) {
        return 0;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (v >= LIMIT || v <= -LIMIT) {
        return 0;
    }
    *out = v;
    return 1;
}

/* replies[i], unwrapped when wrapped; NULL (no error set) when it cannot be. Borrowed. */
static PyObject *reply_at(PyObject *replies, Py_ssize_t i, int wrapped) {
    PyObject *reply = PyList_GET_ITEM(replies, i);
    if (!wrapped) {
        return reply;
    }
    if (reply == Py_None) {
        return Py_None;
    }
    if (!PyList_CheckExact(reply)) {
        return NULL;
    }
    return PyList_GET_SIZE(reply) ? PyList_GET_ITEM(reply, 0) : Py_None;
}

/* A reply that is a list of exactly n ints (exact ints: objects kept, borrowed). */
static int int_list(PyObject *reply, Py_ssize_t n, PyObject **items) {
    if (reply == NULL || !PyList_CheckExact(reply) || PyList_GET_SIZE(reply) != n) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        items[i] = PyList_GET_ITEM(reply, i);
        if (!PyLong_CheckExact(items[i])) {
            return 0;
        }
    }
    return 1;
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Distinct other accounts among the band members that are near-duplicates of own; -1 when a
 * member is not the usual 32 bytes (no error set), -2 on an error. */
static Py_ssize_t duplicate_accounts(PyObject *replies, Py_ssize_t start, int wrapped,
                                     uint64_t own, const char *own_account,
                                     Py_ssize_t own_len) {
    /* the accounts found, as pointers into the members (alive while replies is) */
    const char *stack_found[64];
    const char **found = stack_found;
    Py_ssize_t capacity = 64, count = 0;
    Py_ssize_t result = 0;
    for (Py_ssize_t b = 0; b < n_bands; b++) {
        PyObject *reply = reply_at(replies, start + b, wrapped);
        if (reply == NULL || !PyList_CheckExact(reply)) {
            result = -1;
            goto done;
        }
        Py_ssize_t size = PyList_GET_SIZE(reply);
        for (Py_ssize_t m = 0; m < size; m++) {
            PyObject *member = PyList_GET_ITEM(reply, m);
            if (!PyBytes_CheckExact(member) || PyBytes_GET_SIZE(member) != 32) {
                result = -1;
                goto done;
            }
            const unsigned char *text = (const unsigned char *)PyBytes_AS_STRING(member);
            uint64_t simhash = 0;
            for (int k = 0; k < 16; k++) {
                if (text[k] >= 0x80) {
                    result = -1;
                    goto done;
                }
                int digit = hex_value(text[16 + k]);
                if (digit < 0) {
                    result = -1;
                    goto done;
                }
                simhash = (simhash << 4) | (uint64_t)digit;
            }
            if (own_len == 16 && memcmp(text, own_account, 16) == 0) {
                continue; /* the review's own account */
            }
            if (__builtin_popcountll(own ^ simhash) > max_distance) {
                continue;
            }
            int seen = 0;
            for (Py_ssize_t j = 0; j < count && !seen; j++) {
                seen = memcmp(found[j], text, 16) == 0;
            }
            if (seen) {
                continue;
            }
            if (count == capacity) {
                const char **grown = PyMem_Malloc(sizeof(char *) * (size_t)capacity * 2);
                if (grown == NULL) {
                    PyErr_NoMemory();
                    result = -2;
                    goto done;
                }
                memcpy(grown, found, sizeof(char *) * (size_t)count);
                if (found != stack_found) {
                    PyMem_Free(found);
                }
                found = grown;
                capacity *= 2;
            }
            found[count++] = (const char *)text;
        }
    }
    result = count;
done:
    if (found != stack_found) {
        PyMem_Free(found);
    }
    return result;
}

#define NEW_OR_FAIL(expr)                                                                         \
    do {                                                                                          \
        if ((values[n++] = (expr)) == NULL) {                                                     \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)
#define KEEP(obj) (values[n++] = Py_NewRef(obj))
#define BOOL(cond) (values[n++] = Py_NewRef((cond) ? Py_True : Py_False))

static PyObject *features(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "features(review, identity, replies, retention_s, wrapped)");
        return NULL;
    }
    if (features_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    PyObject *review = args[0], *identity = args[1], *replies = args[2];
    long long retention_s;
    if (!small_int(args[3], &retention_s) || retention_s < 0 || retention_s >= (1LL << 32)) {
        Py_RETURN_NONE;
    }
    int wrapped = PyObject_IsTrue(args[4]);
    if (wrapped < 0) {
        return NULL;
    }
    if (!PyList_CheckExact(replies)) {
        Py_RETURN_NONE;
    }
    /* everything fetched below is held in `held` and released at the end */
    PyObject *held[16] = {NULL};
    int n_held = 0;
    PyObject *values[N_FIELDS] = {NULL};
    int n = 0;
    PyObject *result = NULL, *answer = NULL;
#define FETCH(var, obj, name)                                                                     \
    do {                                                                                          \
        if ((held[n_held++] = var = PyObject_GetAttr(obj, name)) == NULL) {                       \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)
    PyObject *submitted_at, *rating_o, *account, *created_at, *text;
    PyObject *account_h, *device_h, *ip_h, *net_h, *simhash_o;
    FETCH(submitted_at, review, s_submitted_at);
    FETCH(rating_o, review, s_rating);
    FETCH(account, review, s_account);
    FETCH(created_at, account, s_created_at);
    FETCH(text, review, s_text);
    FETCH(account_h, identity, s_account_h);
    FETCH(device_h, identity, s_device_h);
    FETCH(ip_h, identity, s_ip_h);
    FETCH(net_h, identity, s_net_h);
    FETCH(simhash_o, identity, s_simhash);

    long long rating;
    if (!PyFloat_CheckExact(submitted_at) || !small_int(rating_o, &rating)
        || !(created_at == Py_None || PyFloat_CheckExact(created_at))
        || !PyUnicode_Check(account_h)) {
        goto unusual;
    }
    const double submitted = PyFloat_AS_DOUBLE(submitted_at);
    const double t_float = floor(submitted * 1000.0);
    if (!(t_float > -(double)LIMIT && t_float < (double)LIMIT)) {
        goto unusual; /* also NaN */
    }
    const long long t_ms = (long long)t_float;
    uint64_t own = 0;
    const int has_simhash = simhash_o != Py_None;
    if (has_simhash) {
        if (!PyLong_CheckExact(simhash_o)) {
            goto unusual;
        }
        own = PyLong_AsUnsignedLongLong(simhash_o);
        if (own == (uint64_t)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            goto unusual;
        }
    }
    const Py_ssize_t bands = has_simhash ? n_bands : 0;
    const int has_device = device_h != Py_None, has_ip = ip_h != Py_None;
    const int has_net = net_h != Py_None;
    const Py_ssize_t needed = 2 + has_device + has_ip + has_net + bands + 1;
    if (PyList_GET_SIZE(replies) < needed) {
        goto unusual;
    }
    PyObject *a[10], *p[10], *crowd[3][6] = {{NULL}};
    if (!int_list(reply_at(replies, 0, wrapped), 10, a)
        || !int_list(reply_at(replies, 1, wrapped), 10, p)) {
        goto unusual;
    }
    Py_ssize_t index = 2;
    const int present[3] = {has_device, has_ip, has_net};
    for (int k = 0; k < 3; k++) {
        if (present[k] && !int_list(reply_at(replies, index++, wrapped), 6, crowd[k])) {
            goto unusual;
        }
    }
    long long before, a_rating_sum, a_extreme, a_distance3, a_first;
    long long r[5], p_reviews_24h, p_extreme_24h, p_baseline, p_first;
    if (!small_int(a[0], &before) || !small_int(a[5], &a_rating_sum)
        || !small_int(a[6], &a_extreme) || !small_int(a[7], &a_distance3)
        || !small_int(a[8], &a_first) || !small_int(p[6], &p_reviews_24h)
        || !small_int(p[7], &p_extreme_24h) || !small_int(p[8], &p_baseline)
        || !small_int(p[9], &p_first)) {
        goto unusual;
    }
    for (int k = 0; k < 5; k++) {
        if (!small_int(p[k], &r[k])) {
            goto unusual;
        }
    }
    Py_ssize_t duplicates = 0;
    if (has_simhash) {
        Py_ssize_t own_len;
        const char *own_account = PyUnicode_AsUTF8AndSize(account_h, &own_len);
        if (own_account == NULL) {
            PyErr_Clear(); /* unencodable (a lone surrogate): Python's to decide */
            goto unusual;
        }
        duplicates = duplicate_accounts(replies, index, wrapped, own, own_account, own_len);
        if (duplicates == -2) {
            goto fail;
        }
        if (duplicates < 0) {
            goto unusual;
        }
    }
    index += bands;
    answer = reply_at(replies, index, wrapped);
    if (answer == NULL || !(answer == Py_None || PyBytes_CheckExact(answer))) {
        answer = NULL;
        goto unusual;
    }

    /* ---- derive_features ---- */
    const int first_seen = created_at == Py_None; /* account age from the first review */
    if (!first_seen) {
        const double age = submitted - PyFloat_AS_DOUBLE(created_at);
        NEW_OR_FAIL(PyFloat_FromDouble(age > 0.0 ? age : 0.0));
    } else if (a_first >= 0) {
        const long long since = t_ms - a_first;
        NEW_OR_FAIL(PyFloat_FromDouble((double)(since > 0 ? since : 0) / 1000.0));
    } else {
        KEEP(Py_None);
    }
    BOOL(first_seen);
    KEEP(a[0]);
    KEEP(a[1]);
    KEEP(a[2]);
    KEEP(a[3]);
    BOOL(before == 0);
    KEEP(a[4]);
    if (before) {
        NEW_OR_FAIL(PyFloat_FromDouble((double)a_rating_sum / (double)before));
        NEW_OR_FAIL(PyFloat_FromDouble((double)a_extreme / (double)before));
        NEW_OR_FAIL(PyFloat_FromDouble((double)a_distance3 / (double)before));
    } else {
        KEEP(Py_None);
        KEEP(Py_None);
        KEEP(Py_None);
    }
    FETCH(values[n++], identity, s_is_disposable_email);
    Py_INCREF(values[n - 1]); /* held[] releases its own reference */
    FETCH(values[n++], identity, s_username_dubiousness);
    Py_INCREF(values[n - 1]);
    BOOL(has_device);
    FETCH(values[n++], identity, s_has_fingerprint);
    Py_INCREF(values[n - 1]);
    /* device: accounts_24h, accounts_30d, reviews_1h, reviews_24h */
    if (has_device) {
        KEEP(crowd[0][3]);
        KEEP(crowd[0][4]);
        KEEP(crowd[0][0]);
        KEEP(crowd[0][1]);
    } else {
        for (int k = 0; k < 4; k++) {
            KEEP(zero_int);
        }
    }
    FETCH(values[n++], identity, s_is_headless);
    Py_INCREF(values[n - 1]);
    FETCH(values[n++], identity, s_is_inconsistent_device);
    Py_INCREF(values[n - 1]);
    BOOL(has_ip);
    /* ip, then net: accounts_1h, accounts_24h, reviews_1h, reviews_24h */
    for (int k = 1; k <= 2; k++) {
        if (present[k]) {
            KEEP(crowd[k][2]);
            KEEP(crowd[k][3]);
            KEEP(crowd[k][0]);
            KEEP(crowd[k][1]);
        } else {
            for (int j = 0; j < 4; j++) {
                KEEP(zero_int);
            }
        }
    }
    const long long le_t = r[0] + r[1] + r[2] + r[3] + r[4];
    const long long product_before = le_t - 1 > 0 ? le_t - 1 : 0;
    const long long rating_sum = r[0] + 2 * r[1] + 3 * r[2] + 4 * r[3] + 5 * r[4];
    const long long retention_ms = retention_s * 1000;
    long long first_ms = t_ms;
    if (p_first >= 0) {
        first_ms = p_first > t_ms - retention_ms ? p_first : t_ms - retention_ms;
    }
    const double days = (double)(t_ms - first_ms - DAY_MS) / (double)DAY_MS;
    const double baseline_days = days > 1.0 ? days : 1.0;
    const double usual = (double)p_baseline / baseline_days;
    if (usual + 1.0 == 0.0) {
        goto unusual; /* Python raises ZeroDivisionError */
    }
    NEW_OR_FAIL(PyLong_FromLongLong(product_before));
    KEEP(p[5]);
    KEEP(p[6]);
    NEW_OR_FAIL(PyFloat_FromDouble(usual));
    NEW_OR_FAIL(PyFloat_FromDouble((double)p_reviews_24h / (usual + 1.0)));
    NEW_OR_FAIL(PyFloat_FromDouble(
        p_reviews_24h ? (double)p_extreme_24h / (double)p_reviews_24h : 0.0));
    double mean = 0.0;
    if (product_before) {
        mean = (double)(rating_sum - rating) / (double)product_before;
        NEW_OR_FAIL(PyFloat_FromDouble(mean));
        NEW_OR_FAIL(PyFloat_FromDouble(fabs((double)rating - mean)));
    } else {
        KEEP(Py_None);
        NEW_OR_FAIL(PyFloat_FromDouble(0.0));
    }
    BOOL(rating == 1 || rating == 5);
    const int has_text = PyObject_IsTrue(text);
    if (has_text < 0) {
        goto fail;
    }
    BOOL(has_text);
    const int no_text = PyObject_RichCompareBool(text, empty_str, Py_EQ);
    if (no_text < 0) {
        goto fail;
    }
    BOOL(no_text);
    NEW_OR_FAIL(PyLong_FromSsize_t(duplicates));
    BOOL(has_device && PyObject_IsTrue(crowd[0][5])); /* exact ints: no error */
    BOOL((has_ip && PyObject_IsTrue(crowd[1][5])) || (has_net && PyObject_IsTrue(crowd[2][5])));
    BOOL(PyObject_IsTrue(a[9]));
    NEW_OR_FAIL(PyFloat_FromDouble(product_before ? (double)rating - mean : 0.0));
    if (a_first >= 0) {
        const long long since = t_ms - a_first;
        NEW_OR_FAIL(PyFloat_FromDouble((double)(since > 0 ? since : 0) / (double)DAY_MS));
    } else {
        NEW_OR_FAIL(PyFloat_FromDouble(0.0));
    }
    if (n != N_FIELDS) {
        PyErr_SetString(PyExc_SystemError, "featureedge: a field was missed");
        goto fail;
    }
    PyObject *made = features_type->tp_alloc(features_type, 0);
    if (made == NULL) {
        goto fail;
    }
    for (int k = 0; k < N_FIELDS; k++) {
        *(PyObject **)((char *)made + offsets[k]) = values[k]; /* the reference moves in */
    }
    n = 0;
    result = PyTuple_Pack(2, made, answer);
    Py_DECREF(made);
    goto release;
unusual:
    result = Py_NewRef(Py_None);
    goto release;
fail:
    result = NULL;
release:
    for (int k = 0; k < n; k++) {
        Py_XDECREF(values[k]);
    }
    for (int k = 0; k < n_held; k++) {
        Py_XDECREF(held[k]);
    }
    return result;
#undef FETCH
}


/* ---- the batch command -------------------------------------------------------------------- */

/* A hash of the usual length: an ASCII str of `len` characters without a newline. */
static const char *usual_hash(PyObject *o, Py_ssize_t len) {
    if (!PyUnicode_CheckExact(o) || !PyUnicode_IS_ASCII(o) || PyUnicode_GET_LENGTH(o) != len) {
        return NULL;
    }
    const char *text = (const char *)PyUnicode_DATA(o);
    return memchr(text, '\n', (size_t)len) ? NULL : text;
}

/* command(templates, review, identity) -> bytes | None: the batch EVALSHA of the review, from
 * templates[shape] (shape: device 1, IP 2, network 4, SimHash 8), each a tuple (literals:
 * tuple of n + 1 bytes, codes: bytes of n field codes, argv_fixed: int, t_count: int): the
 * literals with the fields between them (see _marked_batch in service/features/store.py for
 * the codes). None when the review or identity is not the usual one: Python then builds it. */
static PyObject *command(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 16) {
        PyErr_SetString(PyExc_TypeError, "command(templates: 16-tuple, review, identity)");
        return NULL;
    }
    PyObject *review = args[1], *identity = args[2];
    PyObject *held[9] = {NULL};
    int n_held = 0;
    PyObject *result = NULL;
#define FETCH(var, obj, name)                                                                     \
    do {                                                                                          \
        if ((held[n_held++] = var = PyObject_GetAttr(obj, name)) == NULL) {                       \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)
    PyObject *submitted_at, *rating_o, *account_o, *review_o, *product_o, *simhash_o;
    PyObject *crowd_o[3];
    FETCH(submitted_at, review, s_submitted_at);
    FETCH(rating_o, review, s_rating);
    FETCH(account_o, identity, s_account_h);
    FETCH(review_o, identity, s_review_h);
    FETCH(product_o, identity, s_product_h);
    FETCH(crowd_o[0], identity, s_device_h);
    FETCH(crowd_o[1], identity, s_ip_h);
    FETCH(crowd_o[2], identity, s_net_h);
    FETCH(simhash_o, identity, s_simhash);
#undef FETCH
    const char *account = usual_hash(account_o, entity_len);
    const char *review_h = usual_hash(review_o, review_len);
    const char *product = usual_hash(product_o, entity_len);
    const char *crowd[3] = {NULL, NULL, NULL};
    int shape = 0;
    if (account == NULL || review_h == NULL || product == NULL) {
        goto unusual;
    }
    for (int k = 0; k < 3; k++) {
        if (crowd_o[k] != Py_None) {
            if ((crowd[k] = usual_hash(crowd_o[k], entity_len)) == NULL) {
                goto unusual;
            }
            shape |= 1 << k;
        }
    }
    char hex[17] = {0};
    if (simhash_o != Py_None) {
        if (!PyLong_CheckExact(simhash_o)) {
            goto unusual;
        }
        unsigned long long simhash = PyLong_AsUnsignedLongLong(simhash_o);
        if (simhash == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            goto unusual;
        }
        snprintf(hex, sizeof hex, "%016llx", simhash);
        shape |= 8;
    }
    long long rating;
    if (!PyFloat_CheckExact(submitted_at) || !small_int(rating_o, &rating)) {
        goto unusual;
    }
    const double t_float = floor(PyFloat_AS_DOUBLE(submitted_at) * 1000.0);
    if (!(t_float > -(double)LIMIT && t_float < (double)LIMIT)) {
        goto unusual;
    }
    char t_text[32];
    const Py_ssize_t t_len = snprintf(t_text, sizeof t_text, "%lld", (long long)t_float);
    const char rating_char = (char)('0' + (rating < 1 ? 1 : rating > 5 ? 5 : rating));

    PyObject *entry = PyTuple_GET_ITEM(args[0], shape);
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4) {
        PyErr_SetString(PyExc_TypeError, "a template is (literals, codes, argv_fixed, t_count)");
        goto fail;
    }
    PyObject *literals = PyTuple_GET_ITEM(entry, 0), *codes_o = PyTuple_GET_ITEM(entry, 1);
    const Py_ssize_t argv_fixed = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 2));
    const Py_ssize_t t_count = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 3));
    if (PyErr_Occurred()) {
        goto fail;
    }
    if (!PyTuple_CheckExact(literals) || !PyBytes_CheckExact(codes_o)
        || PyTuple_GET_SIZE(literals) != PyBytes_GET_SIZE(codes_o) + 1) {
        PyErr_SetString(PyExc_TypeError, "a template's literals are one more than its fields");
        goto fail;
    }
    const char *codes = PyBytes_AS_STRING(codes_o);
    const Py_ssize_t n_fields = PyBytes_GET_SIZE(codes_o);
    char argv_len[32];
    const Py_ssize_t argv_len_len = snprintf(argv_len, sizeof argv_len, "%zd",
                                             argv_fixed + t_count * t_len);
    char bands[4][6];
    for (int b = 0; b < 4; b++) { /* band b: its index, ':', the 4 hex digits of its 16 bits */
        bands[b][0] = (char)('0' + b);
        bands[b][1] = ':';
        memcpy(bands[b] + 2, hex + 12 - 4 * b, 4);
    }
    /* each field: where its text is and how long it is */
    const char *field_text[128];
    Py_ssize_t field_len[128];
    const char *second_text[128]; /* the member: account hash, then the SimHash in hex */
    Py_ssize_t total = 0;
    if (n_fields > 128) {
        PyErr_SetString(PyExc_ValueError, "too many fields");
        goto fail;
    }
    for (Py_ssize_t f = 0; f <= n_fields; f++) {
        PyObject *literal = PyTuple_GET_ITEM(literals, f);
        if (!PyBytes_CheckExact(literal)) {
            PyErr_SetString(PyExc_TypeError, "a literal is bytes");
            goto fail;
        }
        total += PyBytes_GET_SIZE(literal);
        if (f == n_fields) {
            break;
        }
        const char *text = NULL;
        Py_ssize_t len = 0;
        second_text[f] = NULL;
        switch (codes[f]) {
        case 'a': text = account, len = entity_len; break;
        case 'p': text = product, len = entity_len; break;
        case 'd': text = crowd[0], len = entity_len; break;
        case 'i': text = crowd[1], len = entity_len; break;
        case 'n': text = crowd[2], len = entity_len; break;
        case 'r': text = review_h, len = review_len; break;
        case '8': text = product, len = 8 < entity_len ? 8 : entity_len; break;
        case 'g': text = &rating_char, len = 1; break;
        case 't': text = t_text, len = t_len; break;
        case 'L': text = argv_len, len = argv_len_len; break;
        case 'm': text = account, len = entity_len, second_text[f] = hex; break;
        case '0': case '1': case '2': case '3':
            text = (shape & 8) ? bands[codes[f] - '0'] : NULL, len = 6; break;
        default: break;
        }
        if (text == NULL) {
            PyErr_Format(PyExc_ValueError, "a field the review has not: %c", codes[f]);
            goto fail;
        }
        field_text[f] = text;
        field_len[f] = len;
        total += len + (second_text[f] ? 16 : 0);
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) {
        goto fail;
    }
    char *out = PyBytes_AS_STRING(result);
    for (Py_ssize_t f = 0; f <= n_fields; f++) {
        PyObject *literal = PyTuple_GET_ITEM(literals, f);
        memcpy(out, PyBytes_AS_STRING(literal), (size_t)PyBytes_GET_SIZE(literal));
        out += PyBytes_GET_SIZE(literal);
        if (f == n_fields) {
            break;
        }
        memcpy(out, field_text[f], (size_t)field_len[f]);
        out += field_len[f];
        if (second_text[f]) {
            memcpy(out, second_text[f], 16);
            out += 16;
        }
    }
    goto release;
unusual:
    result = Py_NewRef(Py_None);
    goto release;
fail:
    result = NULL;
release:
    for (int k = 0; k < n_held; k++) {
        Py_XDECREF(held[k]);
    }
    return result;
}

/* pack(args) -> bytes | None: one command in RESP, as service.features.mux.pack makes it: a str
 * as its UTF-8 (a str Python cannot encode raises the same UnicodeEncodeError), bytes as they
 * are, an int with %d, a float as its repr. None for any other argument (a bool, a bytearray, an
 * int beyond 64 bits...): Python then packs it, or raises its own error. */
#define PACK_SMALL 32
static PyObject *pack(PyObject *self, PyObject *arg) {
    (void)self;
    PyObject *seq = PySequence_Fast(arg, "pack() takes a sequence");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    const char *small_ptrs[PACK_SMALL];
    Py_ssize_t small_lens[PACK_SMALL];
    PyObject *small_reprs[PACK_SMALL];
    char small_digits[PACK_SMALL][24];
    const char **ptrs = small_ptrs;
    Py_ssize_t *lens = small_lens;
    PyObject **reprs = small_reprs;
    char(*digits)[24] = small_digits;
    PyObject *result = NULL;
    if (n > PACK_SMALL) {
        ptrs = PyMem_Malloc((size_t)n * sizeof(*ptrs));
        lens = PyMem_Malloc((size_t)n * sizeof(*lens));
        reprs = PyMem_Malloc((size_t)n * sizeof(*reprs));
        digits = PyMem_Malloc((size_t)n * sizeof(*digits));
        if (ptrs == NULL || lens == NULL || reprs == NULL || digits == NULL) {
            PyErr_NoMemory();
            n = 0; /* nothing to release below */
            goto release;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        reprs[i] = NULL;
    }
    char header[32];
    int header_len = snprintf(header, sizeof header, "*%zd\r\n", n);
    Py_ssize_t total = header_len;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = items[i];
        if (PyUnicode_Check(item)) {
            ptrs[i] = PyUnicode_AsUTF8AndSize(item, &lens[i]);
            if (ptrs[i] == NULL) {
                goto release;
            }
        } else if (PyBytes_Check(item)) {
            ptrs[i] = PyBytes_AS_STRING(item);
            lens[i] = PyBytes_GET_SIZE(item);
        } else if (PyLong_Check(item) && !PyBool_Check(item)) {
            int overflow = 0;
            long long value = PyLong_AsLongLongAndOverflow(item, &overflow);
            if (overflow != 0) {
                result = Py_NewRef(Py_None);
                goto release;
            }
            if (value == -1 && PyErr_Occurred()) {
                goto release;
            }
            lens[i] = snprintf(digits[i], sizeof digits[i], "%lld", value);
            ptrs[i] = digits[i];
        } else if (PyFloat_CheckExact(item)) {
            reprs[i] = PyObject_Repr(item); /* float_repr: no Python code runs */
            if (reprs[i] == NULL) {
                goto release;
            }
            ptrs[i] = PyUnicode_AsUTF8AndSize(reprs[i], &lens[i]);
            if (ptrs[i] == NULL) {
                goto release;
            }
        } else {
            result = Py_NewRef(Py_None);
            goto release;
        }
        /* "$" length "\r\n" data "\r\n": a length has at most 20 digits */
        total += 1 + 20 + 2 + lens[i] + 2;
    }
    {
        PyObject *out = PyBytes_FromStringAndSize(NULL, total);
        if (out == NULL) {
            goto release;
        }
        char *w = PyBytes_AS_STRING(out);
        memcpy(w, header, (size_t)header_len);
        w += header_len;
        for (Py_ssize_t i = 0; i < n; i++) {
            w += snprintf(w, 24, "$%zd\r\n", lens[i]);
            memcpy(w, ptrs[i], (size_t)lens[i]);
            w += lens[i];
            *w++ = '\r';
            *w++ = '\n';
        }
        if (_PyBytes_Resize(&out, w - PyBytes_AS_STRING(out)) < 0) {
            goto release;
        }
        result = out;
    }
release:
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(reprs[i]);
    }
    if (ptrs != small_ptrs) {
        PyMem_Free(ptrs);
        PyMem_Free(lens);
        PyMem_Free(reprs);
        PyMem_Free(digits);
    }
    Py_DECREF(seq);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(features_type, field_names, bands, max_distance, entity_len, review_len)"},
    {"features", (PyCFunction)(void (*)(void))features, METH_FASTCALL,
     "features(review, identity, replies, retention_s, wrapped) -> (Features, answer) | None"},
    {"command", (PyCFunction)(void (*)(void))command, METH_FASTCALL,
     "command(templates, review, identity) -> bytes | None: the review's batch EVALSHA"},
    {"pack", pack, METH_O, "pack(args) -> bytes | None: one command in RESP, as mux.pack"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.native.featureedge", NULL, -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_featureedge(void) {
#define INTERN(var, text)                                                                         \
    if ((var = PyUnicode_InternFromString(text)) == NULL) {                                       \
        return NULL;                                                                              \
    }
    INTERN(s_submitted_at, "submitted_at");
    INTERN(s_rating, "rating");
    INTERN(s_account, "account");
    INTERN(s_created_at, "created_at");
    INTERN(s_text, "text");
    INTERN(s_account_h, "account_h");
    INTERN(s_review_h, "review_h");
    INTERN(s_product_h, "product_h");
    INTERN(s_device_h, "device_h");
    INTERN(s_ip_h, "ip_h");
    INTERN(s_net_h, "net_h");
    INTERN(s_simhash, "simhash");
    INTERN(s_has_fingerprint, "has_fingerprint");
    INTERN(s_is_headless, "is_headless");
    INTERN(s_is_inconsistent_device, "is_inconsistent_device");
    INTERN(s_is_disposable_email, "is_disposable_email");
    INTERN(s_username_dubiousness, "username_dubiousness");
    INTERN(empty_str, "");
#undef INTERN
    if ((zero_int = PyLong_FromLong(0)) == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
