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
 *
 * observe(scored, state) -> int: LiveProfile.observe's per-answer work (service/monitoring/live.py:
 * the values kept as doubles in bytearrays, the decision counted, the integrity checks as flags),
 * its Python code being the reference (tests/unit/test_metrics_counts.py holds both to the
 * observe of before).
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


/* describe's fields after length of an ASCII str: out[0..2], and out[3] = oov_share when
 * *has_oov. 0 when the text is not ASCII (nothing set). */
static int fields_of(PyObject *text, vocab_table *v, int scalar, double out[4], int *has_oov) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return -1;
    }
#endif
    if (!PyUnicode_IS_ASCII(text)) {
        return 0;
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
    const double per_100 = 100.0 / (double)(n > 1 ? n : 1);
    out[0] = k.visible ? (double)(k.visible - k.letters) / (double)k.visible : 0.0;
    out[1] = (double)k.exclamations * per_100;
    out[2] = (double)k.emoticons * per_100;
    *has_oov = v != NULL && v->any && k.words;
    out[3] = *has_oov ? 1.0 - (double)k.known / (double)k.words : 0.0;
    return 1;
}

/* The table a describe() argument holds (NULL for None, with no error set); NULL with an error. */
static int table_arg(PyObject *arg, vocab_table **v) {
    *v = NULL;
    if (arg == Py_None) {
        return 0;
    }
    if (!PyCapsule_IsValid(arg, CAPSULE_NAME)) {
        PyErr_SetString(PyExc_TypeError, "describe() takes a vocabulary() table or None");
        return -1;
    }
    *v = PyCapsule_GetPointer(arg, CAPSULE_NAME);
    return *v == NULL ? -1 : 0;
}

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
    vocab_table *v;
    if (table_arg(args[1], &v) < 0) {
        return NULL;
    }
    double f[4];
    int has_oov;
    const int done = fields_of(text, v, scalar, f, &has_oov);
    if (done <= 0) {
        return done < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *oov = has_oov ? PyFloat_FromDouble(f[3]) : Py_NewRef(Py_None);
    /* N: the tuple takes oov's reference (on failure too); a NULL oov makes this return NULL
     * with oov's exception set. */
    return Py_BuildValue("(dddN)", f[0], f[1], f[2], oov);
}

/* ---- LiveProfile.observe's per-answer work (service/monitoring/live.py) ---------------------- */

/* The attribute names observe reads, interned at module init. */
enum {
    A_IS_REPLAY, A_VERDICT, A_REVIEW, A_TEXT_PROBABILITY, A_RISK_SCORE, A_DECISION, A_REASONS,
    A_CODE, A_CONTRIBUTION, A_TEXT, A_RATING, A_ACCOUNT, A_DEVICE, A_CREATED_AT, A_USERNAME,
    A_EMAIL, A_FINGERPRINT, A_IP, A_USER_AGENT, A_ACCEPT_LANGUAGE, A_TIMEZONE, N_ATTRS
};
static const char *const ATTR_NAMES[N_ATTRS] = {
    "is_replay", "verdict", "review", "text_probability", "risk_score", "decision", "reasons",
    "code", "contribution", "text", "rating", "account", "device", "created_at", "username",
    "email", "fingerprint", "ip", "user_agent", "accept_language", "timezone",
};
static PyObject *ATTRS[N_ATTRS];
static PyObject *ONE, *FIVE; /* the rating's bounds */

#define MAX_SLOTS 64
/* observe's flags: bits 0-8 the optional fields missing (in OPTIONAL_FIELDS order), then: */
#define F_LONGER_THAN_REFERENCE (1L << 9)
#define F_TEXT_SCORE_OUT_OF_RANGE (1L << 10)
#define F_RATING_UNEXPECTED (1L << 11)
#define F_TEXT_NOT_DESCRIBED (1L << 12) /* not ASCII: the fields are the caller's to add */

/* Appends n doubles to a bytearray. */
static int append_doubles(PyObject *buffer, const double *x, Py_ssize_t n) {
    const Py_ssize_t size = PyByteArray_GET_SIZE(buffer);
    if (PyByteArray_Resize(buffer, size + n * (Py_ssize_t)sizeof(double)) < 0) {
        return -1;
    }
    memcpy(PyByteArray_AS_STRING(buffer) + size, x, (size_t)n * sizeof(double));
    return 0;
}

/* Sets *out to `not getattr(obj, name)` (missing: None when none_only, else falsy); -1 on error. */
static int is_missing(PyObject *obj, int name, int none_only, int *out) {
    PyObject *value = PyObject_GetAttr(obj, ATTRS[name]);
    if (value == NULL) {
        return -1;
    }
    int missing;
    if (none_only) {
        missing = value == Py_None;
    } else {
        const int truth = PyObject_IsTrue(value);
        missing = truth == 0;
        if (truth < 0) {
            Py_DECREF(value);
            return -1;
        }
    }
    Py_DECREF(value);
    *out = missing;
    return 0;
}

typedef struct {
    PyObject *verdict, *review, *p, *decisions_value, *reasons, *text, *account, *device, *item;
} observe_refs;

static void release(observe_refs *r) {
    Py_XDECREF(r->verdict);
    Py_XDECREF(r->review);
    Py_XDECREF(r->p);
    Py_XDECREF(r->decisions_value);
    Py_XDECREF(r->reasons);
    Py_XDECREF(r->text);
    Py_XDECREF(r->account);
    Py_XDECREF(r->device);
    Py_XDECREF(r->item);
}

/* observe(scored, state) -> int, state being the tuple
 *   (table, risk, text_score, decisions, slot_of_code, n_slots, contributions, text_length,
 *    text_fields, max_length, integrity)
 * LiveProfile.observe's per-answer work, as its Python code does it: -1 for a replay (nothing
 * kept); else the answer's values appended to the bytearrays as doubles (risk; text_score when
 * not None; n_slots contribution sums, a reason adding to slot slot_of_code.get(code, n_slots - 1)
 * in the reasons' order from 0.0; for a non-empty text its length and describe's four fields,
 * NaN for no oov_share), decisions[decision] += 1, and when `integrity` the flags above
 * (max_length: the longest text of the reference, or -1). */
static PyObject *observe(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyTuple_Check(args[1]) || PyTuple_GET_SIZE(args[1]) != 11) {
        PyErr_SetString(PyExc_TypeError, "observe() takes (scored, an 11-tuple state)");
        return NULL;
    }
    PyObject *scored = args[0];
    PyObject *const *state = &PyTuple_GET_ITEM(args[1], 0);
    vocab_table *v;
    if (table_arg(state[0], &v) < 0) {
        return NULL;
    }
    PyObject *risk_buf = state[1], *score_buf = state[2], *decisions = state[3];
    PyObject *slot_of_code = state[4], *contrib_buf = state[6], *length_buf = state[7];
    PyObject *fields_buf = state[8];
    const Py_ssize_t n_slots = PyLong_AsSsize_t(state[5]);
    const Py_ssize_t max_length = PyLong_AsSsize_t(state[9]);
    const int integrity = PyObject_IsTrue(state[10]);
    if ((n_slots == -1 || max_length == -1 || integrity < 0) && PyErr_Occurred()) {
        return NULL;
    }
    if (n_slots < 1 || n_slots > MAX_SLOTS) {
        PyErr_SetString(PyExc_ValueError, "observe() takes 1 to 64 slots");
        return NULL;
    }
    if (!PyByteArray_Check(risk_buf) || !PyByteArray_Check(score_buf) ||
        !PyByteArray_Check(contrib_buf) || !PyByteArray_Check(length_buf) ||
        !PyByteArray_Check(fields_buf) || !PyDict_Check(decisions) || !PyDict_Check(slot_of_code)) {
        PyErr_SetString(PyExc_TypeError, "observe() takes bytearrays and dicts");
        return NULL;
    }
    PyObject *replay = PyObject_GetAttr(scored, ATTRS[A_IS_REPLAY]);
    if (replay == NULL) {
        return NULL;
    }
    const int is_replay = PyObject_IsTrue(replay);
    Py_DECREF(replay);
    if (is_replay != 0) {
        return is_replay < 0 ? NULL : PyLong_FromLong(-1);
    }
    observe_refs r = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    long flags = 0;
    if ((r.verdict = PyObject_GetAttr(scored, ATTRS[A_VERDICT])) == NULL ||
        (r.review = PyObject_GetAttr(scored, ATTRS[A_REVIEW])) == NULL) {
        goto error;
    }
    /* risk, then text_score */
    r.item = PyObject_GetAttr(r.verdict, ATTRS[A_RISK_SCORE]);
    if (r.item == NULL) {
        goto error;
    }
    double x = PyFloat_AsDouble(r.item);
    if ((x == -1.0 && PyErr_Occurred()) || append_doubles(risk_buf, &x, 1) < 0) {
        goto error;
    }
    Py_CLEAR(r.item);
    if ((r.p = PyObject_GetAttr(scored, ATTRS[A_TEXT_PROBABILITY])) == NULL) {
        goto error;
    }
    double p = 0.0;
    if (r.p != Py_None) {
        p = PyFloat_AsDouble(r.p);
        if ((p == -1.0 && PyErr_Occurred()) || append_doubles(score_buf, &p, 1) < 0) {
            goto error;
        }
    }
    /* decisions[decision] += 1 */
    if ((r.item = PyObject_GetAttr(r.verdict, ATTRS[A_DECISION])) == NULL) {
        goto error;
    }
    PyObject *seen = PyDict_GetItemWithError(decisions, r.item); /* borrowed */
    if (seen == NULL && PyErr_Occurred()) {
        goto error;
    }
    r.decisions_value = seen == NULL ? PyLong_FromLong(1) : PyNumber_Add(seen, ONE);
    if (r.decisions_value == NULL || PyDict_SetItem(decisions, r.item, r.decisions_value) < 0) {
        goto error;
    }
    Py_CLEAR(r.item);
    /* the contributions summed per slot */
    double sums[MAX_SLOTS];
    for (Py_ssize_t i = 0; i < n_slots; i++) {
        sums[i] = 0.0;
    }
    if ((r.reasons = PyObject_GetAttr(r.verdict, ATTRS[A_REASONS])) == NULL) {
        goto error;
    }
    PyObject *reasons = PySequence_Fast(r.reasons, "reasons must be iterable");
    if (reasons == NULL) {
        goto error;
    }
    Py_SETREF(r.reasons, reasons);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(reasons); i++) {
        PyObject *reason = PySequence_Fast_GET_ITEM(reasons, i);
        if ((r.item = PyObject_GetAttr(reason, ATTRS[A_CODE])) == NULL) {
            goto error;
        }
        PyObject *slot = PyDict_GetItemWithError(slot_of_code, r.item); /* borrowed */
        if (slot == NULL && PyErr_Occurred()) {
            goto error;
        }
        Py_ssize_t j = n_slots - 1;
        if (slot != NULL) {
            j = PyLong_AsSsize_t(slot);
            if (j == -1 && PyErr_Occurred()) {
                goto error;
            }
            if (j < 0 || j >= n_slots) {
                PyErr_SetString(PyExc_IndexError, "a contribution slot out of range");
                goto error;
            }
        }
        Py_CLEAR(r.item);
        if ((r.item = PyObject_GetAttr(reason, ATTRS[A_CONTRIBUTION])) == NULL) {
            goto error;
        }
        const double c = PyFloat_AsDouble(r.item);
        if (c == -1.0 && PyErr_Occurred()) {
            goto error;
        }
        Py_CLEAR(r.item);
        sums[j] += c;
    }
    if (append_doubles(contrib_buf, sums, n_slots) < 0) {
        goto error;
    }
    /* the text */
    if ((r.text = PyObject_GetAttr(r.review, ATTRS[A_TEXT])) == NULL) {
        goto error;
    }
    int has_text = 0;
    if (r.text != Py_None) {
        has_text = PyObject_IsTrue(r.text);
        if (has_text < 0) {
            goto error;
        }
    }
    if (has_text) {
        if (!PyUnicode_Check(r.text)) {
            PyErr_SetString(PyExc_TypeError, "describe() takes a str");
            goto error;
        }
        const double length = (double)PyUnicode_GET_LENGTH(r.text);
        if (append_doubles(length_buf, &length, 1) < 0) {
            goto error;
        }
        double f[4];
        int has_oov;
        const int done = fields_of(r.text, v, 0, f, &has_oov);
        if (done < 0) {
            goto error;
        }
        if (done == 0) {
            flags |= F_TEXT_NOT_DESCRIBED;
        } else {
            if (!has_oov) {
                f[3] = Py_NAN;
            }
            if (append_doubles(fields_buf, f, 4) < 0) {
                goto error;
            }
        }
    }
    if (integrity) {
        int missing;
        if ((r.account = PyObject_GetAttr(r.review, ATTRS[A_ACCOUNT])) == NULL ||
            (r.device = PyObject_GetAttr(r.review, ATTRS[A_DEVICE])) == NULL) {
            goto error;
        }
        if (r.text == Py_None) {
            flags |= 1L << 0;
        }
        static const struct {
            int device;
            int name;
            int none_only;
        } fields[] = {
            {0, A_CREATED_AT, 1}, {0, A_USERNAME, 0},    {0, A_EMAIL, 0},
            {1, A_FINGERPRINT, 0}, {1, A_IP, 0},         {1, A_USER_AGENT, 0},
            {1, A_ACCEPT_LANGUAGE, 0}, {1, A_TIMEZONE, 0},
        };
        for (int i = 0; i < 8; i++) {
            if (is_missing(fields[i].device ? r.device : r.account, fields[i].name,
                           fields[i].none_only, &missing) < 0) {
                goto error;
            }
            flags |= (long)missing << (i + 1);
        }
        if (max_length >= 0 && has_text && PyUnicode_GET_LENGTH(r.text) > max_length) {
            flags |= F_LONGER_THAN_REFERENCE;
        }
        if (r.p != Py_None && !(0.0 <= p && p <= 1.0)) {
            flags |= F_TEXT_SCORE_OUT_OF_RANGE;
        }
        if ((r.item = PyObject_GetAttr(r.review, ATTRS[A_RATING])) == NULL) {
            goto error;
        }
        const int low = PyObject_RichCompareBool(ONE, r.item, Py_LE);
        if (low < 0) {
            goto error;
        }
        int in_range = low;
        if (low) {
            in_range = PyObject_RichCompareBool(r.item, FIVE, Py_LE);
            if (in_range < 0) {
                goto error;
            }
        }
        if (!in_range) {
            flags |= F_RATING_UNEXPECTED;
        }
    }
    release(&r);
    return PyLong_FromLong(flags);
error:
    release(&r);
    return NULL;
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
    {"observe", (PyCFunction)(void (*)(void))observe, METH_FASTCALL,
     "observe(scored, state) -> int: LiveProfile.observe's per-answer work (see "
     "service/monitoring/live.py)."},
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
    for (int i = 0; i < N_ATTRS; i++) {
        if (ATTRS[i] == NULL && (ATTRS[i] = PyUnicode_InternFromString(ATTR_NAMES[i])) == NULL) {
            return NULL;
        }
    }
    if ((ONE == NULL && (ONE = PyLong_FromLong(1)) == NULL) ||
        (FIVE == NULL && (FIVE = PyLong_FromLong(5)) == NULL)) {
        return NULL;
    }
    return PyModule_Create(&module);
}
