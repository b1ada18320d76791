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

/* Columns [k0, k0 + kn) of the packed A (npan panels of K columns) from A's rows, in panels
 * of PANEL rows, k-major: A[PANEL p + r, k] goes to P[(p K + k) PANEL + r], and rows past M
 * are 0. A[m, k] is base[m rs + k cs], so W and W^T pack alike. The micro-kernel then reads its PANEL multipliers for each k from one
 * sequential stream (a cache line serves 2.7 values of k) instead of PANEL strided rows,
 * which the hardware prefetchers follow less well. */
static void NAME(pack_panels)(int M, int K, int k0, int kn, const REAL *base, long rs, long cs, REAL *P) {
    for (int p = 0; p * PANEL < M; p++)
        for (int k = 0; k < kn; k++)
            for (int r = 0; r < PANEL; r++) {
                const int m = p * PANEL + r;
                P[((long)p * K + k0 + k) * PANEL + r] = m < M ? base[m * rs + k * cs] : (REAL)0;
            }
}

/* C = A X for packed A (npan panels of K columns; only k < kend are summed) and X (K, ncol)
 * row-major, C (npan PANEL, ncol) row-major: every panel's rows are written, padding too.
 * Blocks of 6 rows by 2 vectors keep 12 accumulators in registers (enough independent
 * chains to cover the FMA latency), and every X row loaded serves 6 rows of A. K goes in
 * slices so that the slice of X every panel reuses stays in the L1 cache. */
INLINE void NAME(gemm_packed)(int npan, int K, int kend, const REAL *P, const REAL *X, REAL *C, int ncol) {
    const int slice = 256;
    for (int k0 = 0; k0 < kend; k0 += slice) {
        const int kn = kend - k0 < slice ? kend - k0 : slice;
        const REAL *xs = X + (long)k0 * ncol;
        for (int p = 0; p < npan; p++) {
            const REAL *a0 = P + ((long)p * K + k0) * PANEL;
            REAL *c0 = C + (long)p * PANEL * ncol;
            int j = 0;
            for (; j + 2 * LANES <= ncol; j += 2 * LANES) {
                VEC s00 = {0}, s01 = {0}, s10 = {0}, s11 = {0}, s20 = {0}, s21 = {0};
                VEC s30 = {0}, s31 = {0}, s40 = {0}, s41 = {0}, s50 = {0}, s51 = {0};
                const REAL *a = a0, *x = xs + j;
                for (int k = 0; k < kn; k++, a += PANEL, x += ncol) {
                    VEC x0 = V(load)(x), x1 = V(load)(x + LANES);
                    s00 += a[0] * x0; s01 += a[0] * x1;
                    s10 += a[1] * x0; s11 += a[1] * x1;
                    s20 += a[2] * x0; s21 += a[2] * x1;
                    s30 += a[3] * x0; s31 += a[3] * x1;
                    s40 += a[4] * x0; s41 += a[4] * x1;
                    s50 += a[5] * x0; s51 += a[5] * x1;
                }
                REAL *c = c0 + j;
                if (k0) {
                    s00 += V(load)(c); s01 += V(load)(c + LANES); c += ncol;
                    s10 += V(load)(c); s11 += V(load)(c + LANES); c += ncol;
                    s20 += V(load)(c); s21 += V(load)(c + LANES); c += ncol;
                    s30 += V(load)(c); s31 += V(load)(c + LANES); c += ncol;
                    s40 += V(load)(c); s41 += V(load)(c + LANES); c += ncol;
                    s50 += V(load)(c); s51 += V(load)(c + LANES);
                    c = c0 + j;
                }
                V(store)(c, s00); V(store)(c + LANES, s01); c += ncol;
                V(store)(c, s10); V(store)(c + LANES, s11); c += ncol;
                V(store)(c, s20); V(store)(c + LANES, s21); c += ncol;
                V(store)(c, s30); V(store)(c + LANES, s31); c += ncol;
                V(store)(c, s40); V(store)(c + LANES, s41); c += ncol;
                V(store)(c, s50); V(store)(c + LANES, s51);
            }
            for (; j < ncol; j += LANES) {                    /* a last vector, full or not */
                const int n = ncol - j < LANES ? ncol - j : LANES;
                VEC s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0};
                const REAL *a = a0, *x = xs + j;
                for (int k = 0; k < kn; k++, a += PANEL, x += ncol) {
                    VEC xv = NAME(load_n)(x, n);
                    s0 += a[0] * xv; s1 += a[1] * xv; s2 += a[2] * xv;
                    s3 += a[3] * xv; s4 += a[4] * xv; s5 += a[5] * xv;
                }
                VEC s[PANEL] = {s0, s1, s2, s3, s4, s5};
                for (int q = 0; q < PANEL; q++) {
                    REAL *c = c0 + (long)q * ncol + j;
                    if (k0) s[q] += NAME(load_n)(c, n);
                    NAME(store_n)(c, s[q], n);
                }
            }
        }
    }
}

/* Forward over all T steps (in reverse order when reverse) for batch columns [col0, col1).
 * x (T, B, n_in); h0, c0 (H, B); bias (4H) = b_ih + b_hh; h0_zero: h0 is all zeros, so the
 * first step's product skips W_hh. Returns 0, or -1 when out of memory. */
FAST_CLONES int NAME(lstm_forward)(int T, int B, int H, int n_in, int col0, int col1, int reverse, int h0_zero,
                                   const REAL *x, const REAL *h0, const REAL *c0,
                                   const REAL *w_ih, const REAL *w_hh, const REAL *bias,
                                   REAL *states, REAL *acts) {
    const int ncol = col1 - col0, G = 4 * H, K = n_in + H, npan = (G + PANEL - 1) / PANEL;
    const long HB = (long)H * B, nc = ncol > 0 ? ncol : 1;
    const size_t row = sizeof(REAL) * (size_t)ncol;
    /* W = [W_ih | W_hh] packed, z = [x_t; h_prev] (K, ncol) and pre = W z, padded to whole panels */
    REAL *P = malloc(sizeof(REAL) * ((size_t)npan * PANEL * K + (size_t)K * nc + (size_t)npan * PANEL * nc));
    if (!P) return -1;
    REAL *z = P + (long)npan * PANEL * K, *pre = z + (long)K * nc;
    NAME(pack_panels)(G, K, 0, n_in, w_ih, n_in, 1, P);
    NAME(pack_panels)(G, K, n_in, H, w_hh, H, 1, P);
    for (int r = 0; r < H; r++) memcpy(z + (long)(n_in + r) * ncol, h0 + (long)r * B + col0, row);
    const REAL *c_prev = c0 + col0;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s;
        const REAL *xt = x + ((long)t * B + col0) * n_in;          /* x_t^T into z's first rows */
        for (int j = 0; j < ncol; j++)
            for (int k = 0; k < n_in; k++) z[(long)k * ncol + j] = xt[(long)j * n_in + k];
        NAME(gemm_packed)(npan, K, s == 0 && h0_zero ? n_in : K, P, z, pre, ncol);
        REAL *a = acts + (long)t * 5 * HB + col0;
        REAL *h_out = states + (long)t * HB + col0, *c_out = states + (long)(T + t) * HB + col0;
        REAL *h_next = z + (long)n_in * ncol;              /* the next step's h_prev rows of z */
        for (int r = 0; r < H; r++) {
            const REAL *p = pre + (long)r * ncol;
            const REAL bi = bias[r], bf = bias[H + r], bg = bias[2 * H + r], bo = bias[3 * H + r];
            const long at = (long)r * B, mine = (long)r * ncol;
            for (int j = 0; j < ncol; j += LANES) {
                const int n = ncol - j < LANES ? ncol - j : LANES;
                VEC i = V(sigmoid)(NAME(load_n)(p + j, n) + bi);
                VEC f = V(sigmoid)(NAME(load_n)(p + (long)H * ncol + j, n) + bf);
                VEC g = V(tanh)(NAME(load_n)(p + (long)2 * H * ncol + j, n) + bg);
                VEC o = V(sigmoid)(NAME(load_n)(p + (long)3 * H * ncol + j, n) + bo);
                VEC c = f * NAME(load_n)(c_prev + at + j, n) + i * g;
                VEC tc = V(tanh)(c);
                VEC h = o * tc;
                NAME(store_n)(a + at + j, i, n);
                NAME(store_n)(a + HB + at + j, f, n);
                NAME(store_n)(a + 2 * HB + at + j, g, n);
                NAME(store_n)(a + 3 * HB + at + j, o, n);
                NAME(store_n)(a + 4 * HB + at + j, tc, n);
                NAME(store_n)(c_out + at + j, c, n);
                NAME(store_n)(h_out + at + j, h, n);
                NAME(store_n)(h_next + mine + j, h, n);
            }
        }
        c_prev = c_out;
    }
    free(P);
    return 0;
}

/* Backpropagation through time for batch columns [col0, col1): fills dG (4, H, T, col1 - col0),
 * this call's own array, with the gate gradients of every step (laid out for the weight-gradient
 * GEMM over its columns), and dc0 (H, B) with the gradient of the initial cell state; dh0 (H, B)
 * too when want_dh0 (else the last step's product with W_hh^T, which only dh0 needs, is skipped).
 * acts and cs (T, H, B) are the forward's; gh, gc (g_count, H, B) are the cotangents of the outputs
 * h and c at steps g_first .. g_first + g_count - 1, zero at the others (either may be NULL: zero
 * throughout). Returns 0, or -1 when out of memory. */
FAST_CLONES int NAME(lstm_backward)(int T, int B, int H, int col0, int col1, int reverse, int want_dh0,
                                    int g_first, int g_count, const REAL *acts, const REAL *cs, const REAL *c0,
                                    const REAL *gh, const REAL *gc, const REAL *w_hh,
                                    REAL *dG, REAL *dh0, REAL *dc0) {
    const int ncol = col1 - col0, G = 4 * H, npan = (H + PANEL - 1) / PANEL;
    const long HB = (long)H * B, TB = (long)T * ncol, gate = (long)H * TB, nc = ncol > 0 ? ncol : 1;
    /* W_hh^T packed; dh (padded to whole panels), dc, and this step's gate gradients again,
     * contiguous, as the product's right-hand side */
    REAL *P = malloc(sizeof(REAL) * (size_t)npan * PANEL * G);
    REAL *dh = calloc((size_t)(npan * PANEL + H + G) * nc, sizeof(REAL));
    if (!P || !dh) {
        free(P);
        free(dh);
        return -1;
    }
    NAME(pack_panels)(H, G, 0, G, w_hh, 1, H, P);
    REAL *dc = dh + (long)npan * PANEL * nc, *dg = dc + (long)H * nc;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? s : T - 1 - s;
        const int first = reverse ? t == T - 1 : t == 0;          /* the step that read h0, c0 */
        const REAL *c_prev = first ? c0 + col0 : cs + (long)(reverse ? t + 1 : t - 1) * HB + col0;
        const REAL *a = acts + (long)t * 5 * HB + col0;
        REAL *d = dG + (long)t * ncol;
        const long live = t >= g_first && t < g_first + g_count ? (t - g_first) * HB + col0 : -1;
        const REAL *ght = gh && live >= 0 ? gh + live : NULL, *gct = gc && live >= 0 ? gc + live : NULL;
        for (int r = 0; r < H; r++) {
            const long row = (long)r * B, mine = (long)r * ncol;
            const REAL *ai = a + row, *af = ai + HB, *ag = af + HB, *ao = ag + HB, *atc = ao + HB;
            const REAL *cp = c_prev + row;
            REAL *dhr = dh + mine, *dcr = dc + mine, *dgr = dg + mine, *dr = d + r * TB;
            for (int j = 0; j < ncol; j += LANES) {
                const int n = ncol - j < LANES ? ncol - j : LANES;
                VEC dhv = NAME(load_n)(dhr + j, n), dcv = NAME(load_n)(dcr + j, n);
                if (ght) dhv += NAME(load_n)(ght + row + j, n);
                if (gct) dcv += NAME(load_n)(gct + row + j, n);
                VEC i = NAME(load_n)(ai + j, n), f = NAME(load_n)(af + j, n);
                VEC g = NAME(load_n)(ag + j, n), o = NAME(load_n)(ao + j, n);
                VEC tc = NAME(load_n)(atc + j, n);
                dcv += dhv * o * ((REAL)1 - tc * tc);                     /* through h = o tanh(c) */
                VEC di = dcv * g * i * ((REAL)1 - i);
                VEC df = dcv * NAME(load_n)(cp + j, n) * f * ((REAL)1 - f);
                VEC dgg = dcv * i * ((REAL)1 - g * g);
                VEC dout = dhv * tc * o * ((REAL)1 - o);
                NAME(store_n)(dr + j, di, n);
                NAME(store_n)(dr + gate + j, df, n);
                NAME(store_n)(dr + 2 * gate + j, dgg, n);
                NAME(store_n)(dr + 3 * gate + j, dout, n);
                NAME(store_n)(dgr + j, di, n);
                NAME(store_n)(dgr + (long)H * ncol + j, df, n);
                NAME(store_n)(dgr + (long)2 * H * ncol + j, dgg, n);
                NAME(store_n)(dgr + (long)3 * H * ncol + j, dout, n);
                NAME(store_n)(dcr + j, dcv * f, n);
            }
        }
        if (s < T - 1 || want_dh0)
            NAME(gemm_packed)(npan, G, G, P, dg, dh, ncol);        /* dh_prev = W_hh^T dG_t */
    }
    for (int r = 0; r < H; r++) {
        if (want_dh0) memcpy(dh0 + (long)r * B + col0, dh + (long)r * ncol, sizeof(REAL) * ncol);
        memcpy(dc0 + (long)r * B + col0, dc + (long)r * ncol, sizeof(REAL) * ncol);
    }
    free(P);
    free(dh);
    return 0;
}
