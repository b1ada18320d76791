/* The LSTM loops for one dtype: included by lstm_kernel.c with REAL, VEC, LANES, V() and NAME() set. */

/* n <= LANES values from p; the lanes past n are 0 */
INLINE VEC NAME(load_n)(const REAL *p, int n) {
    if (n == LANES) return V(load)(p);
    VEC v = {0};
    for (int k = 0; k < n; k++) v[k] = p[k];
    return v;
}

INLINE void NAME(store_n)(REAL *p, VEC v, int n) {
    if (n == LANES) {
        V(store)(p, v);
        return;
    }
    for (int k = 0; k < n; k++) p[k] = v[k];
}

/* C[m, :ncol] = (accumulate ? C[m, :ncol] : 0) + sum_k A[m, k] X[k, :ncol] for m < M.
 * Rows are lda, ldx, ldc apart. Blocks of 6 rows by 2 vectors keep 12 accumulators in
 * registers (enough independent chains to cover the FMA latency), and every X row
 * loaded serves 6 rows of A. */
INLINE void NAME(gemm_panel)(int M, int K, const REAL *A, long lda, const REAL *X, long ldx,
                             REAL *C, long ldc, int ncol, int accumulate) {
    int m = 0;
    for (; m + 6 <= M; m += 6) {
        const REAL *a0 = A + m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        const REAL *a4 = a3 + lda, *a5 = a4 + lda;
        REAL *c0 = C + m * ldc;
        int j = 0;
        for (; j + 2 * LANES <= ncol; j += 2 * LANES) {
            VEC s00 = {0}, s01 = {0}, s10 = {0}, s11 = {0}, s20 = {0}, s21 = {0};
            VEC s30 = {0}, s31 = {0}, s40 = {0}, s41 = {0}, s50 = {0}, s51 = {0};
            const REAL *x = X + j;
            for (int k = 0; k < K; k++, x += ldx) {
                VEC x0 = V(load)(x), x1 = V(load)(x + LANES);
                s00 += a0[k] * x0; s01 += a0[k] * x1;
                s10 += a1[k] * x0; s11 += a1[k] * x1;
                s20 += a2[k] * x0; s21 += a2[k] * x1;
                s30 += a3[k] * x0; s31 += a3[k] * x1;
                s40 += a4[k] * x0; s41 += a4[k] * x1;
                s50 += a5[k] * x0; s51 += a5[k] * x1;
            }
            if (accumulate) {
                REAL *c = c0 + j;
                s00 += V(load)(c); s01 += V(load)(c + LANES); c += ldc;
                s10 += V(load)(c); s11 += V(load)(c + LANES); c += ldc;
                s20 += V(load)(c); s21 += V(load)(c + LANES); c += ldc;
                s30 += V(load)(c); s31 += V(load)(c + LANES); c += ldc;
                s40 += V(load)(c); s41 += V(load)(c + LANES); c += ldc;
                s50 += V(load)(c); s51 += V(load)(c + LANES);
            }
            REAL *c = c0 + j;
            V(store)(c, s00); V(store)(c + LANES, s01); c += ldc;
            V(store)(c, s10); V(store)(c + LANES, s11); c += ldc;
            V(store)(c, s20); V(store)(c + LANES, s21); c += ldc;
            V(store)(c, s30); V(store)(c + LANES, s31); c += ldc;
            V(store)(c, s40); V(store)(c + LANES, s41); c += ldc;
            V(store)(c, s50); V(store)(c + LANES, s51);
        }
        for (; j < ncol; j += LANES) {
            int n = ncol - j < LANES ? ncol - j : LANES;
            VEC s[6] = {{0}};
            const REAL *x = X + j;
            for (int k = 0; k < K; k++, x += ldx) {
                VEC xv = NAME(load_n)(x, n);
                s[0] += a0[k] * xv; s[1] += a1[k] * xv; s[2] += a2[k] * xv;
                s[3] += a3[k] * xv; s[4] += a4[k] * xv; s[5] += a5[k] * xv;
            }
            for (int q = 0; q < 6; q++) {
                REAL *c = c0 + q * ldc + j;
                if (accumulate) s[q] += NAME(load_n)(c, n);
                NAME(store_n)(c, s[q], n);
            }
        }
    }
    for (; m < M; m++) {                                  /* the last M % 6 rows */
        const REAL *a = A + m * lda;
        REAL *c = C + m * ldc;
        for (int j = 0; j < ncol; j += LANES) {
            int n = ncol - j < LANES ? ncol - j : LANES;
            VEC s = {0};
            const REAL *x = X + j;
            for (int k = 0; k < K; k++, x += ldx) s += a[k] * NAME(load_n)(x, n);
            if (accumulate) s += NAME(load_n)(c + j, n);
            NAME(store_n)(c + j, s, n);
        }
    }
}

/* The same product in slices of K, so that the slice of X being reused by every row
 * block stays in the L1 cache (with K = 4H the whole of X would not). */
INLINE void NAME(gemm)(int M, int K, const REAL *A, long lda, const REAL *X, long ldx,
                       REAL *C, long ldc, int ncol, int accumulate) {
    const int slice = 128;
    for (int k0 = 0; k0 < K; k0 += slice) {
        int kn = K - k0 < slice ? K - k0 : slice;
        NAME(gemm_panel)(M, kn, A + k0, lda, X + k0 * ldx, ldx, C, ldc, ncol, accumulate || k0 > 0);
    }
}

/* Forward over all T steps (in reverse order when reverse) for batch columns [col0, col1).
 * xT (T, n_in, B); h0, c0 (H, B); bias (4H) = b_ih + b_hh. Returns 0, or -1 when out of memory. */
FAST_CLONES int NAME(lstm_forward)(int T, int B, int H, int n_in, int col0, int col1, int reverse,
                                   const REAL *xT, const REAL *h0, const REAL *c0,
                                   const REAL *w_ih, const REAL *w_hh, const REAL *bias,
                                   REAL *states, REAL *acts) {
    const int ncol = col1 - col0, G = 4 * H;
    const long HB = (long)H * B;
    REAL *pre = malloc(sizeof(REAL) * (size_t)G * (ncol > 0 ? ncol : 1));
    if (!pre) return -1;
    const REAL *h_prev = h0 + col0, *c_prev = c0 + col0;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s;
        NAME(gemm)(G, n_in, w_ih, n_in, xT + (long)t * n_in * B + col0, B, pre, ncol, ncol, 0);
        NAME(gemm)(G, H, w_hh, H, h_prev, B, pre, ncol, ncol, 1);
        REAL *a = acts + (long)t * 5 * HB + col0;
        REAL *h_out = states + (long)t * HB + col0, *c_out = states + (long)(T + t) * HB + col0;
        for (int r = 0; r < H; r++) {
            const REAL *p = pre + (long)r * ncol;
            const REAL bi = bias[r], bf = bias[H + r], bg = bias[2 * H + r], bo = bias[3 * H + r];
            const long row = (long)r * B;
            for (int j = 0; j < ncol; j += LANES) {
                const int n = ncol - j < LANES ? ncol - j : LANES;
                VEC i = V(sigmoid)(NAME(load_n)(p + j, n) + bi);
                VEC f = V(sigmoid)(NAME(load_n)(p + (long)H * ncol + j, n) + bf);
                VEC g = V(tanh)(NAME(load_n)(p + (long)2 * H * ncol + j, n) + bg);
                VEC o = V(sigmoid)(NAME(load_n)(p + (long)3 * H * ncol + j, n) + bo);
                VEC c = f * NAME(load_n)(c_prev + row + j, n) + i * g;
                VEC tc = V(tanh)(c);
                NAME(store_n)(a + row + j, i, n);
                NAME(store_n)(a + HB + row + j, f, n);
                NAME(store_n)(a + 2 * HB + row + j, g, n);
                NAME(store_n)(a + 3 * HB + row + j, o, n);
                NAME(store_n)(a + 4 * HB + row + j, tc, n);
                NAME(store_n)(c_out + row + j, c, n);
                NAME(store_n)(h_out + row + j, o * tc, n);
            }
        }
        h_prev = h_out;
        c_prev = c_out;
    }
    free(pre);
    return 0;
}

/* Backpropagation through time for batch columns [col0, col1): fills dG (4, H, T, col1 - col0),
 * this call's own array, with the gate gradients of every step (laid out for the weight-gradient
 * GEMM over its columns), and dh0, dc0 (H, B) with the gradients of the initial state.
 * acts and cs (T, H, B) are the forward's; gh, gc (T, H, B) are the cotangents of the outputs
 * h and c (either may be NULL: zero); w_hh_t is W_hh transposed, (H, 4H) row-major.
 * Returns 0, or -1 when out of memory. */
FAST_CLONES int NAME(lstm_backward)(int T, int B, int H, int col0, int col1, int reverse,
                                    const REAL *acts, const REAL *cs, const REAL *c0,
                                    const REAL *gh, const REAL *gc, const REAL *w_hh_t,
                                    REAL *dG, REAL *dh0, REAL *dc0) {
    const int ncol = col1 - col0, G = 4 * H;
    const long HB = (long)H * B, TB = (long)T * ncol, gate = (long)H * TB;
    /* dh, dc and this step's gate gradients again, contiguous: the product with W_hh^T
     * reads them faster than the strided rows of dG */
    REAL *dh = calloc((size_t)(2 * H + G) * (ncol > 0 ? ncol : 1), sizeof(REAL));
    if (!dh) return -1;
    REAL *dc = dh + (long)H * ncol, *dg = dc + (long)H * ncol;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? s : T - 1 - s;
        const int first = reverse ? t == T - 1 : t == 0;          /* the step that read h0, c0 */
        const REAL *c_prev = first ? c0 + col0 : cs + (long)(reverse ? t + 1 : t - 1) * HB + col0;
        const REAL *a = acts + (long)t * 5 * HB + col0;
        REAL *d = dG + (long)t * ncol;
        for (int r = 0; r < H; r++) {
            const long row = (long)r * B, mine = (long)r * ncol;
            for (int j = 0; j < ncol; j += LANES) {
                const int n = ncol - j < LANES ? ncol - j : LANES;
                VEC dhv = NAME(load_n)(dh + mine + j, n), dcv = NAME(load_n)(dc + mine + j, n);
                if (gh) dhv += NAME(load_n)(gh + t * HB + col0 + row + j, n);
                if (gc) dcv += NAME(load_n)(gc + t * HB + col0 + row + j, n);
                VEC i = NAME(load_n)(a + row + j, n), f = NAME(load_n)(a + HB + row + j, n);
                VEC g = NAME(load_n)(a + 2 * HB + row + j, n), o = NAME(load_n)(a + 3 * HB + row + j, n);
                VEC tc = NAME(load_n)(a + 4 * HB + row + j, n);
                dcv += dhv * o * ((REAL)1 - tc * tc);                     /* through h = o tanh(c) */
                VEC di = dcv * g * i * ((REAL)1 - i);
                VEC df = dcv * NAME(load_n)(c_prev + row + j, n) * f * ((REAL)1 - f);
                VEC dgg = dcv * i * ((REAL)1 - g * g);
                VEC dout = dhv * tc * o * ((REAL)1 - o);
                NAME(store_n)(d + r * TB + j, di, n);
                NAME(store_n)(d + gate + r * TB + j, df, n);
                NAME(store_n)(d + 2 * gate + r * TB + j, dgg, n);
                NAME(store_n)(d + 3 * gate + r * TB + j, dout, n);
                NAME(store_n)(dg + mine + j, di, n);
                NAME(store_n)(dg + (long)H * ncol + mine + j, df, n);
                NAME(store_n)(dg + (long)2 * H * ncol + mine + j, dgg, n);
                NAME(store_n)(dg + (long)3 * H * ncol + mine + j, dout, n);
                NAME(store_n)(dc + mine + j, dcv * f, n);
            }
        }
        NAME(gemm)(H, G, w_hh_t, G, dg, ncol, dh, ncol, ncol, 0);  /* dh_prev = W_hh^T dG_t */
    }
    for (int r = 0; r < H; r++) {
        memcpy(dh0 + (long)r * B + col0, dh + (long)r * ncol, sizeof(REAL) * ncol);
        memcpy(dc0 + (long)r * B + col0, dc + (long)r * ncol, sizeof(REAL) * ncol);
    }
    free(dh);
    return 0;
}
