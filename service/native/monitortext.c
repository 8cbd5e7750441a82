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
 * The counts are taken 64 bytes at a time with SSE2 (a mask per character class, counted with
 * popcount; words from the runs of letter bits), one character at a time elsewhere (and by
 * describe_scalar, which tests hold to the Python code too).
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

/* ---- the vocabulary table: open addressing, at most 5/8 full ----------------------------------
 *
 * A word (lower-case a-z bytes) is keyed by its length and its first 8 bytes packed into a uint64
 * (little-endian, zero-padded): for words of up to 8 letters, most of them, one integer compare
 * decides, without reading the pool; longer ones compare their bytes after the 8th too. Slots are
 * 16 bytes, so the table of a ten-thousand-word vocabulary stays in a core's L2 cache. */

#define HASH_K1 0x9E3779B97F4A7C15ull
#define HASH_K2 0xC2B2AE3D27D4EB4Full

typedef struct {
    uint64_t head;  /* the entry's first 8 bytes, packed */
    uint32_t len;   /* 0: empty slot (entries are non-empty) */
    uint32_t tail;  /* offset into pool of the entry's bytes after the 8th (len > 8) */
} vocab_slot;

/* The last answers for short words (up to 8 letters: head and length are the whole word), by
 * 11 bits of a hash of the head (32 KiB): the frequent words of texts are answered from the L1
 * cache, not from slots spread over the whole table. */
#define RECENT_BITS 11
typedef struct {
    uint64_t head;
    uint32_t len; /* 0: empty */
    uint32_t known;
} recent_entry;

typedef struct {
    int any;        /* the vocabulary had at least one entry (Python truthiness) */
    unsigned shift; /* 64 - log2(capacity) */
    recent_entry recent[1 << RECENT_BITS]; /* written by describe, under the GIL */
    size_t mask;    /* capacity - 1 */
    vocab_slot *slots;
    char *pool;     /* the bytes after the 8th of the long entries, one after another */
} vocab_table;

/* Up to 8 bytes of letters, lower-cased (c | 0x20 for A-Z and a-z alike), packed. */
static inline uint64_t pack_lower(const unsigned char *w, Py_ssize_t len) {
    uint64_t x = 0;
    const Py_ssize_t m = len < 8 ? len : 8;
    for (Py_ssize_t k = 0; k < m; k++) {
        x |= (uint64_t)(w[k] | 0x20) << (8 * k);
    }
    return x;
}

/* The slot index of a word of letters (any case: hashed lower-cased) given its packed head. */
static inline size_t slot_of(const vocab_table *v, const unsigned char *w, Py_ssize_t len,
                             uint64_t head) {
    uint64_t h = head + (uint64_t)len;
    for (Py_ssize_t k = 8; k < len; k += 8) {
        h = (h ^ pack_lower(w + k, len - k)) * HASH_K2;
    }
    return (size_t)((h * HASH_K1) >> v->shift);
}

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
    if ((uint64_t)n > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a vocabulary entry is too long");
        return -1;
    }
    *s = d;
    *len = n;
    return 0;
}

/* Whether the entry in slot e is the word w (letters, any case) of that length and head. */
static inline int slot_is(const vocab_table *v, const vocab_slot *e, const unsigned char *w,
                          Py_ssize_t len, uint64_t head) {
    if (e->head != head || (Py_ssize_t)e->len != len) {
        return 0;
    }
    const unsigned char *p = (const unsigned char *)v->pool + e->tail;
    for (Py_ssize_t m = 8; m < len; m++) {
        if ((w[m] | 0x20) != p[m - 8]) {
            return 0;
        }
    }
    return 1;
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
            if (len > 8) {
                if (total > (Py_ssize_t)UINT32_MAX - (len - 8)) {
                    Py_DECREF(list);
                    PyErr_SetString(PyExc_ValueError, "a vocabulary's long entries are too long");
                    return NULL;
                }
                total += len - 8;
            }
        }
    }
    size_t cap = 16;
    unsigned bits = 4;
    while (cap / 8 * 5 < (size_t)usable + 1) {
        if (cap > ((size_t)PY_SSIZE_T_MAX / sizeof(vocab_slot)) / 4) {
            Py_DECREF(list);
            return PyErr_NoMemory();
        }
        cap *= 2;
        bits++;
    }
    vocab_table *v = PyMem_Malloc(sizeof(vocab_table));
    if (v == NULL) {
        Py_DECREF(list);
        return PyErr_NoMemory();
    }
    memset(v->recent, 0, sizeof v->recent);
    v->any = count > 0;
    v->shift = 64 - bits;
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
        const uint64_t head = pack_lower(s, len);
        size_t j = slot_of(v, s, len, head);
        int present = 0;
        while (v->slots[j].len != 0) {
            if (slot_is(v, &v->slots[j], s, len, head)) {
                present = 1; /* equal str entries (a list, or str subclasses) */
                break;
            }
            j = (j + 1) & v->mask;
        }
        if (present) {
            continue;
        }
        const Py_ssize_t rest = len > 8 ? len - 8 : 0;
        if (used > total - rest) { /* cannot happen: the first pass summed these lengths */
            free_table(v);
            Py_DECREF(list);
            PyErr_SetString(PyExc_RuntimeError, "the vocabulary changed while it was read");
            return NULL;
        }
        if (rest > 0) {
            memcpy(v->pool + used, s + 8, (size_t)rest);
        }
        v->slots[j].head = head;
        v->slots[j].len = (uint32_t)len;
        v->slots[j].tail = (uint32_t)used;
        used += rest;
    }
    Py_DECREF(list);
    PyObject *capsule = PyCapsule_New(v, CAPSULE_NAME, capsule_destructor);
    if (capsule == NULL) {
        free_table(v);
    }
    return capsule;
}

/* pack_lower(w, len) in one load when 8 bytes can be read from w (avail: the bytes from w to the
 * end of the text) and the machine is little-endian. */
static inline uint64_t head_of(const unsigned char *w, Py_ssize_t len, Py_ssize_t avail) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (avail >= 8) {
        uint64_t x;
        memcpy(&x, w, 8);
        x |= 0x2020202020202020ull;
        return len >= 8 ? x : x & ((1ull << (8 * len)) - 1);
    }
#else
    (void)avail;
#endif
    return pack_lower(w, len);
}

/* Whether the word w (letters, any case) of that length is in the table; avail as head_of's. */
static inline int known_word(vocab_table *v, const unsigned char *w, Py_ssize_t len,
                             Py_ssize_t avail) {
    const uint64_t head = head_of(w, len, avail);
    recent_entry *r = NULL;
    if (len <= 8) {
        r = &v->recent[(head * HASH_K2) >> (64 - RECENT_BITS)];
        if (r->head == head && (Py_ssize_t)r->len == len) {
            return (int)r->known;
        }
    }
    size_t j = slot_of(v, w, len, head);
    int found;
    for (;;) {
        const vocab_slot *e = &v->slots[j];
        if (e->len == 0) {
            found = 0;
            break;
        }
        if (slot_is(v, e, w, len, head)) {
            found = 1;
            break;
        }
        j = (j + 1) & v->mask;
    }
    if (r != NULL) {
        r->head = head;
        r->len = (uint32_t)len;
        r->known = (uint32_t)found;
    }
    return found;
}

/* ---- the per-text counts ----------------------------------------------------------------- */

typedef struct {
    Py_ssize_t visible, letters, exclamations, emoticons, words, known;
} counts;

/* An emoticon starting with c at t[i - 1] (c one of ":;=<"): 1 or 0. */
static inline int emoticon_at(const unsigned char *t, Py_ssize_t n, Py_ssize_t i, unsigned char c) {
    if (c == '<') {
        return i < n && t[i] == '3';
    }
    Py_ssize_t j = i; /* the character after c */
    if (j < n && t[j] == '-') {
        j++;
    }
    if (j < n) {
        const unsigned char d = t[j];
        return d == ')' || d == '(' || d == 'D' || d == 'P' || d == 'p';
    }
    return 0;
}

/* The counts one character at a time (where SSE2 is not there; and describe_scalar, for tests). */
static void count_scalar(const unsigned char *t, Py_ssize_t n, vocab_table *v, counts *k) {
    Py_ssize_t visible = 0, letters = 0, exclamations = 0, emoticons = 0, words = 0, known = 0;
    Py_ssize_t i = 0;
    while (i < n) {
        const unsigned char c = t[i];
        const unsigned char cls = CLASS[c & 127]; /* ASCII: c < 128 */
        if (cls == LETTER) {
            const Py_ssize_t start = i;
            i++;
            while (i < n && CLASS[t[i] & 127] == LETTER) {
                i++;
            }
            const Py_ssize_t len = i - start;
            letters += len;
            words++;
            if (v != NULL) {
                known += known_word(v, t + start, len, n - start);
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
        } else if (c == ':' || c == ';' || c == '=' || c == '<') {
            emoticons += emoticon_at(t, n, i, c);
        }
    }
    visible += letters;
    k->visible = visible;
    k->letters = letters;
    k->exclamations = exclamations;
    k->emoticons = emoticons;
    k->words = words;
    k->known = known;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Bit i of each mask: byte i of the 64 at p is a letter (A-Z, a-z), whitespace (9-13, 28-32),
 * '!', or one of ":;=<" (where an emoticon can start). The bytes are ASCII (< 128), so signed
 * byte compares order them as unsigned ones would. */
static inline void block_masks(const unsigned char *p, uint64_t *letter, uint64_t *space,
                               uint64_t *bang, uint64_t *smiley) {
    uint64_t l = 0, s = 0, b = 0, e = 0;
    for (int q = 0; q < 4; q++) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * q));
        const __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
        const __m128i is_letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                                _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
        const __m128i is_space = _mm_or_si128(
            _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(8)), _mm_cmplt_epi8(x, _mm_set1_epi8(14))),
            _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(27)), _mm_cmplt_epi8(x, _mm_set1_epi8(33))));
        const __m128i is_bang = _mm_cmpeq_epi8(x, _mm_set1_epi8('!'));
        const __m128i is_smiley = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(':')), _mm_cmpeq_epi8(x, _mm_set1_epi8(';'))),
            _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('=')), _mm_cmpeq_epi8(x, _mm_set1_epi8('<'))));
        l |= (uint64_t)(uint16_t)_mm_movemask_epi8(is_letter) << (16 * q);
        s |= (uint64_t)(uint16_t)_mm_movemask_epi8(is_space) << (16 * q);
        b |= (uint64_t)(uint16_t)_mm_movemask_epi8(is_bang) << (16 * q);
        e |= (uint64_t)(uint16_t)_mm_movemask_epi8(is_smiley) << (16 * q);
    }
    *letter = l;
    *space = s;
    *bang = b;
    *smiley = e;
}

/* The counts 64 bytes at a time: masks of each block's character classes, counted with popcount;
 * the words are the runs of letter bits, found from their starts and ends (a start is a letter
 * bit after a non-letter one, an end a non-letter bit after a letter one), in position order
 * (they alternate), the one open at a block's end carried to the next. */
static void count_blocks(const unsigned char *t, Py_ssize_t n, vocab_table *v, counts *k) {
    Py_ssize_t spaces = 0, letters = 0, exclamations = 0, emoticons = 0, words = 0, known = 0;
    Py_ssize_t open = -1;   /* the start of the word the last block ended in, or -1 */
    uint64_t carry = 0;      /* 1 when the last block's last byte was a letter */
    unsigned char tail[64];
    for (Py_ssize_t base = 0; base < n; base += 64) {
        const unsigned char *p = t + base;
        if (n - base < 64) { /* the last, partial block: padded with NUL (no class) */
            memset(tail, 0, sizeof tail);
            memcpy(tail, p, (size_t)(n - base));
            p = tail;
        }
        uint64_t letter, space, bang, smiley;
        block_masks(p, &letter, &space, &bang, &smiley);
        spaces += __builtin_popcountll(space);
        letters += __builtin_popcountll(letter);
        exclamations += __builtin_popcountll(bang);
        while (smiley) {
            const Py_ssize_t i = base + __builtin_ctzll(smiley);
            smiley &= smiley - 1;
            emoticons += emoticon_at(t, n, i + 1, t[i]);
        }
        const uint64_t after_letter = (letter << 1) | carry;
        uint64_t starts = letter & ~after_letter;
        words += __builtin_popcountll(starts);
        carry = letter >> 63;
        if (v == NULL) {
            continue;
        }
        uint64_t ends = ~letter & after_letter;
        for (;;) {
            if (open < 0) {
                if (!starts) {
                    break;
                }
                open = base + __builtin_ctzll(starts);
                starts &= starts - 1;
            } else {
                if (!ends) {
                    break;
                }
                const Py_ssize_t end = base + __builtin_ctzll(ends);
                ends &= ends - 1;
                known += known_word(v, t + open, end - open, n - open);
                open = -1;
            }
        }
    }
    if (v != NULL && open >= 0) {
        known += known_word(v, t + open, n - open, n - open);
    }
    k->visible = n - spaces;
    k->letters = letters;
    k->exclamations = exclamations;
    k->emoticons = emoticons;
    k->words = words;
    k->known = known;
}
#endif


static PyObject *describe_with(PyObject *const *args, Py_ssize_t nargs, int scalar) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "describe() takes (text, vocabulary or None)");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "describe() takes a str");
        return NULL;
    }
    vocab_table *v = NULL;
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

    counts k = {0, 0, 0, 0, 0, 0};
#if defined(__SSE2__)
    if (!scalar) {
        count_blocks(t, n, v, &k);
    } else
#endif
    {
        (void)scalar;
        count_scalar(t, n, v, &k);
    }
    const Py_ssize_t visible = k.visible, letters = k.letters, exclamations = k.exclamations;
    const Py_ssize_t emoticons = k.emoticons, words = k.words, known = k.known;

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

static PyObject *describe(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    return describe_with(args, nargs, 0);
}

static PyObject *describe_scalar(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    return describe_with(args, nargs, 1);
}

static PyMethodDef methods[] = {
    {"vocabulary", vocabulary, METH_O,
     "vocabulary(words) -> capsule: the lookup table describe() takes, built once per vocabulary."},
    {"describe", (PyCFunction)(void (*)(void))describe, METH_FASTCALL,
     "describe(text: str, vocabulary: capsule | None) -> tuple | None: TextDescriptors' fields "
     "after length, for ASCII text (None for any other)."},
    {"describe_scalar", (PyCFunction)(void (*)(void))describe_scalar, METH_FASTCALL,
     "describe() one character at a time, as where SSE2 is not there (for tests)."},
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
    }
    return PyModule_Create(&module);
}
