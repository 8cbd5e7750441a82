/* describe() of service/monitoring/profile.py (the monitored text quantities) for ASCII text, in C.
 *
 * vocabulary(words) -> capsule: a lookup table of a vocabulary (an iterable of str), built once per
 * vocabulary object by the Python side and passed to every describe(). Only entries that are
 * non-empty runs of a-z can equal a word of an ASCII text as describe splits it; the others are
 * left out of the table, but still count for whether the vocabulary is empty.
 *
 * describe(text, vocabulary_or_None) -> tuple | None: for an ASCII str, the fields of
 * TextDescriptors after length:
 *   (nonletter_share, exclamation_density, emoji_density, oov_share)
 * and None for any other str (the Python code then describes it). What is counted, for ASCII:
 *   - visible characters: those str.isspace() is false for (all but 9-13, 28-32);
 *   - letters: A-Z and a-z (str.isalpha() in ASCII); words: the maximal runs of letters, lower-cased;
 *   - '!' characters;
 *   - emoticons: [:;=] then an optional '-' then one of )(DPp, or "<3" (no character a match
 *     consumes after its first can start another, so counting start positions is findall's count);
 *   - known words: the words in the vocabulary; oov_share = 1 - known / words, None without words
 *     or with no vocabulary or an empty one.
 * Floats are double operations on integers below 2**53, in the order the Python code does them
 * (100 / max(1, n), then count * that; int / int true division): the same doubles, bit for bit.
 * Held to the Python code by tests/unit/test_native_monitortext.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define CAPSULE_NAME "service.native.monitortext.vocabulary"

enum { OTHER = 0, LETTER = 1, SPACE = 2 };
static unsigned char CLASS[128]; /* set in module init */
static unsigned char LOWER[128];

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

/* ---- the vocabulary table: open addressing, at most half full ------------------------------ */

typedef struct {
    uint64_t hash;
    Py_ssize_t offset; /* into pool */
    Py_ssize_t len;    /* 0: empty slot (entries are non-empty) */
} vocab_slot;

typedef struct {
    int any;        /* the vocabulary had at least one entry (Python truthiness) */
    size_t mask;    /* capacity - 1 */
    vocab_slot *slots;
    char *pool;     /* the entries' bytes, one after another */
} vocab_table;

static void free_table(vocab_table *v) {
    if (v != NULL) {
        PyMem_Free(v->slots);
        PyMem_Free(v->pool);
        PyMem_Free(v);
    }
}

static void capsule_destructor(PyObject *capsule) {
    free_table((vocab_table *)PyCapsule_GetPointer(capsule, CAPSULE_NAME));
}

/* The entry's bytes when it is a non-empty run of a-z, else NULL (len set to 0). -1 on error. */
static int usable_entry(PyObject *word, const unsigned char **s, Py_ssize_t *len) {
    *s = NULL;
    *len = 0;
    if (!PyUnicode_Check(word)) {
        PyErr_SetString(PyExc_TypeError, "a vocabulary must hold str");
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(word) < 0) {
        return -1;
    }
#endif
    if (!PyUnicode_IS_ASCII(word)) {
        return 0;
    }
    const Py_ssize_t n = PyUnicode_GET_LENGTH(word);
    const unsigned char *d = PyUnicode_1BYTE_DATA(word);
    if (n == 0) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        if (!(d[k] >= 'a' && d[k] <= 'z')) {
            return 0;
        }
    }
    *s = d;
    *len = n;
    return 0;
}

static PyObject *vocabulary(PyObject *self, PyObject *words) {
    (void)self;
    PyObject *list = PySequence_List(words);
    if (list == NULL) {
        return NULL;
    }
    const Py_ssize_t count = PyList_GET_SIZE(list);
    Py_ssize_t usable = 0, total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const unsigned char *s;
        Py_ssize_t len;
        if (usable_entry(PyList_GET_ITEM(list, i), &s, &len) < 0) {
            Py_DECREF(list);
            return NULL;
        }
        if (s != NULL) {
            usable++;
            if (total > PY_SSIZE_T_MAX - len) {
                Py_DECREF(list);
                return PyErr_NoMemory();
            }
            total += len;
        }
    }
    size_t cap = 16;
    while (cap / 2 < (size_t)usable + 1) {
        if (cap > ((size_t)PY_SSIZE_T_MAX / sizeof(vocab_slot)) / 4) {
            Py_DECREF(list);
            return PyErr_NoMemory();
        }
        cap *= 2;
    }
    vocab_table *v = PyMem_Malloc(sizeof(vocab_table));
    if (v == NULL) {
        Py_DECREF(list);
        return PyErr_NoMemory();
    }
    v->any = count > 0;
    v->mask = cap - 1;
    v->slots = PyMem_Calloc(cap, sizeof(vocab_slot));
    v->pool = PyMem_Malloc(total > 0 ? (size_t)total : 1);
    if (v->slots == NULL || v->pool == NULL) {
        free_table(v);
        Py_DECREF(list);
        return PyErr_NoMemory();
    }
    Py_ssize_t used = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        const unsigned char *s;
        Py_ssize_t len;
        if (usable_entry(PyList_GET_ITEM(list, i), &s, &len) < 0) {
            free_table(v);
            Py_DECREF(list);
            return NULL;
        }
        if (s == NULL) {
            continue;
        }
        uint64_t h = FNV_OFFSET;
        for (Py_ssize_t k = 0; k < len; k++) {
            h = (h ^ s[k]) * FNV_PRIME;
        }
        size_t j = (size_t)h & v->mask;
        int present = 0;
        while (v->slots[j].len != 0) {
            const vocab_slot *e = &v->slots[j];
            if (e->hash == h && e->len == len && memcmp(v->pool + e->offset, s, (size_t)len) == 0) {
                present = 1; /* equal str entries (a list, or str subclasses) */
                break;
            }
            j = (j + 1) & v->mask;
        }
        if (present) {
            continue;
        }
        if (used > total - len) { /* cannot happen: the first pass summed these lengths */
            free_table(v);
            Py_DECREF(list);
            PyErr_SetString(PyExc_RuntimeError, "the vocabulary changed while it was read");
            return NULL;
        }
        memcpy(v->pool + used, s, (size_t)len);
        v->slots[j].hash = h;
        v->slots[j].offset = used;
        v->slots[j].len = len;
        used += len;
    }
    Py_DECREF(list);
    PyObject *capsule = PyCapsule_New(v, CAPSULE_NAME, capsule_destructor);
    if (capsule == NULL) {
        free_table(v);
    }
    return capsule;
}

/* Whether t[start:start+len] lower-cased (letters only) is in the table. */
static int known_word(const vocab_table *v, const unsigned char *w, Py_ssize_t len, uint64_t h) {
    size_t j = (size_t)h & v->mask;
    for (;;) {
        const vocab_slot *e = &v->slots[j];
        if (e->len == 0) {
            return 0;
        }
        if (e->hash == h && e->len == len) {
            const unsigned char *p = (const unsigned char *)v->pool + e->offset;
            Py_ssize_t m = 0;
            while (m < len && LOWER[w[m] & 127] == p[m]) {
                m++;
            }
            if (m == len) {
                return 1;
            }
        }
        j = (j + 1) & v->mask;
    }
}

/* ---- the per-text counts ----------------------------------------------------------------- */

static PyObject *describe(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "describe() takes (text, vocabulary or None)");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "describe() takes a str");
        return NULL;
    }
    const vocab_table *v = NULL;
    if (args[1] != Py_None) {
        if (!PyCapsule_IsValid(args[1], CAPSULE_NAME)) {
            PyErr_SetString(PyExc_TypeError, "describe() takes a vocabulary() table or None");
            return NULL;
        }
        v = PyCapsule_GetPointer(args[1], CAPSULE_NAME);
        if (v == NULL) {
            return NULL;
        }
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    if (!PyUnicode_IS_ASCII(text)) {
        Py_RETURN_NONE;
    }
    const unsigned char *t = PyUnicode_1BYTE_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);

    Py_ssize_t visible = 0, letters = 0, exclamations = 0, emoticons = 0, words = 0, known = 0;
    Py_ssize_t i = 0;
    while (i < n) {
        const unsigned char c = t[i];
        const unsigned char cls = CLASS[c & 127]; /* ASCII: c < 128 */
        if (cls == LETTER) {
            const Py_ssize_t start = i;
            uint64_t h = FNV_OFFSET;
            while (i < n && CLASS[t[i] & 127] == LETTER) {
                h = (h ^ LOWER[t[i] & 127]) * FNV_PRIME;
                i++;
            }
            const Py_ssize_t len = i - start;
            letters += len;
            words++;
            if (v != NULL) {
                known += known_word(v, t + start, len, h);
            }
            continue;
        }
        i++;
        if (cls == SPACE) {
            continue;
        }
        visible++; /* letters are added to visible at the end */
        if (c == '!') {
            exclamations++;
        } else if (c == ':' || c == ';' || c == '=') {
            Py_ssize_t j = i; /* the character after c */
            if (j < n && t[j] == '-') {
                j++;
            }
            if (j < n) {
                const unsigned char d = t[j];
                emoticons += (d == ')' || d == '(' || d == 'D' || d == 'P' || d == 'p');
            }
        } else if (c == '<') {
            emoticons += (i < n && t[i] == '3');
        }
    }
    visible += letters;

    const double per_100 = 100.0 / (double)(n > 1 ? n : 1);
    const double nonletter_share =
        visible ? (double)(visible - letters) / (double)visible : 0.0;
    PyObject *oov;
    if (v != NULL && v->any && words) {
        oov = PyFloat_FromDouble(1.0 - (double)known / (double)words);
    } else {
        oov = Py_NewRef(Py_None);
    }
    /* N: the tuple takes oov's reference (on failure too); a NULL oov makes this return NULL
     * with oov's exception set. */
    return Py_BuildValue("(dddN)", nonletter_share, (double)exclamations * per_100,
                         (double)emoticons * per_100, oov);
}

static PyMethodDef methods[] = {
    {"vocabulary", vocabulary, METH_O,
     "vocabulary(words) -> capsule: the lookup table describe() takes, built once per vocabulary."},
    {"describe", (PyCFunction)(void (*)(void))describe, METH_FASTCALL,
     "describe(text: str, vocabulary: capsule | None) -> tuple | None: TextDescriptors' fields "
     "after length, for ASCII text (None for any other)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.native.monitortext", NULL, -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_monitortext(void) {
    for (int c = 0; c < 128; c++) {
        const int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const int space = (c >= 9 && c <= 13) || (c >= 28 && c <= 32);
        CLASS[c] = (unsigned char)(alpha ? LETTER : space ? SPACE : OTHER);
        LOWER[c] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }
    return PyModule_Create(&module);
}
