/* The counting core of describe_text (service/scoring/text_signals.py) for ASCII text, in C.
 *
 * configure(extreme_words, stop_words): the two word lists describe_text looks words up in
 * (copied here once, at import of text_signals.py, so that Python stays their one definition).
 *
 * describe(text) -> tuple | None: for an ASCII str, the fields of TextSignals after n_chars:
 *   (n_words, exclamation_runs, exclamations, emoticons, uppercase_share, extreme_share,
 *    top_word, top_word_repeats, distinct_share)
 * and None for any other str (the Python code then describes it). What is counted, for ASCII:
 *   - words: the matches of [^\W\d_]+(?:'[^\W\d_]+)? in the lower-cased text, i.e. a run of
 *     letters, then (when an apostrophe follows and a letter follows it) the apostrophe and the
 *     next run of letters;
 *   - letters and upper-case letters (A-Z), exclamation marks;
 *   - runs of two or more of [!?] (the matches of [!?]{2,} are the maximal runs);
 *   - emoticons: [:;=] then an optional '-' then one of )(DPp, or "<3" (no character a match
 *     consumes after its first can start another, so counting start positions is findall's count);
 *   - content words: words not in stop_words and longer than 2, counted; the top word is the
 *     most counted, the first to occur among equal counts (as max over a Counter's items).
 * Shares are double divisions of counts below 2**53: what Python's int / int gives, bit for bit.
 * Held to the Python code by tests/unit/test_native_textsignals.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---- the fixed word lists: one open-addressing table of (word, flags) ---------------------- */

#define FLAG_EXTREME 1u
#define FLAG_STOP 2u
#define WORDS_CAP 512 /* power of two; at most half full (checked in configure) */

typedef struct {
    char *word; /* lower-case ASCII, owned (PyMem) */
    Py_ssize_t len;
    unsigned flags;
} fixed_word;

static fixed_word words_table[WORDS_CAP];
static Py_ssize_t words_count = 0;
static int configured = 0;

static unsigned char LOWER[256]; /* ASCII lower case; set in module init */
static unsigned char is_letter[256];
static unsigned char is_upper[256];
static unsigned char is_mark[256]; /* the characters runs and emoticons start with: !?:;=< */

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t hash_lowered(const unsigned char *s, Py_ssize_t len) {
    /* FNV-1a over the lower-cased bytes. */
    uint64_t h = FNV_OFFSET;
    for (Py_ssize_t i = 0; i < len; i++) {
        h ^= LOWER[s[i]];
        h *= FNV_PRIME;
    }
    return h;
}

static int equal_lowered(const unsigned char *s, Py_ssize_t len, const char *lowered) {
    for (Py_ssize_t i = 0; i < len; i++) {
        if (LOWER[s[i]] != (unsigned char)lowered[i]) {
            return 0;
        }
    }
    return 1;
}

static void clear_words(void) {
    for (Py_ssize_t i = 0; i < WORDS_CAP; i++) {
        PyMem_Free(words_table[i].word);
        words_table[i].word = NULL;
        words_table[i].len = 0;
        words_table[i].flags = 0;
    }
    words_count = 0;
    configured = 0;
}

/* The flags of the word s[0:len], whose hash_lowered is h. */
static unsigned fixed_flags(const unsigned char *s, Py_ssize_t len, uint64_t h) {
    size_t i = (size_t)(h & (WORDS_CAP - 1));
    for (;;) {
        const fixed_word *e = &words_table[i];
        if (e->word == NULL) {
            return 0;
        }
        if (e->len == len && equal_lowered(s, len, e->word)) {
            return e->flags;
        }
        i = (i + 1) & (WORDS_CAP - 1);
    }
}

/* Adds `word` (a str) with `flag`. A word that is not lower-case ASCII letters and apostrophes
 * can never equal a word of an ASCII text as this module splits it: it is left out. */
static int add_fixed(PyObject *word, unsigned flag) {
    if (!PyUnicode_Check(word)) {
        PyErr_SetString(PyExc_TypeError, "the word lists must hold str");
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
    Py_ssize_t len = PyUnicode_GET_LENGTH(word);
    const unsigned char *s = PyUnicode_1BYTE_DATA(word);
    if (len == 0) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < len; k++) {
        if (!(s[k] == '\'' || (s[k] >= 'a' && s[k] <= 'z'))) {
            return 0;
        }
    }
    size_t i = (size_t)(hash_lowered(s, len) & (WORDS_CAP - 1));
    for (;;) {
        fixed_word *e = &words_table[i];
        if (e->word == NULL) {
            break;
        }
        if (e->len == len && memcmp(e->word, s, (size_t)len) == 0) {
            e->flags |= flag;
            return 0;
        }
        i = (i + 1) & (WORDS_CAP - 1);
    }
    if ((words_count + 1) * 2 > WORDS_CAP) {
        PyErr_SetString(PyExc_ValueError, "too many words for the fixed word table");
        return -1;
    }
    char *copy = PyMem_Malloc((size_t)len);
    if (copy == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(copy, s, (size_t)len);
    words_table[i].word = copy;
    words_table[i].len = len;
    words_table[i].flags = flag;
    words_count++;
    return 0;
}

static int add_all(PyObject *iterable, unsigned flag) {
    PyObject *it = PyObject_GetIter(iterable);
    if (it == NULL) {
        return -1;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        int rc = add_fixed(item, flag);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *configure(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *extreme, *stop;
    if (!PyArg_ParseTuple(args, "OO:configure", &extreme, &stop)) {
        return NULL;
    }
    clear_words();
    if (add_all(extreme, FLAG_EXTREME) < 0 || add_all(stop, FLAG_STOP) < 0) {
        clear_words();
        return NULL;
    }
    configured = 1;
    Py_RETURN_NONE;
}

/* ---- the per-text counts ----------------------------------------------------------------- */

typedef struct {
    Py_ssize_t start; /* -1: empty slot */
    Py_ssize_t len;
    Py_ssize_t count;
    Py_ssize_t first; /* order of first occurrence among the distinct content words */
} counted_word;

#define STACK_SLOTS 256

static PyObject *describe(PyObject *self, PyObject *text) {
    (void)self;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "describe() takes a str");
        return NULL;
    }
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure() the word lists first");
        return NULL;
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

    /* Content words counted in an open-addressing table, at most half full: a content word has
     * at least 3 letters and words are apart, so there are at most (n + 1) / 4 of them. */
    Py_ssize_t max_content = (n + 1) / 4;
    size_t cap = 16;
    while ((Py_ssize_t)(cap / 2) < max_content + 1) {
        if (cap > ((size_t)PY_SSIZE_T_MAX / sizeof(counted_word)) / 4) {
            PyErr_NoMemory();
            return NULL;
        }
        cap *= 2;
    }
    counted_word stack_slots[STACK_SLOTS];
    counted_word *slots = stack_slots;
    if (cap > STACK_SLOTS) {
        slots = PyMem_Malloc(cap * sizeof(counted_word));
        if (slots == NULL) {
            return PyErr_NoMemory();
        }
    }
    for (size_t k = 0; k < cap; k++) {
        slots[k].start = -1;
    }
    const size_t mask = cap - 1;

    /* One pass. Words (with their letters, capitals and hash_lowered, worked out as they are
     * read), and between them the character counts: '!', runs of [!?], emoticons. Every letter
     * is in a word, and no word holds one of !?:;=< nor breaks a run other than as any
     * character does (a letter or an apostrophe ends a run). */
    Py_ssize_t letters = 0, upper = 0, exclamations = 0, runs = 0, emoticons = 0, run = 0;
    Py_ssize_t n_words = 0, extreme = 0, content = 0, distinct = 0;
    Py_ssize_t best = -1; /* slot index of the top word */
    Py_ssize_t i = 0;
    while (i < n) {
        const unsigned char c = t[i];
        if (!is_letter[c]) {
            if (!is_mark[c]) {
                run = 0;
                i++;
                continue;
            }
            if (c == '!' || c == '?') {
                exclamations += (c == '!');
                if (++run == 2) {
                    runs++;
                }
                i++;
                continue;
            }
            run = 0;
            if (c == '<') {
                emoticons += (i + 1 < n && t[i + 1] == '3');
            } else { /* one of :;= */
                Py_ssize_t j = i + 1;
                if (j < n && t[j] == '-') {
                    j++;
                }
                if (j < n) {
                    const unsigned char d = t[j];
                    emoticons += (d == ')' || d == '(' || d == 'D' || d == 'P' || d == 'p');
                }
            }
            i++;
            continue;
        }
        run = 0;
        const Py_ssize_t start = i;
        uint64_t h = FNV_OFFSET;
        Py_ssize_t word_upper = 0;
        while (i < n && is_letter[t[i]]) {
            h = (h ^ LOWER[t[i]]) * FNV_PRIME;
            word_upper += is_upper[t[i]];
            i++;
        }
        Py_ssize_t word_letters = i - start;
        if (i + 1 < n && t[i] == '\'' && is_letter[t[i + 1]]) {
            h = (h ^ (unsigned char)'\'') * FNV_PRIME;
            i++;
            const Py_ssize_t second = i;
            while (i < n && is_letter[t[i]]) {
                h = (h ^ LOWER[t[i]]) * FNV_PRIME;
                word_upper += is_upper[t[i]];
                i++;
            }
            word_letters += i - second;
        }
        letters += word_letters;
        upper += word_upper;
        const Py_ssize_t len = i - start;
        const unsigned char *w = t + start;
        n_words++;
        const unsigned flags = fixed_flags(w, len, h);
        extreme += (flags & FLAG_EXTREME) != 0;
        if ((flags & FLAG_STOP) || len <= 2) {
            continue;
        }
        content++;
        size_t k = (size_t)(h & mask);
        for (;;) {
            counted_word *e = &slots[k];
            if (e->start < 0) {
                e->start = start;
                e->len = len;
                e->count = 0;
                e->first = distinct++;
                break;
            }
            if (e->len == len) {
                Py_ssize_t m = 0;
                while (m < len && LOWER[t[e->start + m]] == LOWER[w[m]]) {
                    m++;
                }
                if (m == len) {
                    break;
                }
            }
            k = (k + 1) & mask;
        }
        counted_word *e = &slots[k];
        e->count++;
        if (best < 0 || e->count > slots[best].count ||
            (e->count == slots[best].count && e->first < slots[best].first)) {
            best = (Py_ssize_t)k;
        }
    }

    PyObject *top_word;
    Py_ssize_t top_repeats = 0;
    if (best >= 0) {
        const counted_word *e = &slots[best];
        top_repeats = e->count;
        top_word = PyUnicode_New(e->len, 127);
        if (top_word != NULL) {
            Py_UCS1 *out = PyUnicode_1BYTE_DATA(top_word);
            for (Py_ssize_t m = 0; m < e->len; m++) {
                out[m] = LOWER[t[e->start + m]];
            }
        }
    } else {
        top_word = PyUnicode_New(0, 127);
    }
    if (slots != stack_slots) {
        PyMem_Free(slots);
    }
    if (top_word == NULL) {
        return NULL;
    }
    const double uppercase_share = letters >= 20 ? (double)upper / (double)letters : 0.0;
    const double extreme_share = n_words ? (double)extreme / (double)n_words : 0.0;
    const double distinct_share = content ? (double)distinct / (double)content : 1.0;
    /* N: the tuple takes top_word's reference (on failure too). */
    return Py_BuildValue("(nnnnddNnd)", n_words, runs, exclamations, emoticons, uppercase_share,
                         extreme_share, top_word, top_repeats, distinct_share);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(extreme_words, stop_words) -> None: the word lists describe() looks words up in."},
    {"describe", describe, METH_O,
     "describe(text: str) -> tuple | None: TextSignals' fields after n_chars, for ASCII text "
     "(None for any other)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.native.textsignals", NULL, -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_textsignals(void) {
    for (int c = 0; c < 256; c++) {
        const int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        is_letter[c] = (unsigned char)alpha;
        is_upper[c] = (unsigned char)(c >= 'A' && c <= 'Z');
        is_mark[c] = (unsigned char)(c == '!' || c == '?' || c == ':' || c == ';' || c == '=' ||
                                     c == '<');
        LOWER[c] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }
    return PyModule_Create(&module);
}
