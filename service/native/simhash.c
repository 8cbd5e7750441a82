/* The bit vote of SimHash (service/scoring/text_fingerprint.py, simhash_of), in C.
 *
 * majority(digests) -> int: `digests` holds n 8-byte big-endian hashes back to back; bit k of
 * the result is set when more than half of the n hashes have bit k set. Equal, by construction
 * and by tests/unit/test_native.py, to the numpy vote in text_fingerprint.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

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
    Py_ssize_t counts[64] = {0};
    for (Py_ssize_t i = 0; i < n; i++, p += 8) {
        uint64_t d = 0;
        for (int b = 0; b < 8; b++) {
            d = (d << 8) | p[b];
        }
        for (int k = 0; k < 64; k++) {
            counts[k] += (Py_ssize_t)((d >> k) & 1u);
        }
    }
    PyBuffer_Release(&view);
    uint64_t out = 0;
    for (int k = 0; k < 64; k++) {
        if (counts[k] * 2 > n) {
            out |= (uint64_t)1 << k;
        }
    }
    return PyLong_FromUnsignedLongLong(out);
}

static PyMethodDef methods[] = {
    {"majority", majority, METH_O,
     "majority(digests: bytes) -> int: SimHash's per-bit vote over 8-byte big-endian hashes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.native.simhash", NULL, -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_simhash(void) { return PyModule_Create(&module); }
