/* Compiled LSTM sequence loops (CPU, float32 and float64), called through ctypes by native.py.
 *
 * Why C: an LSTM step is one small matrix product and a dozen elementwise
 * passes. In NumPy each pass costs a call (about 1.5 us here) and the
 * transcendentals run at 1.4-3 ns per value; the whole loop then holds the
 * GIL, so a second core can do nothing for it. Here a step's gates are
 * computed in one pass with vectorised exp and tanh, and the loop runs with
 * the GIL released (ctypes drops it for the call). The two halves of a batch
 * run on two threads at once (pair_worker.h): batch columns never interact
 * within a sequence. The backward does all of its work here, the weight
 * gradients' GEMM too, so that one hand-off covers it.
 *
 * The layouts are those of recurrent.py's NumPy kernels, feature-major with
 * the batch last, so both paths produce and consume the same arrays:
 *   x (T, B, n_in)    states (2, T, H, B) = [h, c]   acts (T, 5, H, B) = [i, f, g, o, tanh c]
 * Gate order is PyTorch's: i, f, g, o; weights are W_ih (4H, n_in), W_hh (4H, H).
 *
 * The module is also a (method-less) CPython extension so that setuptools
 * builds and installs it like any other; nothing here touches Python objects.
 */
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pair_worker.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
/* one build for every x86-64 CPU; the AVX2+FMA clone is picked at load time where it runs */
#define FAST_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FAST_CLONES
#endif
#define INLINE static inline __attribute__((always_inline))
#if defined(__GNUC__)
/* the 32-byte vector helpers are always inlined, so no vector crosses a call boundary */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* ------------------------------------------------------------------ float32 vectors */

typedef float vf __attribute__((vector_size(32)));
typedef int vi __attribute__((vector_size(32)));
typedef float vf_u __attribute__((vector_size(32), aligned(4), may_alias));
#define VF_LANES 8

INLINE vf vf_load(const float *p) { return *(const vf_u *)p; }
INLINE void vf_store(float *p, vf v) { *(vf_u *)p = v; }
INLINE vf vf_splat(float s) { return (vf){0} + s; }
INLINE vf vf_select(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }

/* exp for float32 lanes (Cephes expf's reduction by ln 2 and degree-5 polynomial; ~1 ulp).
 * n = round(x / ln 2) comes from adding 1.5 * 2^23, which leaves n in the low bits of the
 * sum, so 2^n is built from those bits without a float-int conversion. Clamped to the
 * finite range: exp of a large argument is 2^127, not inf. NaN stays NaN (the
 * comparisons are false for it). */
INLINE vf vf_exp(vf x) {
    const float shifter = 12582912.0f;                        /* 1.5 * 2^23 */
    x = vf_select(x > 88.0f, vf_splat(88.0f), x);
    x = vf_select(x < -87.0f, vf_splat(-87.0f), x);
    vf t = x * 1.44269504088896341f + shifter;
    vf n = t - shifter;
    x = x - n * 0.693359375f - n * -2.12194440e-4f;
    vf y = vf_splat(1.9875691500e-4f);
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * x * x + x + 1.0f;
    vi pow2n = ((vi)t - (0x4B400000 - 127)) << 23;            /* the bits of t are those of 2^23*1.5 + n */
    return y * (vf)pow2n;
}

INLINE vf vf_sigmoid(vf x) { return 1.0f / (1.0f + vf_exp(-x)); }

/* tanh for float32 lanes: Eigen's rational approximation x P(x^2) / Q(x^2) on [-7.9, 7.9]
 * (a few ulp; tanh is 1 to float32 precision beyond), with tanh(x) = x below 4e-4. One
 * division and no exponential. */
INLINE vf vf_tanh(vf x) {
    vf xc = vf_select(x > 7.90531110763549805f, vf_splat(7.90531110763549805f), x);
    xc = vf_select(xc < -7.90531110763549805f, vf_splat(-7.90531110763549805f), xc);
    vf z = xc * xc;
    vf p = vf_splat(-2.76076847742355e-16f);
    p = p * z + 2.00018790482477e-13f;
    p = p * z - 8.60467152213735e-11f;
    p = p * z + 5.12229709037114e-08f;
    p = p * z + 1.48572235717979e-05f;
    p = p * z + 6.37261928875436e-04f;
    p = p * z + 4.89352455891786e-03f;
    vf q = vf_splat(1.19825839466702e-06f);
    q = q * z + 1.18534705686654e-04f;
    q = q * z + 2.26843463243900e-03f;
    q = q * z + 4.89352518554385e-03f;
    vf y = xc * p / q;
    vf ax = vf_select(x < 0.0f, -x, x);
    return vf_select(ax < 0.0004f, x, y);
}

/* ------------------------------------------------------------------ float64 vectors */

typedef double vd __attribute__((vector_size(32)));
typedef double vd_u __attribute__((vector_size(32), aligned(8), may_alias));
#define VD_LANES 4

INLINE vd vd_load(const double *p) { return *(const vd_u *)p; }
INLINE void vd_store(double *p, vd v) { *(vd_u *)p = v; }
INLINE vd vd_splat(double s) { return (vd){0} + s; }
/* float64 is for checking, not speed: libm lane by lane keeps it exact to the last digits */
INLINE vd vd_sigmoid(vd x) {
    vd y;
    for (int k = 0; k < VD_LANES; k++) y[k] = 1.0 / (1.0 + exp(-x[k]));
    return y;
}
INLINE vd vd_tanh(vd x) {
    vd y;
    for (int k = 0; k < VD_LANES; k++) y[k] = tanh(x[k]);
    return y;
}

/* ------------------------------------------------------------------ both dtypes */

#define PANEL 6    /* rows of A per block of the matrix product: 6 x 2 vectors of accumulators */

#define REAL float
#define VEC vf
#define LANES VF_LANES
#define V(name) vf_##name
#define NAME(name) name##_f32
#include "lstm_kernel_impl.h"
#undef REAL
#undef VEC
#undef LANES
#undef V
#undef NAME

#define REAL double
#define VEC vd
#define LANES VD_LANES
#define V(name) vd_##name
#define NAME(name) name##_f64
#include "lstm_kernel_impl.h"

/* ------------------------------------------------------------------ the Python module */

static struct PyModuleDef lstm_kernel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_lstm_kernel",
    .m_doc = "Compiled LSTM loops; their functions are called through ctypes (see native.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__lstm_kernel(void) { return PyModule_Create(&lstm_kernel_module); }
