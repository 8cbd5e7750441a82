/* The text kernel's per-text evaluation (service/text_kernel.py, TextKernel.block_scores and
 * predict), in C, over the very arrays the Python code builds from model.onnx.
 *
 * Kernel(stride, weights, tf2, order, intercept, platt_a, platt_b, chars, words) holds views of
 * those arrays (no copies) plus a hash table of each word block's words, and then
 *   block_scores(text) -> list[float]   each block's score, in id-space order
 *   predict(text) -> float              P(fake | text)
 * do in one call what the numpy path does with a few dozen array operations:
 *
 * - code points: a lone surrogate is "?" (what UTF-8 / UTF-32 "replace" gives), as for numpy;
 * - chars: digit of every code point (0 past the digits table), then per position the trie walk
 *   first[d0], table[v + d1], table[v + d2], ... up to `high`, stopping at the dead node 0 (whose
 *   row of the table is all dead, checked at construction);
 * - words: bytes through the block's translation, tokens split on what bytes.split() calls
 *   whitespace (every byte of a non-ASCII code point is a separator, checked at construction),
 *   each token's word index from a hash table of the block's dict, unigrams through an array and
 *   n-grams by their base-(words + 1) integer in a hash table built from the sorted keys; an
 *   n-gram holding an unknown word (index 0) cannot be a key (checked) and is skipped;
 * - counts: per distinct feature id (value // stride) a count kept zero between calls, in the
 *   feature's own 16-byte slot beside its float32 idf and coefficient (one cache line holds
 *   what an occurrence and the block sums touch, where separate arrays of counts and float64
 *   weights took two; 1.4 MB in all instead of 1.8); tf = 1 + ln(count) from the same table
 *   numpy takes it from; per block the sums of tf^2 idf^2 and tf idf coef; score = dot /
 *   (sqrt(sq) or 1).
 *
 * Occurrences of a block's dead feature are not counted: its weights are zero (checked), so
 * they add nothing. Sums run in first-occurrence order rather than in id order: results equal the
 * numpy path's within rounding (~1e-16), held to 1e-12 by the tests.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Buffers */

/* A C-contiguous view of `obj` whose items are `itemsize` bytes of kind `kind` ('i': signed
 * integer, 'f': float). */
static int get_view(PyObject *obj, Py_buffer *view, char kind, Py_ssize_t itemsize,
                    const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return -1;
    }
    const char *fmt = view->format ? view->format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@') {
        fmt++;
    }
    int ok = view->itemsize == itemsize && fmt[0] != '\0' && fmt[1] == '\0';
    if (ok) {
        if (kind == 'i') {
            ok = strchr("bhilq", fmt[0]) != NULL;
        } else {
            ok = fmt[0] == 'd';
        }
    }
    if (!ok) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: expected %s of %zd bytes, got format %s", what,
                     kind == 'i' ? "signed integers" : "floats", itemsize,
                     view->format ? view->format : "B");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Floor division by a constant (the stride), exact for 0 <= n < 2^31 (Granlund-Montgomery:
 * m = ceil(2^(31+l) / d) with 2^l >= d satisfies 2^(31+l) <= m d <= 2^(31+l) + 2^l). */

typedef struct {
    uint64_t m;
    int shift;
} FastDiv;

static FastDiv fastdiv_make(uint32_t d) {
    int l = 0;
    while (((uint64_t)1 << l) < d) {
        l++;
    }
    uint64_t p = (uint64_t)1 << (31 + l);
    FastDiv f = {p / d + (p % d != 0), 31 + l};
    return f;
}

static inline uint32_t fastdiv(FastDiv f, uint32_t n) { return (uint32_t)(((uint64_t)n * f.m) >> f.shift); }

/* ------------------------------------------------------------------------------------------ */
/* The kernel */

typedef struct {
    int low, high;
    Py_buffer digits; /* intp per code point -> digit (0 for code points past its end) */
    Py_buffer first;  /* int32 per digit -> value of the 1-gram node */
    Py_buffer table;  /* int32 (value + digit) -> value of the child node */
} CharBlock;

/* One n-gram of a word block in its hash table: key 0 is an empty slot (every key holds a word
 * in each digit, so none is 0). */
typedef struct {
    int64_t key;
    int32_t value;
} GramSlot;

static inline size_t gram_hash(int64_t key, size_t mask) {
    return (size_t)(((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & mask;
}

typedef struct {
    int low, high;
    int32_t dead;              /* the block's dead value */
    unsigned char token[256];  /* byte -> its translation when part of a token, else 0 */
    int64_t base;
    Py_buffer unigrams;        /* int32 word index -> value */
    Py_buffer *keys;           /* [n] for n in 2..high: int64 sorted keys between sentinels */
    Py_buffer *values;         /* [n]: int32 values, same positions */
    int *has_grams;            /* [n]: 1 when keys[n] / values[n] are held */
    GramSlot **gram_slots;     /* [n]: open-addressing table of keys[n] (power of two) */
    size_t *gram_mask;         /* [n]: its size - 1 */
    /* words: hash table of the block's dict (bytes -> index 1..W) */
    char *pool;
    Py_ssize_t *word_start;    /* [index] */
    Py_ssize_t *word_len;      /* [index] */
    Py_ssize_t n_words;        /* W */
    Py_ssize_t max_word_len;
    int32_t *slots;            /* power of two, 0 = empty, else a word index */
    size_t mask;
} WordBlock;

/* One feature: its idf and coefficient, and its count in the text being scored. The model's idf
 * and coefficients are float32 (the ONNX graph's initializers), so `weights` (float64 idf^2 and
 * idf x coef, products of two float32 values) is exact and gives them back exactly: idf^2 and
 * idf x coef in double are the very values `weights` holds (checked at construction). */
typedef struct {
    float idf;
    float coef;
    uint32_t count; /* zero between calls */
    uint32_t unused;
} FeatureSlot;
_Static_assert(sizeof(FeatureSlot) == 16, "four feature slots fill one cache line");

typedef struct {
    PyObject_HEAD
    Py_ssize_t stride;
    FastDiv div;
    Py_buffer weights; /* float64 [features][2]: idf^2, idf x coef */
    Py_ssize_t n_features;
    Py_buffer tf2;     /* float64 [counts][2]: tf^2, tf */
    Py_ssize_t n_tf;
    int has_chars;
    CharBlock chars;
    int n_wblocks;
    WordBlock *wblocks;
    int n_blocks;
    int *order;
    double intercept, platt_a, platt_b;
    /* scratch, used within one call (the GIL is held throughout, no Python code runs) */
    FeatureSlot *features; /* [n_features], 64-byte aligned; counts all zero between calls */
    void *features_block;  /* what was allocated for it */
    uint32_t *touched; /* [n_features] ids whose count is not zero */
    Py_ssize_t n_touched;
    unsigned char *ascii; /* per code point: itself when ASCII ("?" for a surrogate), else 0x80 */
    int32_t *digit;       /* per code point: its char digit */
    int32_t *words;       /* per token: its word index */
    int32_t *grams;       /* per position: the char n-gram's value at the current length */
    Py_ssize_t scratch_len;
    unsigned char *tokbuf; /* max_word_len + 1 */
} Kernel;

static void release(Py_buffer *view) {
    if (view->obj != NULL) {
        PyBuffer_Release(view);
    }
}

static void word_block_free(WordBlock *w) {
    release(&w->unigrams);
    if (w->keys != NULL) {
        for (int n = 0; n <= w->high; n++) {
            if (w->has_grams != NULL && w->has_grams[n]) {
                release(&w->keys[n]);
                release(&w->values[n]);
            }
        }
    }
    if (w->gram_slots != NULL) {
        for (int n = 0; n <= w->high; n++) {
            PyMem_Free(w->gram_slots[n]);
        }
    }
    PyMem_Free(w->gram_slots);
    PyMem_Free(w->gram_mask);
    PyMem_Free(w->keys);
    PyMem_Free(w->values);
    PyMem_Free(w->has_grams);
    PyMem_Free(w->pool);
    PyMem_Free(w->word_start);
    PyMem_Free(w->word_len);
    PyMem_Free(w->slots);
}

static void Kernel_dealloc(Kernel *self) {
    release(&self->weights);
    release(&self->tf2);
    if (self->has_chars) {
        release(&self->chars.digits);
        release(&self->chars.first);
        release(&self->chars.table);
    }
    if (self->wblocks != NULL) {
        for (int b = 0; b < self->n_wblocks; b++) {
            word_block_free(&self->wblocks[b]);
        }
        PyMem_Free(self->wblocks);
    }
    PyMem_Free(self->order);
    PyMem_Free(self->features_block);
    PyMem_Free(self->touched);
    PyMem_Free(self->ascii);
    PyMem_Free(self->digit);
    PyMem_Free(self->words);
    PyMem_Free(self->grams);
    PyMem_Free(self->tokbuf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static uint64_t hash_bytes(const unsigned char *s, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

/* The word index of token s[0..n), 0 when it is not a word of the block. */
static int32_t word_index(const WordBlock *w, const unsigned char *s, Py_ssize_t n) {
    if (n > w->max_word_len) {
        return 0;
    }
    size_t at = (size_t)hash_bytes(s, n) & w->mask;
    for (;;) {
        int32_t i = w->slots[at];
        if (i == 0) {
            return 0;
        }
        if (w->word_len[i] == n && memcmp(w->pool + w->word_start[i], s, (size_t)n) == 0) {
            return i;
        }
        at = (at + 1) & w->mask;
    }
}

static int int_view(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *what) {
    return get_view(obj, view, 'i', itemsize, what);
}

static int load_chars(Kernel *self, PyObject *spec) {
    CharBlock *c = &self->chars;
    PyObject *digits, *first, *table;
    if (!PyArg_ParseTuple(spec, "iiOOO;chars: (low, high, digits, first, table)", &c->low,
                          &c->high, &digits, &first, &table)) {
        return -1;
    }
    if (c->low < 1 || c->high < c->low || c->high > 64) {
        PyErr_SetString(PyExc_ValueError, "chars: n-gram sizes out of range");
        return -1;
    }
    self->has_chars = 1;
    if (get_view(digits, &c->digits, 'i', sizeof(Py_ssize_t), "chars digits") < 0 ||
        int_view(first, &c->first, 4, "chars first") < 0 ||
        int_view(table, &c->table, 4, "chars table") < 0) {
        return -1;
    }
    Py_ssize_t n_first = c->first.len / 4, n_table = c->table.len / 4;
    if (n_first != self->stride) {
        PyErr_SetString(PyExc_ValueError, "chars: first must hold one value per digit (stride)");
        return -1;
    }
    /* The dead node's row: every child of the dead node is dead (so a walk stops there). */
    for (Py_ssize_t i = 0; i < self->stride && i < n_table; i++) {
        if (((const int32_t *)c->table.buf)[i] != 0) {
            PyErr_SetString(PyExc_ValueError, "chars: the dead node has a child");
            return -1;
        }
    }
    return 0;
}

static int load_words(WordBlock *w, PyObject *spec) {
    PyObject *translation, *index, *unigrams, *grams;
    long long base;
    if (!PyArg_ParseTuple(spec,
                          "iiiSO!LOO!;words: (low, high, dead, translation, index, base, "
                          "unigrams, grams)",
                          &w->low, &w->high, &w->dead, &translation, &PyDict_Type, &index, &base,
                          &unigrams, &PyDict_Type, &grams)) {
        return -1;
    }
    if (w->low < 1 || w->high < w->low || w->high > 64 || base < 1) {
        PyErr_SetString(PyExc_ValueError, "words: n-gram sizes or base out of range");
        return -1;
    }
    w->base = base;
    int64_t power = 1; /* base**high: every n-gram key is below it, and must fit in int64 */
    for (int n = 0; n < w->high; n++) {
        if (power > INT64_MAX / base) {
            PyErr_SetString(PyExc_ValueError, "words: n-gram keys overflow 64 bits");
            return -1;
        }
        power *= base;
    }
    if (PyBytes_GET_SIZE(translation) != 256) {
        PyErr_SetString(PyExc_ValueError, "words: the translation must be 256 bytes");
        return -1;
    }
    const unsigned char *tr = (const unsigned char *)PyBytes_AS_STRING(translation);
    for (int b = 0; b < 256; b++) {
        int part = !Py_ISSPACE(tr[b]);
        if (part && (b >= 0x80 || tr[b] >= 0x80)) {
            PyErr_SetString(PyExc_ValueError, "words: only ASCII bytes can be part of a token");
            return -1;
        }
        w->token[b] = part ? tr[b] : 0;
    }
    if (int_view(unigrams, &w->unigrams, 4, "words unigrams") < 0) {
        return -1;
    }
    if (w->unigrams.len / 4 != base) {
        PyErr_SetString(PyExc_ValueError, "words: unigrams must hold one value per index");
        return -1;
    }
    /* the dict of words: bytes -> 1..W */
    Py_ssize_t n_words = PyDict_GET_SIZE(index);
    if (n_words + 1 != base) {
        PyErr_SetString(PyExc_ValueError, "words: base must be the number of words + 1");
        return -1;
    }
    w->n_words = n_words;
    Py_ssize_t pool_len = 0, pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(index, &pos, &key, &value)) {
        if (!PyBytes_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "words: index keys must be bytes");
            return -1;
        }
        pool_len += PyBytes_GET_SIZE(key);
    }
    size_t n_slots = 8;
    while (n_slots < (size_t)n_words * 2 + 1) {
        n_slots <<= 1;
    }
    w->mask = n_slots - 1;
    w->pool = PyMem_Malloc((size_t)pool_len + 1);
    w->word_start = PyMem_Calloc((size_t)n_words + 1, sizeof(Py_ssize_t));
    w->word_len = PyMem_Calloc((size_t)n_words + 1, sizeof(Py_ssize_t));
    w->slots = PyMem_Calloc(n_slots, sizeof(int32_t));
    if (!w->pool || !w->word_start || !w->word_len || !w->slots) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i <= n_words; i++) {
        w->word_len[i] = -1; /* not yet seen */
    }
    Py_ssize_t used = 0;
    w->max_word_len = 0;
    pos = 0;
    while (PyDict_Next(index, &pos, &key, &value)) {
        long long i = PyLong_AsLongLong(value);
        if (i == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (i < 1 || i > n_words || w->word_len[i] != -1) {
            PyErr_SetString(PyExc_ValueError, "words: indices must be 1..W, each once");
            return -1;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(key);
        const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(key);
        memcpy(w->pool + used, s, (size_t)n);
        w->word_start[i] = used;
        w->word_len[i] = n;
        used += n;
        if (n > w->max_word_len) {
            w->max_word_len = n;
        }
        size_t at = (size_t)hash_bytes(s, n) & w->mask;
        while (w->slots[at] != 0) {
            at = (at + 1) & w->mask;
        }
        w->slots[at] = (int32_t)i;
    }
    /* n-grams: {n: (keys, values)} */
    w->keys = PyMem_Calloc((size_t)w->high + 1, sizeof(Py_buffer));
    w->values = PyMem_Calloc((size_t)w->high + 1, sizeof(Py_buffer));
    w->has_grams = PyMem_Calloc((size_t)w->high + 1, sizeof(int));
    w->gram_slots = PyMem_Calloc((size_t)w->high + 1, sizeof(GramSlot *));
    w->gram_mask = PyMem_Calloc((size_t)w->high + 1, sizeof(size_t));
    if (!w->keys || !w->values || !w->has_grams || !w->gram_slots || !w->gram_mask) {
        PyErr_NoMemory();
        return -1;
    }
    pos = 0;
    while (PyDict_Next(grams, &pos, &key, &value)) {
        long n = PyLong_AsLong(key);
        if (n == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (n < 2 || n > w->high || w->has_grams[n]) {
            PyErr_SetString(PyExc_ValueError, "words: n-gram tables for n in 2..high");
            return -1;
        }
        PyObject *k_obj, *v_obj;
        if (!PyArg_ParseTuple(value, "OO;words: grams[n] = (keys, values)", &k_obj, &v_obj)) {
            return -1;
        }
        if (int_view(k_obj, &w->keys[n], 8, "words keys") < 0) {
            return -1;
        }
        if (int_view(v_obj, &w->values[n], 4, "words values") < 0) {
            release(&w->keys[n]);
            return -1;
        }
        w->has_grams[n] = 1;
        Py_ssize_t len = w->keys[n].len / 8;
        const int64_t *keys = w->keys[n].buf;
        if (len < 2 || w->values[n].len / 4 != len || keys[0] != -1 ||
            keys[len - 1] != INT64_MAX) {
            PyErr_SetString(PyExc_ValueError, "words: keys between the sentinels -1 and 2**63-1");
            return -1;
        }
        for (Py_ssize_t j = 1; j < len - 1; j++) {
            if (keys[j] >= keys[j + 1]) {
                PyErr_SetString(PyExc_ValueError, "words: n-gram keys must be strictly sorted");
                return -1;
            }
            /* every digit of a key is a word (1..W): n-grams with an unknown word can be skipped */
            int64_t x = keys[j];
            for (long d = 0; d < n; d++) {
                if (x % base == 0) {
                    PyErr_SetString(PyExc_ValueError, "words: an n-gram key holds no word");
                    return -1;
                }
                x /= base;
            }
            if (x != 0) {
                PyErr_SetString(PyExc_ValueError, "words: an n-gram key out of range");
                return -1;
            }
        }
        /* The keys between the sentinels in a table at most a third full: a look-up costs one
         * random access (two or three slots of one cache line, most of them misses) where the
         * binary search of the sorted keys took some fifteen dependent ones. */
        size_t n_slots = 8;
        while (n_slots < 3 * (size_t)len) {
            n_slots <<= 1;
        }
        GramSlot *slots = PyMem_Calloc(n_slots, sizeof(GramSlot));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        w->gram_slots[n] = slots;
        w->gram_mask[n] = n_slots - 1;
        const int32_t *vals = w->values[n].buf;
        for (Py_ssize_t j = 1; j < len - 1; j++) {
            size_t at = gram_hash(keys[j], n_slots - 1);
            while (slots[at].key != 0) {
                at = (at + 1) & (n_slots - 1);
            }
            slots[at].key = keys[j];
            slots[at].value = vals[j];
        }
    }
    return 0;
}

static PyObject *Kernel_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"stride", "weights", "tf2", "order", "intercept", "platt_a",
                             "platt_b", "chars", "words", NULL};
    Py_ssize_t stride;
    PyObject *weights, *tf2, *order, *chars, *words;
    double intercept, platt_a, platt_b;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nOOOdddOO:Kernel", kwlist, &stride, &weights,
                                     &tf2, &order, &intercept, &platt_a, &platt_b, &chars,
                                     &words)) {
        return NULL;
    }
    if (stride < 1 || stride >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "stride out of range");
        return NULL;
    }
    Kernel *self = (Kernel *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->stride = stride;
    self->div = fastdiv_make((uint32_t)stride);
    self->intercept = intercept;
    self->platt_a = platt_a;
    self->platt_b = platt_b;
    if (get_view(weights, &self->weights, 'f', 8, "weights") < 0 ||
        get_view(tf2, &self->tf2, 'f', 8, "tf2") < 0) {
        goto fail;
    }
    if (self->weights.len % 16 || self->tf2.len % 16) {
        PyErr_SetString(PyExc_ValueError, "weights and tf2 hold pairs of float64");
        goto fail;
    }
    self->n_features = self->weights.len / 16;
    self->n_tf = self->tf2.len / 16;
    if (self->n_features >= INT32_MAX || self->n_features * stride >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "features x stride overflow int32");
        goto fail;
    }
    if (chars != Py_None) {
        if (!PyTuple_Check(chars)) {
            PyErr_SetString(PyExc_TypeError, "chars: a tuple or None");
            goto fail;
        }
        if (load_chars(self, chars) < 0) {
            goto fail;
        }
    }
    if (!PyList_Check(words)) {
        PyErr_SetString(PyExc_TypeError, "words: a list");
        goto fail;
    }
    Py_ssize_t n_w = PyList_GET_SIZE(words);
    if (n_w > 64) {
        PyErr_SetString(PyExc_ValueError, "words: too many blocks");
        goto fail;
    }
    self->wblocks = PyMem_Calloc((size_t)n_w + 1, sizeof(WordBlock));
    if (self->wblocks == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t b = 0; b < n_w; b++) {
        PyObject *spec = PyList_GET_ITEM(words, b);
        self->n_wblocks = (int)b + 1; /* freed on failure, partly loaded or not */
        if (!PyTuple_Check(spec)) {
            PyErr_SetString(PyExc_TypeError, "words: tuples");
            goto fail;
        }
        if (load_words(&self->wblocks[b], spec) < 0) {
            goto fail;
        }
    }
    self->n_blocks = self->has_chars + self->n_wblocks;
    if (self->n_blocks < 1) {
        PyErr_SetString(PyExc_ValueError, "no block");
        goto fail;
    }
    /* the dead features weigh nothing (their occurrences are not counted) */
    const double *wt = self->weights.buf;
    for (int b = 0; b < self->n_wblocks; b++) {
        int32_t dead = self->wblocks[b].dead;
        Py_ssize_t id = dead / stride;
        if (dead < 0 || dead % stride || id >= self->n_features || wt[2 * id] != 0.0 ||
            wt[2 * id + 1] != 0.0) {
            PyErr_SetString(PyExc_ValueError, "words: the dead feature must exist and weigh 0");
            goto fail;
        }
    }
    if (self->has_chars && (self->n_features < 1 || wt[0] != 0.0 || wt[1] != 0.0)) {
        PyErr_SetString(PyExc_ValueError, "chars: the dead feature must exist and weigh 0");
        goto fail;
    }
    if (!PyList_Check(order) || PyList_GET_SIZE(order) != self->n_blocks) {
        PyErr_SetString(PyExc_ValueError, "order: a list with one index per block");
        goto fail;
    }
    self->order = PyMem_Calloc((size_t)self->n_blocks, sizeof(int));
    if (self->order == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (int i = 0; i < self->n_blocks; i++) {
        long o = PyLong_AsLong(PyList_GET_ITEM(order, i));
        if (o == -1 && PyErr_Occurred()) {
            goto fail;
        }
        if (o < 0 || o >= self->n_blocks) {
            PyErr_SetString(PyExc_ValueError, "order: block indices");
            goto fail;
        }
        self->order[i] = (int)o;
    }
    Py_ssize_t max_word_len = 0;
    for (int b = 0; b < self->n_wblocks; b++) {
        if (self->wblocks[b].max_word_len > max_word_len) {
            max_word_len = self->wblocks[b].max_word_len;
        }
    }
    self->features_block = PyMem_Calloc((size_t)self->n_features + 4, sizeof(FeatureSlot));
    self->touched = PyMem_Calloc((size_t)self->n_features, sizeof(uint32_t));
    self->tokbuf = PyMem_Malloc((size_t)max_word_len + 1);
    if (!self->features_block || !self->touched || !self->tokbuf) {
        PyErr_NoMemory();
        goto fail;
    }
    /* Four slots are one cache line: the first slot on a line boundary keeps each slot in one. */
    uintptr_t at = (uintptr_t)self->features_block;
    self->features = (FeatureSlot *)((at + 63) & ~(uintptr_t)63);
    const double *pairs = self->weights.buf;
    for (Py_ssize_t id = 0; id < self->n_features; id++) {
        double sq = pairs[2 * id], dot = pairs[2 * id + 1];
        double idf = sqrt(sq);
        float f_idf = (float)idf;
        float f_coef = idf == 0.0 ? 0.0f : (float)(dot / idf);
        if ((double)f_idf * (double)f_idf != sq || (double)f_idf * (double)f_coef != dot) {
            PyErr_SetString(PyExc_ValueError,
                            "weights are not products of float32 idf and coefficients");
            goto fail;
        }
        self->features[id].idf = f_idf;
        self->features[id].coef = f_coef;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* One text */

static int grow_scratch(Kernel *self, Py_ssize_t n) {
    if (n <= self->scratch_len) {
        return 0;
    }
    Py_ssize_t len = n < 1024 ? 1024 : n + n / 2;
    unsigned char *ascii = PyMem_Realloc(self->ascii, (size_t)len);
    if (ascii == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->ascii = ascii;
    int32_t *digit = PyMem_Realloc(self->digit, (size_t)len * sizeof(int32_t));
    if (digit == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->digit = digit;
    int32_t *words = PyMem_Realloc(self->words, (size_t)len * sizeof(int32_t));
    if (words == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->words = words;
    int32_t *grams = PyMem_Realloc(self->grams, (size_t)len * sizeof(int32_t));
    if (grams == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->grams = grams;
    self->scratch_len = len;
    return 0;
}

static int corrupt(const char *what) {
    PyErr_Format(PyExc_RuntimeError, "text kernel: %s out of bounds", what);
    return -1;
}

/* Counts one occurrence of `value` (id x stride). */
static inline int count(Kernel *self, int64_t value) {
    if (value < 0 || value >= INT32_MAX) {
        return corrupt("value");
    }
    uint32_t id = fastdiv(self->div, (uint32_t)value);
    if (id >= (uint64_t)self->n_features) {
        return corrupt("feature id");
    }
    if (self->features[id].count++ == 0) {
        self->touched[self->n_touched++] = id;
    }
    return 0;
}

/* Per block: the sums of the counted features, and the counts back to zero. */
static void block_sums(Kernel *self, double *sq_out, double *dot_out) {
    const double *tf2 = self->tf2.buf;
    double sq = 0.0, dot = 0.0;
    for (Py_ssize_t t = 0; t < self->n_touched; t++) {
        FeatureSlot *f = &self->features[self->touched[t]];
        uint32_t c = f->count;
        f->count = 0;
        double tf, tf_sq;
        if (c < (uint64_t)self->n_tf) {
            tf_sq = tf2[2 * (size_t)c];
            tf = tf2[2 * (size_t)c + 1];
        } else {
            tf = log((double)c) + 1.0;
            tf_sq = tf * tf;
        }
        const double idf = f->idf;
        sq += idf * idf * tf_sq;
        dot += idf * (double)f->coef * tf;
    }
    self->n_touched = 0;
    *sq_out = sq;
    *dot_out = dot;
}

static void forget_counts(Kernel *self) {
    for (Py_ssize_t t = 0; t < self->n_touched; t++) {
        self->features[self->touched[t]].count = 0;
    }
    self->n_touched = 0;
}

/* Level by level, as the numpy path: the n-grams of length n at every position, from those of
 * length n - 1. The table look-ups of one level are independent of one another, so the memory
 * accesses (the cost here: the table is megabytes) overlap; the dead node's row is all dead, so
 * a dead n-gram needs no branch to stay dead. */
static int chars_count(Kernel *self, Py_ssize_t len) {
    const CharBlock *c = &self->chars;
    const int32_t *first = c->first.buf, *table = c->table.buf, *digit = self->digit;
    const Py_ssize_t n_table = c->table.len / 4;
    int32_t *cur = self->grams;
    for (Py_ssize_t i = 0; i < len; i++) {
        int32_t v = first[digit[i]]; /* digits were checked to be < stride = len(first) */
        cur[i] = v;
        if (c->low == 1 && v != 0 && count(self, v) < 0) {
            return -1;
        }
    }
    for (int n = 2; n <= c->high && n <= len; n++) {
        const int32_t *next = digit + (n - 1);
        const Py_ssize_t m = len - n + 1;
        for (Py_ssize_t i = 0; i < m; i++) {
            int64_t at = (int64_t)cur[i] + next[i];
            if (at < 0 || at >= n_table) {
                return corrupt("char table index");
            }
            cur[i] = table[at];
        }
        if (n >= c->low) {
            for (Py_ssize_t i = 0; i < m; i++) {
                if (cur[i] != 0 && count(self, cur[i]) < 0) {
                    return -1;
                }
            }
        }
    }
    return 0;
}

static int words_count(Kernel *self, const WordBlock *w, Py_ssize_t len) {
    const unsigned char *ascii = self->ascii;
    unsigned char *buf = self->tokbuf;
    int32_t *words = self->words;
    Py_ssize_t n_tokens = 0;
    for (Py_ssize_t i = 0; i < len;) {
        if (w->token[ascii[i]] == 0) {
            i++;
            continue;
        }
        Py_ssize_t n = 0;
        for (; i < len; i++, n++) {
            unsigned char b = w->token[ascii[i]];
            if (b == 0) {
                break;
            }
            if (n < w->max_word_len) {
                buf[n] = b;
            }
        }
        words[n_tokens++] = word_index(w, buf, n);
    }
    const int32_t *unigrams = w->unigrams.buf;
    const Py_ssize_t n_unigrams = w->unigrams.len / 4;
    for (Py_ssize_t i = 0; i < n_tokens; i++) {
        int64_t key = words[i];
        if (key == 0) {
            continue; /* unknown: it and every n-gram holding it are the dead feature */
        }
        if (w->low == 1) {
            if (key >= n_unigrams) {
                return corrupt("word index");
            }
            int32_t v = unigrams[key];
            if (v != w->dead && count(self, v) < 0) {
                return -1;
            }
        }
        for (int n = 2; n <= w->high && i + n <= n_tokens; n++) {
            int32_t next = words[i + n - 1];
            if (next == 0) {
                break;
            }
            key = key * w->base + next; /* < base**high < 2**63, checked by the Python side */
            if (!w->has_grams[n]) {
                continue;
            }
            /* key > 0: it is in the table or meets an empty slot first */
            const GramSlot *slots = w->gram_slots[n];
            const size_t mask = w->gram_mask[n];
            size_t at = gram_hash(key, mask);
            while (slots[at].key != 0 && slots[at].key != key) {
                at = (at + 1) & mask;
            }
            if (slots[at].key == key) {
                int32_t v = slots[at].value;
                if (v != w->dead && count(self, v) < 0) {
                    return -1;
                }
            }
        }
    }
    return 0;
}

/* Code points -> `ascii` (and `digit` with a char block); lone surrogates read as "?". */
#define READ_CODE_POINTS(TYPE)                                                                 \
    do {                                                                                       \
        const TYPE *s = data;                                                                  \
        for (Py_ssize_t i = 0; i < len; i++) {                                                 \
            Py_UCS4 ch = s[i];                                                                 \
            if (ch >= 0xD800 && ch <= 0xDFFF) {                                                \
                ch = '?';                                                                      \
            }                                                                                  \
            ascii[i] = ch < 0x80 ? (unsigned char)ch : 0x80;                                   \
            if (digits != NULL) {                                                              \
                int64_t d = (Py_ssize_t)ch < n_digits ? digits[ch] : 0;                        \
                if (d < 0 || d >= stride) {                                                    \
                    return corrupt("char digit");                                              \
                }                                                                              \
                digit[i] = (int32_t)d;                                                         \
            }                                                                                  \
        }                                                                                      \
    } while (0)

static int read_text(Kernel *self, PyObject *text, Py_ssize_t len) {
    const void *data = PyUnicode_DATA(text);
    unsigned char *ascii = self->ascii;
    int32_t *digit = self->digit;
    const Py_ssize_t *digits = self->has_chars ? self->chars.digits.buf : NULL;
    const Py_ssize_t n_digits = self->has_chars ? self->chars.digits.len / (Py_ssize_t)sizeof(Py_ssize_t) : 0;
    const Py_ssize_t stride = self->stride;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        READ_CODE_POINTS(Py_UCS1);
        break;
    case PyUnicode_2BYTE_KIND:
        READ_CODE_POINTS(Py_UCS2);
        break;
    default:
        READ_CODE_POINTS(Py_UCS4);
        break;
    }
    return 0;
}

/* Each block's score, in id-space order, into scores[n_blocks]. */
static int compute(Kernel *self, PyObject *text, double *scores) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "text must be a str");
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return -1;
    }
#endif
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (grow_scratch(self, len) < 0 || read_text(self, text, len) < 0) {
        return -1;
    }
    int b = 0;
    double sq, dot;
    if (self->has_chars) {
        if (chars_count(self, len) < 0) {
            forget_counts(self);
            return -1;
        }
        block_sums(self, &sq, &dot);
        double norm = sqrt(sq);
        scores[b++] = dot / (norm == 0.0 ? 1.0 : norm);
    }
    for (int k = 0; k < self->n_wblocks; k++) {
        if (words_count(self, &self->wblocks[k], len) < 0) {
            forget_counts(self);
            return -1;
        }
        block_sums(self, &sq, &dot);
        double norm = sqrt(sq);
        scores[b++] = dot / (norm == 0.0 ? 1.0 : norm);
    }
    return 0;
}

static PyObject *Kernel_block_scores(Kernel *self, PyObject *text) {
    double scores[65];
    if (compute(self, text, scores) < 0) {
        return NULL;
    }
    PyObject *out = PyList_New(self->n_blocks);
    if (out == NULL) {
        return NULL;
    }
    for (int b = 0; b < self->n_blocks; b++) {
        PyObject *x = PyFloat_FromDouble(scores[b]);
        if (x == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, b, x);
    }
    return out;
}

static PyObject *Kernel_predict(Kernel *self, PyObject *text) {
    double scores[65];
    if (compute(self, text, scores) < 0) {
        return NULL;
    }
    double decision = scores[self->order[0]];
    for (int i = 1; i < self->n_blocks; i++) {
        decision += scores[self->order[i]];
    }
    double z = (decision + self->intercept) * self->platt_a + self->platt_b;
    double p;
    if (z >= 0) {
        p = 1.0 / (1.0 + exp(-z));
    } else {
        double e = exp(z);
        p = e / (1.0 + e);
    }
    return PyFloat_FromDouble(p);
}

static PyMethodDef Kernel_methods[] = {
    {"block_scores", (PyCFunction)Kernel_block_scores, METH_O,
     "block_scores(text: str) -> list[float]: each block's score, in id-space order."},
    {"predict", (PyCFunction)Kernel_predict, METH_O, "predict(text: str) -> float: P(fake)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "service.native.textkernel.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The text kernel's arrays, held for scoring one text per call.",
    .tp_methods = Kernel_methods,
    .tp_new = Kernel_new,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.native.textkernel", NULL, -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_textkernel(void) {
    if (PyType_Ready(&KernelType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
