/* Adam's update in one pass over each parameter (CPU, float32 and float64), called through
 * ctypes by native_adam.py.
 *
 * Why C: the NumPy update is eleven passes over the parameter, each a call of
 * about 1.5 us plus a read and a write of the whole array; in a small network's
 * training step (W4: an LSTM and a linear head) those passes took 0.4 ms, about
 * a twentieth of the step. Here each element is loaded once and m, v and p are
 * stored once.
 *
 * The arithmetic is that of Adam.update in first_order.py, operation for
 * operation and in the same order, each rounded to the parameter's dtype; the
 * build turns off fused multiply-adds (-ffp-contract=off), so the results are
 * the same bit for bit (tests/optim/test_interface.py checks it). The scalars
 * come as doubles and are rounded to the dtype once, as NumPy rounds a Python
 * float meeting a float32 array.
 */
#include <Python.h>
#include <math.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
/* an AVX2 clone where the CPU has it: the loop is bound by the division and the square
 * root, whose throughput per instruction is the same for 8 lanes as for 4 */
#define WIDE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define WIDE_CLONES
#endif

#define ADAM(NAME, REAL, SQRT)                                                                      \
    WIDE_CLONES void NAME(long n, REAL *p, const REAL *g, REAL *m, REAL *v, REAL *v_max, double beta1,      \
              double beta2, double one_minus_beta1, double one_minus_beta2, double bias2_sqrt,  \
              double eps, double step_size) {                                                    \
        const REAL b1 = (REAL)beta1, b2 = (REAL)beta2, c1 = (REAL)one_minus_beta1;               \
        const REAL c2 = (REAL)one_minus_beta2, bc = (REAL)bias2_sqrt, e = (REAL)eps;             \
        const REAL lr = (REAL)step_size;                                                         \
        for (long k = 0; k < n; k++) {                                                           \
            const REAL gk = g[k];                                                                \
            const REAL mk = m[k] * b1 + gk * c1;                                                 \
            REAL vk = v[k] * b2 + (gk * c2) * gk;                                                \
            m[k] = mk;                                                                           \
            v[k] = vk;                                                                           \
            if (v_max) {                 /* np.maximum: a NaN on either side gives NaN */        \
                const REAL w = v_max[k];                                                         \
                vk = (w >= vk || w != w) ? w : vk;                                               \
                v_max[k] = vk;                                                                   \
            }                                                                                    \
            const REAL denom = SQRT(vk) / bc + e;                                                \
            p[k] -= (mk * lr) / denom;                                                           \
        }                                                                                        \
    }

ADAM(adam_f32, float, sqrtf)
ADAM(adam_f64, double, sqrt)

static struct PyModuleDef adam_kernel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_adam_kernel",
    .m_doc = "Adam's update in one pass; its functions are called through ctypes (see native_adam.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__adam_kernel(void) { return PyModule_Create(&adam_kernel_module); }
