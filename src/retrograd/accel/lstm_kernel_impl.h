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

/* C = A X, C (npan PANEL, ncol) with rows cstride apart: every panel's rows are written, padding
 * too; only k < kend are summed. A's rows come in panels of PANEL: A[PANEL p + q, k] is at
 * A[p a_panel + q a_row + k a_k]. Packed (pack_panels), a_row = 1 and a_k = PANEL; row-major,
 * a_row is the row length and a_k = 1. X (K, ncol) comes in blocks of 2 vectors of columns:
 * X[k, j] is at X[(j / W) xblock + k xstride + j % W], W = 2 LANES. A row-major X has xstride =
 * ncol and xblock = W; the weight-gradient GEMM's X is stored block by block (xstride = W), so
 * that a block's rows are contiguous.
 * Blocks of 6 rows by 2 vectors keep 12 accumulators in registers (enough independent chains
 * to cover the FMA latency), and every X row loaded serves 6 rows of A. K goes in slices of
 * kslice, and each slice's block of X stays in cache while the slice's panels of A stream past. */
INLINE void NAME(gemm)(int npan, int kend, int kslice, const REAL *A, long a_panel, long a_row, long a_k,
                       const REAL *X, long xstride, long xblock, REAL *C, long cstride, int ncol) {
    const int W = 2 * LANES;
    for (int k0 = 0; k0 < kend; k0 += kslice) {
        const int kn = kend - k0 < kslice ? kend - k0 : kslice;
        int j = 0;
        for (; j + W <= ncol; j += W) {
            const REAL *xs = X + (j / W) * xblock + (long)k0 * xstride;
            for (int p = 0; p < npan; p++) {
                VEC s00 = {0}, s01 = {0}, s10 = {0}, s11 = {0}, s20 = {0}, s21 = {0};
                VEC s30 = {0}, s31 = {0}, s40 = {0}, s41 = {0}, s50 = {0}, s51 = {0};
                const REAL *a = A + p * a_panel + k0 * a_k, *x = xs;
                for (int k = 0; k < kn; k++, a += a_k, x += xstride) {
                    VEC x0 = V(load)(x), x1 = V(load)(x + LANES);
                    const REAL a0 = a[0], a1 = a[a_row], a2 = a[2 * a_row];
                    const REAL a3 = a[3 * a_row], a4 = a[4 * a_row], a5 = a[5 * a_row];
                    s00 += a0 * x0; s01 += a0 * x1;
                    s10 += a1 * x0; s11 += a1 * x1;
                    s20 += a2 * x0; s21 += a2 * x1;
                    s30 += a3 * x0; s31 += a3 * x1;
                    s40 += a4 * x0; s41 += a4 * x1;
                    s50 += a5 * x0; s51 += a5 * x1;
                }
                REAL *c = C + (long)p * PANEL * cstride + j;
                if (k0) {
                    s00 += V(load)(c); s01 += V(load)(c + LANES); c += cstride;
                    s10 += V(load)(c); s11 += V(load)(c + LANES); c += cstride;
                    s20 += V(load)(c); s21 += V(load)(c + LANES); c += cstride;
                    s30 += V(load)(c); s31 += V(load)(c + LANES); c += cstride;
                    s40 += V(load)(c); s41 += V(load)(c + LANES); c += cstride;
                    s50 += V(load)(c); s51 += V(load)(c + LANES);
                    c = C + (long)p * PANEL * cstride + j;
                }
                V(store)(c, s00); V(store)(c + LANES, s01); c += cstride;
                V(store)(c, s10); V(store)(c + LANES, s11); c += cstride;
                V(store)(c, s20); V(store)(c + LANES, s21); c += cstride;
                V(store)(c, s30); V(store)(c + LANES, s31); c += cstride;
                V(store)(c, s40); V(store)(c + LANES, s41); c += cstride;
                V(store)(c, s50); V(store)(c + LANES, s51);
            }
        }
        for (; j < ncol; j += LANES) {                        /* a last vector, full or not */
            const int n = ncol - j < LANES ? ncol - j : LANES;
            const REAL *xs = X + (j / W) * xblock + (long)k0 * xstride + j % W;
            for (int p = 0; p < npan; p++) {
                VEC s[PANEL] = {{0}};
                const REAL *a = A + p * a_panel + k0 * a_k, *x = xs;
                for (int k = 0; k < kn; k++, a += a_k, x += xstride) {
                    VEC xv = NAME(load_n)(x, n);
                    for (int q = 0; q < PANEL; q++) s[q] += a[q * a_row] * xv;
                }
                for (int q = 0; q < PANEL; q++) {
                    REAL *c = C + ((long)p * PANEL + q) * cstride + j;
                    if (k0) s[q] += NAME(load_n)(c, n);
                    NAME(store_n)(c, s[q], n);
                }
            }
        }
    }
}

/* C = A X for A packed by pack_panels (npan panels of K columns), a row-major X (K, ncol) and C
 * (npan PANEL, ncol): a step's product */
INLINE void NAME(gemm_step)(int npan, int K, int kend, const REAL *P, const REAL *X, REAL *C, int ncol) {
    NAME(gemm)(npan, kend, 256, P, (long)K * PANEL, 1, PANEL, X, ncol, 2 * LANES, C, ncol, ncol);
}

/* The batch columns of half 0 of a job are [0, split), those of half 1 [split, B); split = 0
 * (a batch under two vectors) leaves all to half 1, and only that half runs. */
static int NAME(split)(int B) {
    if (B < 2 * LANES) return 0;
    return (B / 2 + LANES - 1) / LANES * LANES;
}

typedef struct {
    int T, B, H, n_in, split, reverse, h0_zero;
    const REAL *x, *h0, *c0, *w_ih, *w_hh, *bias;
    REAL *states, *acts;
    int code[2];                            /* each half's: 0, or -1 when out of memory */
} NAME(forward_job);

/* The forward over all T steps (in reverse order when reverse) for batch columns [col0, col1). */
static FAST_CLONES int NAME(forward_half)(const NAME(forward_job) *job, int col0, int col1) {
    const int T = job->T, B = job->B, H = job->H, n_in = job->n_in, reverse = job->reverse;
    const REAL *x = job->x, *h0 = job->h0, *c0 = job->c0, *bias = job->bias;
    REAL *states = job->states, *acts = job->acts;
    const int ncol = col1 - col0, G = 4 * H, K = n_in + H, npan = (G + PANEL - 1) / PANEL;
    const long HB = (long)H * B, nc = ncol > 0 ? ncol : 1;
    const size_t row = sizeof(REAL) * (size_t)ncol;
    /* W = [W_ih | W_hh] packed, z = [x_t; h_prev] (K, ncol) and pre = W z, padded to whole panels */
    REAL *P = malloc(sizeof(REAL) * ((size_t)npan * PANEL * K + (size_t)K * nc + (size_t)npan * PANEL * nc));
    if (!P) return -1;
    REAL *z = P + (long)npan * PANEL * K, *pre = z + (long)K * nc;
    NAME(pack_panels)(G, K, 0, n_in, job->w_ih, n_in, 1, P);
    NAME(pack_panels)(G, K, n_in, H, job->w_hh, H, 1, P);
    for (int r = 0; r < H; r++) memcpy(z + (long)(n_in + r) * ncol, h0 + (long)r * B + col0, row);
    const REAL *c_prev = c0 + col0;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s;
        const REAL *xt = x + ((long)t * B + col0) * n_in;          /* x_t^T into z's first rows */
        for (int j = 0; j < ncol; j++)
            for (int k = 0; k < n_in; k++) z[(long)k * ncol + j] = xt[(long)j * n_in + k];
        NAME(gemm_step)(npan, K, s == 0 && job->h0_zero ? n_in : K, P, z, pre, ncol);
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

static void NAME(forward_run)(void *job, int half) {
    NAME(forward_job) *f = job;
    f->code[half] = half ? NAME(forward_half)(f, f->split, f->B) : NAME(forward_half)(f, 0, f->split);
}

/* The LSTM forward: states (2, T, H, B) = [h, c] and the saved activations acts (T, 5, H, B) =
 * [i, f, g, o, tanh c] from x (T, B, n_in), h0, c0 (H, B), W_ih (4H, n_in), W_hh (4H, H) and
 * bias (4H) = b_ih + b_hh, the batch split over two threads. h0_zero: h0 is all zeros, so the
 * first step's product skips W_hh. Returns 0, or -1 when out of memory. */
int NAME(lstm_forward)(int T, int B, int H, int n_in, int reverse, int h0_zero,
                       const REAL *x, const REAL *h0, const REAL *c0,
                       const REAL *w_ih, const REAL *w_hh, const REAL *bias, REAL *states, REAL *acts) {
    NAME(forward_job) job = {T, B, H, n_in, NAME(split)(B), reverse, h0_zero,
                             x, h0, c0, w_ih, w_hh, bias, states, acts, {0, 0}};
    if (job.split) run_pair(NAME(forward_run), &job);
    else NAME(forward_run)(&job, 1);
    return job.code[0] | job.code[1];
}

typedef struct {
    int T, B, H, n_in, split, reverse, want_dh0, want_dx, want_dw, g_first, g_count;
    const REAL *acts, *hs, *cs, *x, *h0, *c0, *gh, *gc, *w_ih, *w_hh;
    REAL *work;                             /* NAME(backward_work) values per half */
    REAL *dx, *dh0, *dc0;
} NAME(backward_job);

/* The sizes of one half's work arrays, in values, each rounded up to whole cache lines so
 * that the two halves never share one. */
typedef struct { long w_hh_t, w_ih_t, dh, dc, dg, dxs, dG, z, dw, db, total; } NAME(backward_sizes);

static NAME(backward_sizes) NAME(backward_work)(int T, int B, int H, int n_in) {
    const int G = 4 * H, W = 2 * LANES, Kw = (H + n_in + W - 1) / W * W, split = NAME(split)(B);
    const long nc = split > B - split ? split : B - split, J = T * nc;
    const long line = 64 / sizeof(REAL);
#define LINES(n) (((long)(n) + line - 1) / line * line)
    NAME(backward_sizes) w;
    w.w_hh_t = LINES((long)(H + PANEL - 1) / PANEL * PANEL * G);
    w.w_ih_t = LINES((long)(n_in + PANEL - 1) / PANEL * PANEL * G);
    w.dh = LINES((long)(H + PANEL - 1) / PANEL * PANEL * nc);
    w.dc = LINES((long)H * nc);
    w.dg = LINES((long)G * nc);
    w.dxs = LINES((long)(n_in + PANEL - 1) / PANEL * PANEL * nc);
    w.dG = LINES((long)(G + PANEL - 1) / PANEL * PANEL * J);
    w.z = LINES(J * Kw);
    w.dw = LINES((long)(G + PANEL - 1) / PANEL * PANEL * Kw);
    w.db = LINES((long)G * LANES);
#undef LINES
    w.total = w.w_hh_t + w.w_ih_t + w.dh + w.dc + w.dg + w.dxs + w.dG + w.z + w.dw + w.db;
    return w;
}

/* Values of work array lstm_backward needs (both halves). */
long NAME(lstm_backward_work)(int T, int B, int H, int n_in) {
    return 2 * NAME(backward_work)(T, B, H, n_in).total;
}

/* Backpropagation through time for batch columns [col0, col1), into this half's work arrays:
 * the gate gradients of each step (dg) go on into dh_prev = W_hh^T dg and dx_t = W_ih^T dg, and,
 * for the weight gradients, into column j = t ncol + c of dG (4H, T ncol), with the rows
 * z_j = [h_prev, x_t] beside them; one GEMM over all j then gives this half's [dW_hh | dW_ih]
 * (dw), and the lanes of db accumulate on the way. dx, dh0, dc0 get this half's columns. */
static FAST_CLONES void NAME(backward_half)(const NAME(backward_job) *job, int col0, int col1, REAL *work) {
    const int T = job->T, B = job->B, H = job->H, n_in = job->n_in, reverse = job->reverse;
    const int ncol = col1 - col0, G = 4 * H, K = H + n_in, W = 2 * LANES, Kw = (K + W - 1) / W * W;
    const int npan_h = (H + PANEL - 1) / PANEL, npan_i = (n_in + PANEL - 1) / PANEL, npan_g = (G + PANEL - 1) / PANEL;
    const long HB = (long)H * B, J = (long)T * ncol;
    const NAME(backward_sizes) size = NAME(backward_work)(T, B, H, n_in);
    REAL *w_hh_t = work, *w_ih_t = w_hh_t + size.w_hh_t, *dh = w_ih_t + size.w_ih_t, *dc = dh + size.dh;
    REAL *dg = dc + size.dc, *dxs = dg + size.dg, *dG = dxs + size.dxs, *z = dG + size.dG;
    REAL *dw = z + size.z, *db = dw + size.dw;
    const REAL *gh = job->gh, *gc = job->gc;
    NAME(pack_panels)(H, G, 0, G, job->w_hh, 1, H, w_hh_t);
    if (job->want_dx) NAME(pack_panels)(n_in, G, 0, G, job->w_ih, 1, n_in, w_ih_t);
    memset(dh, 0, sizeof(REAL) * (size.dh + size.dc));
    if (job->want_dw) {
        memset(db, 0, sizeof(REAL) * size.db);
        memset(dG + G * J, 0, sizeof(REAL) * (npan_g * PANEL - G) * J);      /* the last panel's padding */
        if (Kw > K)                                                       /* z's padding columns */
            for (long j = 0; j < J; j++) memset(z + (K / W) * J * W + j * W + K % W, 0, sizeof(REAL) * (Kw - K));
    }
    for (int s = 0; s < T; s++) {
        const int t = reverse ? s : T - 1 - s;
        const int first = reverse ? t == T - 1 : t == 0;          /* the step that read h0, c0 */
        const long prev = reverse ? t + 1 : t - 1;
        const REAL *c_prev = first ? job->c0 + col0 : job->cs + prev * HB + col0;
        const REAL *a = job->acts + (long)t * 5 * HB + col0;
        const long live = t >= job->g_first && t < job->g_first + job->g_count ? (t - job->g_first) * HB + col0 : -1;
        const REAL *ght = gh && live >= 0 ? gh + live : NULL, *gct = gc && live >= 0 ? gc + live : NULL;
        for (int r = 0; r < H; r++) {
            const long row = (long)r * B, mine = (long)r * ncol;
            const REAL *ai = a + row, *af = ai + HB, *ag = af + HB, *ao = ag + HB, *atc = ao + HB;
            const REAL *cp = c_prev + row;
            REAL *dhr = dh + mine, *dcr = dc + mine, *dgr = dg + mine, *dGr = dG + r * J + (long)t * ncol;
            VEC sum_i = {0}, sum_f = {0}, sum_g = {0}, sum_o = {0};
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
                NAME(store_n)(dgr + j, di, n);                            /* lanes past n are 0 */
                NAME(store_n)(dgr + (long)H * ncol + j, df, n);
                NAME(store_n)(dgr + (long)2 * H * ncol + j, dgg, n);
                NAME(store_n)(dgr + (long)3 * H * ncol + j, dout, n);
                NAME(store_n)(dcr + j, dcv * f, n);
                if (job->want_dw) {
                    NAME(store_n)(dGr + j, di, n);
                    NAME(store_n)(dGr + H * J + j, df, n);
                    NAME(store_n)(dGr + 2 * H * J + j, dgg, n);
                    NAME(store_n)(dGr + 3 * H * J + j, dout, n);
                }
                sum_i += di; sum_f += df; sum_g += dgg; sum_o += dout;
            }
            if (job->want_dw) {
                REAL *d = db + (long)r * LANES;
                V(store)(d, V(load)(d) + sum_i);
                V(store)(d + (long)H * LANES, V(load)(d + (long)H * LANES) + sum_f);
                V(store)(d + (long)2 * H * LANES, V(load)(d + (long)2 * H * LANES) + sum_g);
                V(store)(d + (long)3 * H * LANES, V(load)(d + (long)3 * H * LANES) + sum_o);
            }
        }
        if (s < T - 1 || job->want_dh0)
            NAME(gemm_step)(npan_h, G, G, w_hh_t, dg, dh, ncol);       /* dh_prev = W_hh^T dg */
        if (job->want_dx) {                                            /* dx_t = W_ih^T dg, to (B, n_in) */
            NAME(gemm_step)(npan_i, G, G, w_ih_t, dg, dxs, ncol);
            REAL *dxt = job->dx + ((long)t * B + col0) * n_in;
            for (int c = 0; c < ncol; c++)
                for (int k = 0; k < n_in; k++) dxt[(long)c * n_in + k] = dxs[(long)k * ncol + c];
        }
        if (job->want_dw) {
            /* z rows [h_prev, x_t] of this step's columns, in blocks of W features: z[k, j] is at
             * z[(k / W) J W + j W + k % W] */
            const REAL *hp = first ? job->h0 + col0 : job->hs + prev * HB + col0;
            const REAL *xt = job->x + ((long)t * B + col0) * n_in;
            REAL *zt = z + (long)t * ncol * W;
            for (int k = 0; k < H; k++) {
                REAL *out = zt + (k / W) * J * W + k % W;
                for (int c = 0; c < ncol; c += LANES) {              /* a vector in, its lanes out */
                    const int n = ncol - c < LANES ? ncol - c : LANES;
                    const VEC v = NAME(load_n)(hp + (long)k * B + c, n);
                    for (int l = 0; l < n; l++) out[(c + l) * W] = v[l];
                }
            }
            for (int c = 0; c < ncol; c++)
                for (int k = H; k < K; k++) zt[(k / W) * J * W + c * W + k % W] = xt[(long)c * n_in + k - H];
        }
    }
    if (job->want_dw)                                                      /* [dW_hh | dW_ih] */
        NAME(gemm)(npan_g, J, J, dG, PANEL * J, J, 1, z, W, J * W, dw, Kw, K);
    for (int r = 0; r < H; r++) {
        if (job->want_dh0) memcpy(job->dh0 + (long)r * B + col0, dh + (long)r * ncol, sizeof(REAL) * ncol);
        memcpy(job->dc0 + (long)r * B + col0, dc + (long)r * ncol, sizeof(REAL) * ncol);
    }
}

static void NAME(backward_run)(void *job, int half) {
    NAME(backward_job) *b = job;
    const long per_half = NAME(backward_work)(b->T, b->B, b->H, b->n_in).total;
    if (half) NAME(backward_half)(b, b->split, b->B, b->work + per_half);
    else NAME(backward_half)(b, 0, b->split, b->work);
}

/* The LSTM backward (BPTT), the batch split over two threads. acts, hs and cs (the forward's
 * activations and states h, c), x, h0, c0 (H, B) and the weights are as in lstm_forward. gh, gc
 * (g_count, H, B) are the cotangents of h and c at steps g_first .. g_first + g_count - 1, zero
 * at the others (either may be NULL: zero throughout). Fills dc0 (H, B), dh0 (H, B) when
 * want_dh0, dx (T, B, n_in) when want_dx, and dW_hh (4H, H), dW_ih (4H, n_in) and db (4H) when
 * want_dw. work holds lstm_backward_work(T, B, H, n_in) values. */
int NAME(lstm_backward)(int T, int B, int H, int n_in, int reverse, int want_dh0, int want_dx, int want_dw,
                        int g_first, int g_count, const REAL *acts, const REAL *hs, const REAL *cs,
                        const REAL *x, const REAL *h0, const REAL *c0, const REAL *gh, const REAL *gc,
                        const REAL *w_ih, const REAL *w_hh, REAL *work,
                        REAL *dx, REAL *dh0, REAL *dc0, REAL *dw_hh, REAL *dw_ih, REAL *db) {
    NAME(backward_job) job = {T, B, H, n_in, NAME(split)(B), reverse, want_dh0, want_dx, want_dw, g_first, g_count,
                              acts, hs, cs, x, h0, c0, gh, gc, w_ih, w_hh, work, dx, dh0, dc0};
    if (job.split) run_pair(NAME(backward_run), &job);
    else NAME(backward_run)(&job, 1);
    if (!want_dw) return 0;
    /* the halves' parts: [dW_hh | dW_ih] rows of K = H + n_in values, db as G lane vectors */
    const NAME(backward_sizes) size = NAME(backward_work)(T, B, H, n_in);
    const int G = 4 * H, W = 2 * LANES, Kw = (H + n_in + W - 1) / W * W;
    const REAL *dw1 = work + size.total + (size.total - size.dw - size.db), *db1 = dw1 + size.dw;
    const REAL *dw0 = work + (size.total - size.dw - size.db), *db0 = dw0 + size.dw;
    for (int r = 0; r < G; r++) {
        const REAL *a = dw1 + (long)r * Kw, *b = dw0 + (long)r * Kw;
        REAL sum = 0;
        for (int k = 0; k < LANES; k++) sum += db1[(long)r * LANES + k];
        if (job.split) {
            for (int k = 0; k < H; k++) dw_hh[(long)r * H + k] = a[k] + b[k];
            for (int k = 0; k < n_in; k++) dw_ih[(long)r * n_in + k] = a[H + k] + b[H + k];
            for (int k = 0; k < LANES; k++) sum += db0[(long)r * LANES + k];
        } else {
            memcpy(dw_hh + (long)r * H, a, sizeof(REAL) * H);
            memcpy(dw_ih + (long)r * n_in, a + H, sizeof(REAL) * n_in);
        }
        db[r] = sum;
    }
    return 0;
}
