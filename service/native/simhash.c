/* SimHash of a text (service/scoring/text_fingerprint.py, simhash_of), in C.
 *
 * simhash_of(text) -> int | None: the whole of the Python simhash_of for ASCII text: words as
 * `normalise` makes them (ASCII letters, digits and '_' kept, letters lower-cased, anything else a
 * separator), None under MIN_WORDS words, else the per-bit majority over the 8-byte BLAKE2b
 * digests (big-endian) of the distinct words. None for None; any other argument (non-ASCII text,
 * not a str) goes to the Python function given to set_fallback, which stays the reference.
 *
 * majority(digests) -> int: only the bit vote: `digests` holds n 8-byte big-endian hashes back
 * to back; bit k of the result is set when more than half of the n hashes have bit k set.
 *
 * digest(data) -> bytes: BLAKE2b of `data` with an 8-byte digest, no key, salt or personalisation
 * (hashlib.blake2b(data, digest_size=8).digest()); written here from the description in RFC 7693.
 *
 * Words recur across reviews, so their digests are kept in a bounded memo (an open-addressing
 * table of the words, started over when full, between texts); a text's distinct words are its
 * distinct memo slots, found with a small set of the slots counted so far.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_WORDS 6

/* ---- BLAKE2b (RFC 7693), 8-byte digest, no key ---------------------------------------------- */

static const uint64_t blake2b_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t blake2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotr64(uint64_t x, unsigned n) { return (x >> n) | (x << (64 - n)); }

static inline uint64_t load64_le(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) {
        x = (x << 8) | p[i];
    }
    return x;
}

#define B2_G(a, b, c, d, x, y)          \
    do {                                \
        a = a + b + (x);                \
        d = rotr64(d ^ a, 32);          \
        c = c + d;                      \
        b = rotr64(b ^ c, 24);          \
        a = a + b + (y);                \
        d = rotr64(d ^ a, 16);          \
        c = c + d;                      \
        b = rotr64(b ^ c, 63);          \
    } while (0)

/* One compression of a 128-byte block; `t` the bytes hashed so far, this block included. */
static void blake2b_compress(uint64_t h[8], const unsigned char block[128], uint64_t t, int last) {
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++) {
        m[i] = load64_le(block + 8 * i);
    }
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = blake2b_iv[i];
    }
    v[12] ^= t; /* the high 64 bits of the 128-bit counter stay 0: texts are under 2**64 bytes */
    if (last) {
        v[14] = ~v[14];
    }
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = blake2b_sigma[r];
        B2_G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
        B2_G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
        B2_G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
        B2_G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
        B2_G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
        B2_G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
        B2_G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
        B2_G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) {
        h[i] ^= v[i] ^ v[i + 8];
    }
}

/* The 8-byte digest of data[0:n], read as a big-endian integer (as SimHash reads it). */
static uint64_t blake2b8(const unsigned char *data, size_t n) {
    uint64_t h[8];
    memcpy(h, blake2b_iv, sizeof h);
    h[0] ^= 0x01010000ULL ^ 8; /* fan-out 1, depth 1, no key, 8-byte digest */
    uint64_t t = 0;
    while (n > 128) {
        t += 128;
        blake2b_compress(h, data, t, 0);
        data += 128;
        n -= 128;
    }
    unsigned char last[128] = {0};
    if (n) {
        memcpy(last, data, n);
    }
    t += n;
    blake2b_compress(h, last, t, 1);
    /* The digest is h[0]'s bytes little-endian; as a big-endian number that is h[0] byte-swapped. */
    uint64_t x = h[0], out = 0;
    for (int i = 0; i < 8; i++) {
        out = (out << 8) | (x & 0xff);
        x >>= 8;
    }
    return out;
}

/* ---- the bit vote ---------------------------------------------------------------------------- */

/* spread[b]: byte i is bit i of b. Adding spread[byte j of d] to lanes[j] counts bit 8j+i of d in
 * byte i of lanes[j]; lanes are folded into wide counts before a byte can reach 256. */
static uint64_t spread[256];

typedef struct {
    uint64_t lanes[8];
    Py_ssize_t counts[64];
    Py_ssize_t n, pending;
} Vote;

static void vote_fold(Vote *v) {
    for (int j = 0; j < 8; j++) {
        uint64_t lane = v->lanes[j];
        for (int i = 0; i < 8; i++) {
            v->counts[8 * j + i] += (Py_ssize_t)((lane >> (8 * i)) & 0xff);
        }
        v->lanes[j] = 0;
    }
    v->pending = 0;
}

static inline void vote_add(Vote *v, uint64_t d) {
    for (int j = 0; j < 8; j++) {
        v->lanes[j] += spread[(d >> (8 * j)) & 0xff];
    }
    v->n++;
    if (++v->pending == 255) {
        vote_fold(v);
    }
}

static uint64_t vote_result(Vote *v) {
    vote_fold(v);
    uint64_t out = 0;
    for (int k = 0; k < 64; k++) {
        if (v->counts[k] * 2 > v->n) {
            out |= (uint64_t)1 << k;
        }
    }
    return out;
}

static PyObject *majority(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (view.len % 8 != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "digests must be whole 8-byte hashes");
        return NULL;
    }
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len / 8;
    Vote vote;
    memset(&vote, 0, sizeof vote);
    for (Py_ssize_t i = 0; i < n; i++, p += 8) {
        uint64_t d = 0;
        for (int b = 0; b < 8; b++) {
            d = (d << 8) | p[b];
        }
        vote_add(&vote, d);
    }
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(vote_result(&vote));
}

static PyObject *digest(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    uint64_t d = blake2b8(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    unsigned char out[8];
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(d & 0xff);
        d >>= 8;
    }
    return PyBytes_FromStringAndSize((const char *)out, 8);
}

/* ---- the memo of word digests ----------------------------------------------------------------- */

/* A slot holds a word and its digest, 16 bytes, so that a look-up costs one cache line. A word of
 * up to 8 bytes is its own key: its bytes little-endian, zero-padded (words have no zero byte, so
 * the padding tells the length; ASCII keeps bit 63 clear). A longer word is keyed by a hash of its
 * bytes with bit 63 set, and its bytes are kept in the arena (long_off/long_len of the slot). */
typedef struct {
    uint64_t word; /* 0 in an empty slot */
    uint64_t digest; /* its BLAKE2b digest, big-endian */
} Slot;

#define LONG_WORD ((uint64_t)1 << 63)

typedef struct {
    Slot *slots;
    uint32_t *long_off, *long_len; /* read only for the slots of long words */
    size_t mask;                   /* slots - 1, a power of two minus 1 */
    size_t count, max_count;
    unsigned char *arena;
    size_t used, cap;
} Memo;

/* The shared memo: up to 32768 words (as the Python memo), the table at most half full. */
#define MEMO_WORDS ((size_t)1 << 15)
#define MEMO_ARENA ((size_t)1 << 19)

static Memo memo;
static uint64_t seed;
static PyObject *fallback;

/* word_char[c]: the lower-cased c when c is an ASCII letter, digit or '_', else 0. */
static unsigned char word_char[256];

static size_t table_size(size_t words) {
    size_t slots = 16;
    while (slots < 2 * words) {
        slots <<= 1;
    }
    return slots;
}

/* A memo for up to max_count words and cap bytes of long words, its table sized for `words`. */
static int memo_init(Memo *m, size_t max_count, size_t words, size_t cap) {
    size_t slots = table_size(words);
    m->slots = calloc(slots, sizeof(Slot));
    m->long_off = malloc(slots * sizeof(uint32_t));
    m->long_len = malloc(slots * sizeof(uint32_t));
    m->arena = malloc(cap ? cap : 1);
    if (m->slots == NULL || m->long_off == NULL || m->long_len == NULL || m->arena == NULL) {
        free(m->slots);
        free(m->long_off);
        free(m->long_len);
        free(m->arena);
        memset(m, 0, sizeof *m);
        return -1;
    }
    m->mask = slots - 1;
    m->count = 0;
    m->max_count = max_count;
    m->used = 0;
    m->cap = cap;
    return 0;
}

static void memo_free(Memo *m) {
    free(m->slots);
    free(m->long_off);
    free(m->long_len);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static inline uint64_t mix64(uint64_t x);

/* The table made larger for `words` more words: it grows with the words it holds, as a smaller
 * table is fewer cache misses. */
static int memo_grow(Memo *m, size_t words) {
    Memo bigger;
    if (memo_init(&bigger, m->max_count, m->count + words, m->cap) < 0) {
        return -1;
    }
    free(bigger.arena);
    bigger.arena = m->arena;
    bigger.used = m->used;
    bigger.count = m->count;
    for (size_t i = 0; i <= m->mask; i++) {
        uint64_t key = m->slots[i].word;
        if (key == 0) {
            continue;
        }
        size_t j = (size_t)mix64(key) & bigger.mask;
        while (bigger.slots[j].word != 0) {
            j = (j + 1) & bigger.mask;
        }
        bigger.slots[j] = m->slots[i];
        if (key & LONG_WORD) {
            bigger.long_off[j] = m->long_off[i];
            bigger.long_len[j] = m->long_len[i];
        }
    }
    m->arena = NULL;
    memo_free(m);
    *m = bigger;
    return 0;
}

static void memo_clear(Memo *m) {
    memset(m->slots, 0, (m->mask + 1) * sizeof(Slot));
    m->count = 0;
    m->used = 0;
}

/* Seeded mixing for the table index (not the SimHash digest): words an attacker chooses cannot be
 * made to collide without the per-process seed. */
static inline uint64_t mix64(uint64_t x) {
    x ^= seed;
    x ^= x >> 31;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

/* The key of a word over 8 bytes: a hash of its bytes, bit 63 set. */
static inline uint64_t long_key(const unsigned char *p, size_t n) {
    uint64_t h = (uint64_t)n * 0x9e3779b97f4a7c15ULL;
    while (n >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        h = (h ^ x) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = n; i > 0; i--) {
        tail = (tail << 8) | p[i - 1];
    }
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    return mix64(h) | LONG_WORD;
}

/* The words of one call already counted: slot numbers + 1 in a small open-addressing set. */
typedef struct {
    uint32_t *cells;
    size_t mask;
} Seen;

static inline int seen_first(Seen *s, uint32_t v) {
    size_t i = v & s->mask;
    while (s->cells[i]) {
        if (s->cells[i] == v) {
            return 0;
        }
        i = (i + 1) & s->mask;
    }
    s->cells[i] = v;
    return 1;
}

/* The memo slot of the word arena[used : used + n] (written there lower-cased; `key` its packed
 * bytes when n <= 8), inserted with its digest when new. The memo has room (the caller checks). */
static inline size_t memo_slot(Memo *m, size_t n, uint64_t key) {
    const unsigned char *word = m->arena + m->used;
    if (n > 8) {
        key = long_key(word, n);
    }
    size_t i = (size_t)mix64(key) & m->mask;
    for (;;) {
        Slot *s = &m->slots[i];
        if (s->word == key) {
            if (n <= 8 || (m->long_len[i] == n && memcmp(m->arena + m->long_off[i], word, n) == 0)) {
                return i;
            }
        } else if (s->word == 0) {
            s->word = key;
            s->digest = blake2b8(word, n);
            if (n > 8) {
                m->long_off[i] = (uint32_t)m->used;
                m->long_len[i] = (uint32_t)n;
                m->used += n;
            }
            m->count++;
            return i;
        }
        i = (i + 1) & m->mask;
    }
}

#define SEEN_ON_STACK 2048

/* SimHash of the ASCII text[0:n]; *ok set to 0 when the text has under MIN_WORDS words, to -1
 * when out of memory. At most n/2 + 1 words: `seen` is sized from that. */
static uint64_t simhash_ascii(Memo *m, const unsigned char *text, size_t n, int *ok) {
    uint32_t cells_on_stack[SEEN_ON_STACK];
    Seen seen;
    size_t cells = table_size(n / 2 + 1);
    if (cells <= SEEN_ON_STACK) {
        seen.cells = cells_on_stack;
        memset(cells_on_stack, 0, cells * sizeof(uint32_t));
    } else if ((seen.cells = calloc(cells, sizeof(uint32_t))) == NULL) {
        *ok = -1;
        return 0;
    }
    seen.mask = cells - 1;
    Vote vote;
    memset(&vote, 0, sizeof vote);
    size_t words = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = word_char[text[i]];
        if (!c) {
            i++;
            continue;
        }
        unsigned char *out = m->arena + m->used;
        uint64_t key = 0;
        size_t len = 0;
        do {
            if (len < 8) {
                key |= (uint64_t)c << (8 * len);
            }
            out[len++] = c;
            i++;
        } while (i < n && (c = word_char[text[i]]) != 0);
        size_t slot = memo_slot(m, len, key);
        if (seen_first(&seen, (uint32_t)slot + 1)) {
            vote_add(&vote, m->slots[slot].digest);
        }
        words++;
    }
    if (seen.cells != cells_on_stack) {
        free(seen.cells);
    }
    *ok = words >= MIN_WORDS;
    return vote_result(&vote);
}

static PyObject *simhash_of(PyObject *self, PyObject *text) {
    (void)self;
    if (text == Py_None) {
        Py_RETURN_NONE;
    }
    if (fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "simhash_of: set_fallback was not called");
        return NULL;
    }
    if (!PyUnicode_Check(text) || !PyUnicode_IS_READY(text) || !PyUnicode_IS_ASCII(text)) {
        return PyObject_CallOneArg(fallback, text);
    }
    size_t n = (size_t)PyUnicode_GET_LENGTH(text);
    if (n == 0) {
        Py_RETURN_NONE;
    }
    if (n > UINT32_MAX / 4) {
        return PyObject_CallOneArg(fallback, text);
    }
    const unsigned char *data = PyUnicode_1BYTE_DATA(text);
    /* At most n/2 + 1 new words and n new bytes: room for them, or start the memo over; a text
     * too long for the shared memo gets one of its own for this call. */
    size_t bound = n / 2 + 1;
    int ok = 0;
    uint64_t h;
    if (bound <= MEMO_WORDS && n <= MEMO_ARENA) {
        if (memo.count + bound > memo.max_count || memo.used + n > memo.cap) {
            memo_clear(&memo);
        }
        if (2 * (memo.count + bound) > memo.mask + 1 && memo_grow(&memo, bound) < 0) {
            return PyErr_NoMemory();
        }
        h = simhash_ascii(&memo, data, n, &ok);
    } else {
        Memo own;
        if (memo_init(&own, bound, bound, n) < 0) {
            return PyErr_NoMemory();
        }
        h = simhash_ascii(&own, data, n, &ok);
        memo_free(&own);
    }
    if (ok < 0) {
        return PyErr_NoMemory();
    }
    if (!ok) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLongLong(h);
}

static PyObject *set_fallback(PyObject *self, PyObject *fn) {
    (void)self;
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "set_fallback needs a callable");
        return NULL;
    }
    Py_INCREF(fn);
    Py_XSETREF(fallback, fn);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"simhash_of", simhash_of, METH_O,
     "simhash_of(text: str | None) -> int | None: SimHash of the text's distinct words (ASCII in C,"
     " anything else through the fallback)."},
    {"set_fallback", set_fallback, METH_O,
     "set_fallback(fn): the function simhash_of calls for non-ASCII text or a non-str."},
    {"majority", majority, METH_O,
     "majority(digests: bytes) -> int: SimHash's per-bit vote over 8-byte big-endian hashes."},
    {"digest", digest, METH_O,
     "digest(data: bytes) -> bytes: hashlib.blake2b(data, digest_size=8).digest()."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.native.simhash", NULL, -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_simhash(void) {
    for (int b = 0; b < 256; b++) {
        uint64_t s = 0;
        for (int i = 0; i < 8; i++) {
            s |= (uint64_t)((b >> i) & 1) << (8 * i);
        }
        spread[b] = s;
        unsigned char c = 0;
        if ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || b == '_') {
            c = (unsigned char)b;
        } else if (b >= 'A' && b <= 'Z') {
            c = (unsigned char)(b - 'A' + 'a');
        }
        word_char[b] = c;
    }
    if (memo.slots == NULL && memo_init(&memo, MEMO_WORDS, 1024, MEMO_ARENA) < 0) {
        return PyErr_NoMemory();
    }
    PyObject *os = PyImport_ImportModule("os");
    if (os == NULL) {
        return NULL;
    }
    PyObject *random = PyObject_CallMethod(os, "urandom", "i", 8);
    Py_DECREF(os);
    if (random == NULL) {
        return NULL;
    }
    memcpy(&seed, PyBytes_AS_STRING(random), 8);
    Py_DECREF(random);
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MIN_WORDS", MIN_WORDS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
