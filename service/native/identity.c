/* The per-review identity work of service/scoring/identity.py, in C.
 *
 * hmac_state(key: bytes, prefix: bytes) -> bytes: what keyed_hex needs of one key and one kind:
 *     the SHA-256 states after the inner and the outer padded key (RFC 2104), then `prefix`.
 * keyed_hex(state: bytes, value: str, hex_len: int) -> str: the first hex_len (0..64) lower-case
 *     hex digits of HMAC-SHA256(key, prefix + value encoded as UTF-8 with surrogatepass): the
 *     same text as identity.keyed_hash, without a Python hash object per step.
 * dubiousness(name: str) -> float | None: identity.username_dubiousness of an ASCII name; None for
 *     any other name (the Python code answers those).
 * ipv4_network(text: str) -> str | None: "a.b.c.0/24" when `text` is a dotted quad exactly as
 *     ipaddress prints it (ASCII digits, no leading zeros, each part <= 255); None otherwise.
 * record_type(cls: type, fields: tuple[str, ...]) -> None: names a class whose instances are
 *     only their slots (a frozen slots dataclass without __post_init__) and its fields in order;
 * new_record(*values) -> cls instance: what cls(*values) makes, each slot set directly (a frozen
 *     dataclass's __init__ sets each through object.__setattr__, microseconds for a dozen).
 *
 * SHA-256 is written here from FIPS 180-4; tests/unit/test_native_identity.py holds every
 * function to hashlib/hmac and to the Python code on generated inputs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <structmember.h>
#include <string.h>

/* --- SHA-256 (FIPS 180-4) ------------------------------------------------------------------ */

static const uint32_t ROUND[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u,
};

static const uint32_t INITIAL[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress(uint32_t h[8], const unsigned char block[64]) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++) {
        w[t] = ((uint32_t)block[4 * t] << 24) | ((uint32_t)block[4 * t + 1] << 16) |
               ((uint32_t)block[4 * t + 2] << 8) | (uint32_t)block[4 * t + 3];
    }
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = k + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) +
                      ROUND[t] + w[t];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

/* The same compression by the x86 SHA extensions, where the CPU has them (checked once, at
 * import; use_sha_extensions turns them off to test the portable code). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_EXTENSIONS 1

__attribute__((target("sha,sse4.1,ssse3"))) static void compress_x86(uint32_t h[8],
                                                                      const unsigned char block[64]) {
    const __m128i big_endian = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&h[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    const __m128i abef_start = abef, cdgh_start = cdgh;
    __m128i w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 16 * i)), big_endian);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        if (i >= 4) { /* w[i % 4] held words 4i-16.., the others 4i-12.., 4i-8.., 4i-4.. */
            __m128i next = _mm_sha256msg1_epu32(w[i % 4], w[(i + 1) % 4]);
            next = _mm_add_epi32(next, _mm_alignr_epi8(w[(i + 3) % 4], w[(i + 2) % 4], 4));
            w[i % 4] = _mm_sha256msg2_epu32(next, w[(i + 3) % 4]);
        }
        __m128i words = _mm_add_epi32(w[i % 4], _mm_loadu_si128((const __m128i *)&ROUND[4 * i]));
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, words);
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(words, 0x0E));
    }
    abef = _mm_add_epi32(abef, abef_start);
    cdgh = _mm_add_epi32(cdgh, cdgh_start);
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
}

static int cpu_has_sha_extensions(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19))) {
        return 0; /* SSSE3 and SSE4.1 */
    }
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
}
#else
#define HAVE_SHA_EXTENSIONS 0
#endif

static int sha_extensions = 0; /* set at import where the CPU has them */

static void compress_any(uint32_t h[8], const unsigned char block[64]) {
#if HAVE_SHA_EXTENSIONS
    if (sha_extensions) {
        compress_x86(h, block);
        return;
    }
#endif
    compress(h, block);
}

typedef struct {
    uint32_t h[8];
    unsigned char buf[64];
    size_t used;    /* bytes waiting in buf */
    uint64_t total; /* bytes hashed so far, buffered ones included */
} Sha256;

static void sha_start(Sha256 *s, const uint32_t h[8], uint64_t total) {
    memcpy(s->h, h, sizeof s->h);
    s->used = 0;
    s->total = total;
}

static void sha_update(Sha256 *s, const unsigned char *data, size_t len) {
    s->total += len;
    if (s->used) {
        size_t take = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->buf + s->used, data, take);
        s->used += take;
        data += take;
        len -= take;
        if (s->used < 64) {
            return;
        }
        compress_any(s->h, s->buf);
        s->used = 0;
    }
    for (; len >= 64; data += 64, len -= 64) {
        compress_any(s->h, data);
    }
    memcpy(s->buf, data, len);
    s->used = len;
}

static void sha_finish(Sha256 *s, unsigned char out[32]) {
    uint64_t bits = s->total * 8;
    s->buf[s->used++] = 0x80;
    if (s->used > 56) {
        memset(s->buf + s->used, 0, 64 - s->used);
        compress_any(s->h, s->buf);
        s->used = 0;
    }
    memset(s->buf + s->used, 0, 56 - s->used);
    for (int i = 0; i < 8; i++) {
        s->buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    }
    compress_any(s->h, s->buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s->h[i];
    }
}

/* --- keyed hashes --------------------------------------------------------------------------- */

#define STATE_HEAD (2 * 8 * sizeof(uint32_t)) /* inner then outer state, native order */

static PyObject *hmac_state(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "hmac_state(key: bytes, prefix: bytes)");
        return NULL;
    }
    unsigned char block[64] = {0};
    const unsigned char *key = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t key_len = PyBytes_GET_SIZE(args[0]);
    if (key_len > 64) {
        Sha256 s;
        sha_start(&s, INITIAL, 0);
        sha_update(&s, key, (size_t)key_len);
        sha_finish(&s, block);
    } else {
        memcpy(block, key, (size_t)key_len);
    }
    uint32_t inner[8], outer[8];
    unsigned char padded[64];
    for (int i = 0; i < 64; i++) {
        padded[i] = block[i] ^ 0x36;
    }
    memcpy(inner, INITIAL, sizeof inner);
    compress_any(inner, padded);
    for (int i = 0; i < 64; i++) {
        padded[i] = block[i] ^ 0x5c;
    }
    memcpy(outer, INITIAL, sizeof outer);
    compress_any(outer, padded);
    Py_ssize_t prefix_len = PyBytes_GET_SIZE(args[1]);
    PyObject *state = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)STATE_HEAD + prefix_len);
    if (state == NULL) {
        return NULL;
    }
    char *out = PyBytes_AS_STRING(state);
    memcpy(out, inner, sizeof inner);
    memcpy(out + sizeof inner, outer, sizeof outer);
    memcpy(out + STATE_HEAD, PyBytes_AS_STRING(args[1]), (size_t)prefix_len);
    return state;
}

static const char HEX[] = "0123456789abcdef";

static PyObject *keyed_hex(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyUnicode_Check(args[1]) ||
        !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "keyed_hex(state: bytes, value: str, hex_len: int)");
        return NULL;
    }
    Py_ssize_t state_len = PyBytes_GET_SIZE(args[0]);
    if (state_len < (Py_ssize_t)STATE_HEAD) {
        PyErr_SetString(PyExc_ValueError, "not a state made by hmac_state");
        return NULL;
    }
    Py_ssize_t hex_len = PyLong_AsSsize_t(args[2]);
    if (hex_len < 0 || hex_len > 64) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "hex_len must be 0..64");
        }
        return NULL;
    }
    PyObject *value = args[1];
    PyObject *encoded = NULL;
    const unsigned char *data;
    Py_ssize_t len;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(value) < 0) {
        return NULL;
    }
#endif
    if (PyUnicode_IS_ASCII(value)) {
        data = PyUnicode_1BYTE_DATA(value);
        len = PyUnicode_GET_LENGTH(value);
    } else {
        encoded = PyUnicode_AsEncodedString(value, "utf-8", "surrogatepass");
        if (encoded == NULL) {
            return NULL;
        }
        data = (const unsigned char *)PyBytes_AS_STRING(encoded);
        len = PyBytes_GET_SIZE(encoded);
    }
    const char *state = PyBytes_AS_STRING(args[0]);
    uint32_t h[8];
    unsigned char digest[32];
    Sha256 s;
    memcpy(h, state, sizeof h);
    sha_start(&s, h, 64);
    sha_update(&s, (const unsigned char *)state + STATE_HEAD, (size_t)(state_len - STATE_HEAD));
    sha_update(&s, data, (size_t)len);
    Py_XDECREF(encoded);
    sha_finish(&s, digest);
    memcpy(h, state + sizeof h, sizeof h);
    sha_start(&s, h, 64);
    sha_update(&s, digest, sizeof digest);
    sha_finish(&s, digest);
    PyObject *text = PyUnicode_New(hex_len, 127);
    if (text == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = 0; i < hex_len; i++) {
        unsigned char byte = digest[i / 2];
        out[i] = (Py_UCS1)HEX[i % 2 ? byte & 0xF : byte >> 4];
    }
    return text;
}

/* --- username dubiousness ------------------------------------------------------------------- */

static PyObject *dubiousness(PyObject *self, PyObject *name) {
    (void)self;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "dubiousness(name: str)");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(name) < 0) {
        return NULL;
    }
#endif
    if (!PyUnicode_IS_ASCII(name)) {
        Py_RETURN_NONE;
    }
    const Py_UCS1 *p = PyUnicode_1BYTE_DATA(name);
    Py_ssize_t len = PyUnicode_GET_LENGTH(name);
    /* Classes: d digit, v vowel (aeiouy either case), c other letter, o anything else;
     * whitespace (str.isspace) is dropped. A switch is a change of class between neighbours
     * once vowels and consonants are one class. Runs of d and of c are capped where they stop
     * adding (8 and 6). */
    Py_ssize_t n = 0, digits = 0, switches = 0;
    Py_ssize_t digit_run = 0, consonant_run = 0, longest_digits = 0, longest_consonants = 0;
    char previous = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS1 ch = p[i];
        char cls;
        if (Py_UNICODE_ISSPACE(ch)) {
            continue;
        }
        if (ch >= '0' && ch <= '9') {
            cls = 'd';
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
            Py_UCS1 lower = (Py_UCS1)(ch | 0x20);
            int vowel = lower == 'a' || lower == 'e' || lower == 'i' || lower == 'o' ||
                        lower == 'u' || lower == 'y';
            cls = vowel ? 'v' : 'c';
        } else {
            cls = 'o';
        }
        n++;
        if (cls == 'd') {
            digits++;
            digit_run++;
            if (digit_run > longest_digits) {
                longest_digits = digit_run;
            }
        } else {
            digit_run = 0;
        }
        if (cls == 'c') {
            consonant_run++;
            if (consonant_run > longest_consonants) {
                longest_consonants = consonant_run;
            }
        } else {
            consonant_run = 0;
        }
        char coarse = cls == 'v' ? 'c' : cls;
        if (previous && coarse != previous) {
            switches++;
        }
        previous = coarse;
    }
    if (n == 0) {
        return PyFloat_FromDouble(0.0);
    }
    double digit_share = (double)digits / (double)n;
    double digits_cue = 0.0, consonants_cue = 0.0;
    if (longest_digits >= 4) {
        digits_cue = longest_digits >= 8 ? 1.0 : (double)longest_digits / 8;
    }
    if (longest_consonants >= 4) {
        consonants_cue = longest_consonants >= 6 ? 1.0 : (double)longest_consonants / 6;
    }
    double switch_rate = (double)switches / (double)n;
    double switchy = (switch_rate - 0.3) / 0.4;
    if (switchy > 1.0) {
        switchy = 1.0;
    }
    if (!(switchy > 0.0)) {
        switchy = 0.0;
    }
    return PyFloat_FromDouble((digit_share + digits_cue + consonants_cue + switchy) / 4);
}

/* --- IPv4 ----------------------------------------------------------------------------------- */

static PyObject *ipv4_network(PyObject *self, PyObject *text) {
    (void)self;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "ipv4_network(text: str)");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (!PyUnicode_IS_ASCII(text) || len < 7 || len > 15) {
        Py_RETURN_NONE;
    }
    const Py_UCS1 *p = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t i = 0, last_dot = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= len || p[i] != '.') {
                Py_RETURN_NONE;
            }
            last_dot = i++;
        }
        Py_ssize_t start = i;
        int value = 0;
        while (i < len && p[i] >= '0' && p[i] <= '9' && i - start < 3) {
            value = value * 10 + (p[i] - '0');
            i++;
        }
        Py_ssize_t digits = i - start;
        if (digits == 0 || (digits > 1 && p[start] == '0') || value > 255) {
            Py_RETURN_NONE;
        }
    }
    if (i != len) {
        Py_RETURN_NONE;
    }
    PyObject *network = PyUnicode_New(last_dot + 5, 127);
    if (network == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(network);
    memcpy(out, p, (size_t)last_dot);
    memcpy(out + last_dot, ".0/24", 5);
    return network;
}

/* --- records ------------------------------------------------------------------------------- */

#define MAX_FIELDS 32
static PyTypeObject *record_cls = NULL;
static Py_ssize_t record_offsets[MAX_FIELDS];
static Py_ssize_t record_fields = 0;

static PyObject *record_type(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyType_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "record_type(cls: type, fields: tuple[str, ...])");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    Py_ssize_t n = PyTuple_GET_SIZE(args[1]);
    if (n > MAX_FIELDS || cls->tp_itemsize != 0 || cls->tp_new != PyBaseObject_Type.tp_new) {
        PyErr_SetString(PyExc_ValueError, "not a plain slots class with at most 32 fields");
        return NULL;
    }
    Py_ssize_t offsets[MAX_FIELDS];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *descr = PyObject_GetAttr(args[0], PyTuple_GET_ITEM(args[1], i));
        if (descr == NULL) {
            return NULL;
        }
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type);
        if (ok) {
            PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
            ok = member->type == T_OBJECT_EX && !(member->flags & READONLY) &&
                 ((PyMemberDescrObject *)descr)->d_common.d_type == cls;
            offsets[i] = member->offset;
        }
        Py_DECREF(descr);
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "a field is not an object slot of the class");
            return NULL;
        }
    }
    Py_INCREF(cls);
    Py_XSETREF(record_cls, cls);
    memcpy(record_offsets, offsets, (size_t)n * sizeof offsets[0]);
    record_fields = n;
    Py_RETURN_NONE;
}

static PyObject *new_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (record_cls == NULL || nargs != record_fields) {
        PyErr_SetString(PyExc_TypeError, "new_record: one value per field of record_type");
        return NULL;
    }
    PyObject *record = record_cls->tp_alloc(record_cls, 0);
    if (record == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyObject **slot = (PyObject **)((char *)record + record_offsets[i]);
        Py_INCREF(args[i]);
        Py_XSETREF(*slot, args[i]);
    }
    return record;
}

static PyObject *use_sha_extensions(PyObject *self, PyObject *flag) {
    (void)self;
    int wanted = PyObject_IsTrue(flag);
    if (wanted < 0) {
        return NULL;
    }
#if HAVE_SHA_EXTENSIONS
    sha_extensions = wanted && cpu_has_sha_extensions();
#endif
    return PyBool_FromLong(sha_extensions);
}

static PyMethodDef methods[] = {
    {"hmac_state", (PyCFunction)(void (*)(void))hmac_state, METH_FASTCALL,
     "hmac_state(key: bytes, prefix: bytes) -> bytes: the padded-key states, then prefix."},
    {"keyed_hex", (PyCFunction)(void (*)(void))keyed_hex, METH_FASTCALL,
     "keyed_hex(state: bytes, value: str, hex_len: int) -> str: HMAC-SHA256 hex, truncated."},
    {"dubiousness", dubiousness, METH_O,
     "dubiousness(name: str) -> float | None: username_dubiousness of an ASCII name."},
    {"ipv4_network", ipv4_network, METH_O,
     "ipv4_network(text: str) -> str | None: the /24 of a canonical dotted quad."},
    {"record_type", (PyCFunction)(void (*)(void))record_type, METH_FASTCALL,
     "record_type(cls, fields): the slots class new_record makes, and its fields in order."},
    {"new_record", (PyCFunction)(void (*)(void))new_record, METH_FASTCALL,
     "new_record(*values): an instance of the record_type class, one value per field."},
    {"use_sha_extensions", use_sha_extensions, METH_O,
     "use_sha_extensions(flag) -> bool: SHA-256 by the x86 SHA extensions if flag and the CPU "
     "has them, else portable C; says which. On by default where the CPU has them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.native.identity", NULL, -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_identity(void) {
#if HAVE_SHA_EXTENSIONS
    sha_extensions = cpu_has_sha_extensions();
#endif
    return PyModule_Create(&module);
}
