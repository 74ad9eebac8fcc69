/*
 * kernels/transformer_vec.h -- the element-wise, LayerNorm and attention
 * kernels of transformer_cpu.c, written as plain loops for the compiler to
 * vectorise.  transformer_cpu.c includes this file once per instruction set
 * (baseline x86-64, AVX2+FMA, AVX-512) under '#pragma GCC target', with
 * TFV_SUFFIX naming the copy, and picks one at run time (tf_isa()).
 *
 * Every copy computes bit-identical results: C99 mode keeps floating-point
 * contraction off (no fused multiply-adds are formed), every reduction runs
 * in 8 fixed lanes (dot8, sum8) or in fixed row blocks (RB), and the
 * element-wise maths is the same sequence of IEEE operations.
 *
 * Bias additions are fused into the pass that follows each matrix product
 * (the products run with beta = 0), bias gradients into the pass that
 * produces the gradient, and LayerNorm into the residual pass before it.
 */
#define TFV_CAT2(a, b) a##_##b
#define TFV_CAT(a, b) TFV_CAT2(a, b)
#define TFV(name) TFV_CAT(name, TFV_SUFFIX)

/* LayerNorm of one row of d: out = (x - mean) / sqrt(var + eps) * w + b */
ALWAYS_INLINE void TFV(ln_row)(float *o, float *mu, float *rs, const float *xr,
                               const float *w, const float *b, int d) {
    const float m = sum8(xr, d) / d;
    float acc[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    int u = 0;
    for (; u + 8 <= d; u += 8)
        for (int k = 0; k < 8; k++) { float t = xr[u + k] - m; acc[k] += t * t; }
    for (; u < d; u++) { float t = xr[u] - m; acc[u & 7] += t * t; }
    const float v = (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) / d;
    const float r = 1.0f / sqrtf(v + LN_EPS);
    *mu = m; *rs = r;
    #pragma omp simd
    for (int j = 0; j < d; j++) o[j] = (xr[j] - m) * r * w[j] + b[j];
}

/* p += bias; xout = x + ls .* p (ls NULL: 1); then a, mu, rs = LN(xout):
 * the residual add of a branch and the LayerNorm after it, rows n0..n1-1 */
ALWAYS_INLINE void TFV(residual_ln)(float *xout, float *p, const float *bias, const float *x, const float *ls,
                                    float *a, float *mu, float *rs, const float *w, const float *b,
                                    int64_t n0, int64_t n1, int d) {
    for (int64_t n = n0; n < n1; n++) {
        float *pr = p + n * d, *xo = xout + n * d;
        const float *xr = x + n * d;
        if (ls) {
            #pragma omp simd
            for (int j = 0; j < d; j++) { float t = pr[j] + bias[j]; pr[j] = t; xo[j] = xr[j] + ls[j] * t; }
        } else {
            #pragma omp simd
            for (int j = 0; j < d; j++) { float t = pr[j] + bias[j]; pr[j] = t; xo[j] = xr[j] + t; }
        }
        TFV(ln_row)(a + n * d, mu + n, rs + n, xo, w, b, d);
    }
}

/* qkv += bias, then q and k (the first 2d columns) of every token rotated
 * by the RoPE table; rows n0..n1-1 */
ALWAYS_INLINE void TFV(bias_rope)(float *qkv, const float *bias, const float *rope, int64_t n0, int64_t n1,
                                  int T, int d, int H) {
    const int hd = d / H, np = hd / 2;
    for (int64_t n = n0; n < n1; n++) {
        const float *cs = rope + (int64_t)(n % T) * np * 2;
        float *row = qkv + n * 3 * d;
        #pragma omp simd
        for (int j = 0; j < 3 * d; j++) row[j] += bias[j];
        for (int v0 = 0; v0 < 2 * d; v0 += hd) {
            float *v = row + v0;
            #pragma omp simd
            for (int p = 0; p < np; p++) {
                /* adds of a negated sine, not a subtraction: GCC 12 fuses a
                 * vectorised subtract/add pair into vfmaddsub even with
                 * contraction off, which would change results per ISA */
                float c = cs[2 * p], s = cs[2 * p + 1], ns = -s, a0 = v[2 * p], b0 = v[2 * p + 1];
                v[2 * p] = a0 * c + b0 * ns;
                v[2 * p + 1] = a0 * s + b0 * c;
            }
        }
    }
}

/* h += b1; g = GELU(h); rows n0..n1-1 of width o */
ALWAYS_INLINE void TFV(bias_gelu)(float *h, float *g, const float *b1, int64_t n0, int64_t n1, int o) {
    for (int64_t n = n0; n < n1; n++) {
        float *hr = h + n * o, *gr = g + n * o;
        #pragma omp simd
        for (int j = 0; j < o; j++) {
            float x = hr[j] + b1[j];
            hr[j] = x;
            gr[j] = 0.5f * x * (1.0f + gelu_erf(x * INV_SQRT2));
        }
    }
}

/* The second half of a block over rows m0..m1-1 of the given buffers (all
 * (N, .) with the same row index): po = y Wo + bo; xm = x + ls1 .* po;
 * a2 = LN2(xm); h = a2 W1 + b1; g = GELU(h); pm = g W2 + b2; xout = xm +
 * ls2 .* pm and an, mun, rsn = the LayerNorm (wn, bn) after the block.  x
 * may be xm (updated in place). */
static void TFV(block_tail)(float *xout, float *an, float *mun, float *rsn, const float *wn, const float *bn,
                            float *xm, const float *x, float *y, float *po, float *a2, float *mu2, float *rs2,
                            float *h, float *g, float *pm, const float *params, const tp_tf_block_off *P,
                            int layerscale, int64_t m0, int64_t m1, int d) {
    const int nt = (int)(m1 - m0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, d, d, 1.0f, y + m0 * d, d,
                params + P->wo, d, 0.0f, po + m0 * d, d);
    TFV(residual_ln)(xm, po, params + P->bo, x, layerscale ? params + P->ls1 : NULL,
                     a2, mu2, rs2, params + P->ln2_w, params + P->ln2_b, m0, m1, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, 4 * d, d, 1.0f, a2 + m0 * d, d,
                params + P->w1, 4 * d, 0.0f, h + m0 * 4 * d, 4 * d);
    TFV(bias_gelu)(h, g, params + P->b1, m0, m1, 4 * d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, d, 4 * d, 1.0f, g + m0 * 4 * d, 4 * d,
                params + P->w2, d, 0.0f, pm + m0 * d, d);
    TFV(residual_ln)(xout, pm, params + P->b2, xm, layerscale ? params + P->ls2 : NULL,
                     an, mun, rsn, wn, bn, m0, m1, d);
}

/* logp rows m0..m1-1 = log_softmax(af Whead + bhead) over the q real states */
static void TFV(head_logsoftmax)(float *logp, const float *af, const float *params, const tp_tf_layout *L,
                                 int64_t m0, int64_t m1, int d, int q) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(m1 - m0), q, d, 1.0f, af + m0 * d, d,
                params + L->head_w, q, 0.0f, logp + m0 * q, q);
    const float *hb = params + L->head_b;
    for (int64_t n = m0; n < m1; n++) {
        float *z = logp + n * q;
        for (int k = 0; k < q; k++) z[k] += hb[k];
        float mx = z[0];
        for (int k = 1; k < q; k++) if (z[k] > mx) mx = z[k];
        float s = 0;
        for (int k = 0; k < q; k++) s += expf(z[k] - mx);
        float lse = mx + logf(s);
        for (int k = 0; k < q; k++) z[k] -= lse;
    }
}

/* Attention of one query (the token at site of a row whose tokens are
 * tok) in a one-block network, all heads, read from the sampling table:
 * the key and value of the token at position j are row tok[j]*T + j of
 * kvt (q, k, v; ld 3d).  Scores in sc (T floats a head), then the same
 * softmax as attn_fwd_head; products summed in position order. */
static void TFV(attn_site_table)(float *y, float *sc, const float *kvt, const uint8_t *tok, int site, int T, int d,
                                 int H, float scale) {
    const int hd = d / H;
    const float *qr = kvt + ((int64_t)tok[site] * T + site) * 3 * d;
    for (int h = 0; h < H; h++) {
        float *pr = sc + (int64_t)h * T;
        const float *Q = qr + h * hd;
        for (int j = 0; j < T; j++) pr[j] = scale * dot8(Q, kvt + ((int64_t)tok[j] * T + j) * 3 * d + d + h * hd, hd);
        const float mx = max8(pr, T);
        #pragma omp simd
        for (int u = 0; u < T; u++) pr[u] = softmax_exp(pr[u] - mx);
        const float iz = 1.0f / sum8(pr, T);
        float *yh = y + h * hd;
        for (int k = 0; k < hd; k++) yh[k] = 0;
        for (int j = 0; j < T; j++) {
            const float *V = kvt + ((int64_t)tok[j] * T + j) * 3 * d + 2 * d + h * hd, p = pr[j] * iz;
            #pragma omp simd
            for (int k = 0; k < hd; k++) yh[k] += p * V[k];
        }
    }
}

/* The sampling table of a one-block network (rows s*T + j: the rotated
 * q, k, v of state s at position j), computed as the full pass computes
 * them: LayerNorm of each state's embedding and its projection (one row a
 * state, in a1: (states+1) x 4d scratch), copied to every position, then
 * bias and rotation */
static void TFV(site_table)(float *kvt, float *a1, const float *params, const float *rope, const tp_tf_config *c,
                            const tp_tf_layout *L) {
    const int T = c->sites, d = c->embed, V = c->states + 1;
    float mu, rs, *proj = a1 + (int64_t)V * d;
    for (int s = 0; s < V; s++)
        TFV(ln_row)(a1 + (int64_t)s * d, &mu, &rs, params + L->wte + (int64_t)s * d, params + L->blk[0].ln1_w,
                    params + L->blk[0].ln1_b, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, V, 3 * d, d, 1.0f, a1, d, params + L->blk[0].wqkv, 3 * d,
                0.0f, proj, 3 * d);
    for (int s = 0; s < V; s++)
        for (int j = 0; j < T; j++)
            memcpy(kvt + ((int64_t)s * T + j) * 3 * d, proj + (int64_t)s * 3 * d, sizeof(float) * 3 * d);
    TFV(bias_rope)(kvt, params + L->blk[0].bqkv, rope, 0, (int64_t)V * T, T, d, c->heads);
}

/* Tiled attention (transformer.h, tp_tf_tiled): the keys and values of
 * head h of one row, transposed into kt, vt (hd, T) */
ALWAYS_INLINE void TFV(kv_transpose)(float *kt, float *vt, const float *base, int T, int d, int h, int hd) {
    const float *K = base + d + h * hd, *V = base + 2 * d + h * hd;
    for (int u = 0; u < T; u++)
        for (int e = 0; e < hd; e++) {
            kt[(int64_t)e * T + u] = K[(int64_t)u * 3 * d + e];
            vt[(int64_t)e * T + u] = V[(int64_t)u * 3 * d + e];
        }
}

/* s (T) = scale * (Q . k_u) for every key u, summed over features in order */
ALWAYS_INLINE void TFV(scores_t)(float *s, const float *Q, const float *kt, int T, int hd, float scale) {
    #pragma omp simd
    for (int u = 0; u < T; u++) s[u] = Q[0] * kt[u];
    for (int e = 1; e < hd; e++) {
        const float qe = Q[e];
        const float *kr = kt + (int64_t)e * T;
        #pragma omp simd
        for (int u = 0; u < T; u++) s[u] += qe * kr[u];
    }
    #pragma omp simd
    for (int u = 0; u < T; u++) s[u] *= scale;
}

/* scores_t for nb (1..TQB) query rows at Q (ld ldq) into s + b T: a full
 * group runs strips of 16 keys with the TQB sums in registers, in the same
 * order of operations as scores_t (so the same bits) */
ALWAYS_INLINE void TFV(scores_blk)(float *s, const float *Q, int64_t ldq, int nb, const float *kt, int T, int hd,
                                   float scale) {
    if (nb < TQB) {
        for (int b = 0; b < nb; b++) TFV(scores_t)(s + (int64_t)b * T, Q + b * ldq, kt, T, hd, scale);
        return;
    }
    int u0 = 0;
    for (; u0 + 16 <= T; u0 += 16) {
        tf_v16 k, a0, a1, a2, a3;
        LD16(k, kt + u0);
        a0 = k * Q[0]; a1 = k * Q[ldq]; a2 = k * Q[2 * ldq]; a3 = k * Q[3 * ldq];
        for (int e = 1; e < hd; e++) {
            LD16(k, kt + (int64_t)e * T + u0);
            a0 += k * Q[e]; a1 += k * Q[ldq + e]; a2 += k * Q[2 * ldq + e]; a3 += k * Q[3 * ldq + e];
        }
        a0 *= scale; a1 *= scale; a2 *= scale; a3 *= scale;
        ST16(s + u0, a0); ST16(s + T + u0, a1); ST16(s + 2 * T + u0, a2); ST16(s + 3 * T + u0, a3);
    }
    for (int b = 0; b < TQB; b++)
        for (int u = u0; u < T; u++) {
            const float *Qb = Q + b * ldq;
            float a = Qb[0] * kt[u];
            for (int e = 1; e < hd; e++) a += Qb[e] * kt[(int64_t)e * T + u];
            s[(int64_t)b * T + u] = a * scale;
        }
}

/* out[b ldo + e] = sum_u a[b T + u] m[e T + u] for b < nb (1..TQB), e <
 * hd: each sum in 16 lanes (strip after strip of 16 keys, in order), the
 * lanes added in a fixed tree, then the T % 16 last keys in order.  A full
 * group of queries runs four features at a time with the 16 sums in vector
 * registers (independent chains: no wait on one accumulator); any other
 * shape runs the same operations lane by lane, so the same bits. */
/* the 16 lane sums l added in a fixed tree, then a[u] m[u] for the keys
 * u = ns..T-1 past the last strip, in order */
ALWAYS_INLINE float TFV(lanes_sum)(const float *l, const float *a, const float *m, int ns, int T) {
    float sum = (((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))) +
                (((l[8] + l[9]) + (l[10] + l[11])) + ((l[12] + l[13]) + (l[14] + l[15])));
    for (int u = ns; u < T; u++) sum += a[u] * m[u];
    return sum;
}

ALWAYS_INLINE void TFV(rowdot_blk)(float *out, int ldo, const float *a, int nb, const float *m, int T, int hd) {
    const int ns = T / 16 * 16;
    int e0 = 0;
    if (nb == TQB)
        for (; e0 + 4 <= hd; e0 += 4) {
            tf_v16 acc[TQB][4], av[TQB], k;
            #pragma GCC unroll 4
            for (int b = 0; b < TQB; b++)
                #pragma GCC unroll 4
                for (int j = 0; j < 4; j++) acc[b][j] = (tf_v16){ 0 };
            for (int u = 0; u < ns; u += 16) {
                #pragma GCC unroll 4
                for (int b = 0; b < TQB; b++) LD16(av[b], a + (int64_t)b * T + u);
                #pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    LD16(k, m + (int64_t)(e0 + j) * T + u);
                    #pragma GCC unroll 4
                    for (int b = 0; b < TQB; b++) acc[b][j] += av[b] * k;
                }
            }
            for (int b = 0; b < TQB; b++)
                for (int j = 0; j < 4; j++) {
                    float l[16];
                    ST16(l, acc[b][j]);
                    out[b * ldo + e0 + j] = TFV(lanes_sum)(l, a + (int64_t)b * T, m + (int64_t)(e0 + j) * T, ns, T);
                }
        }
    for (int b = 0; b < nb; b++)
        for (int e = (nb == TQB ? e0 : 0); e < hd; e++) {
            const float *ab = a + (int64_t)b * T, *me = m + (int64_t)e * T;
            float l[16] = { 0 };
            for (int u = 0; u < ns; u += 16)
                for (int k2 = 0; k2 < 16; k2++) l[k2] += ab[u + k2] * me[u + k2];
            out[b * ldo + e] = TFV(lanes_sum)(l, ab, me, ns, T);
        }
}

/* Forward of one (row, head), queries in groups of TQB: the nq query rows
 * at qbase (ld 3d) against the T keys and values at base (ld 3d), held
 * transposed; y rows at yr (ld d), lse[t] = max + log(sum of
 * exponentials) of query t's scores.  w: (2 hd + TQB) T floats scratch. */
static void TFV(attn_fwd_tiled)(float *yr, float *lse, const float *base, const float *qbase, float *w, int nq,
                                int T, int d, int h, int hd, float scale) {
    float *kt = w, *vt = kt + (int64_t)hd * T, *s = vt + (int64_t)hd * T;
    TFV(kv_transpose)(kt, vt, base, T, d, h, hd);
    for (int t0 = 0; t0 < nq; t0 += TQB) {
        const int nb = nq - t0 < TQB ? nq - t0 : TQB;
        TFV(scores_blk)(s, qbase + (int64_t)t0 * 3 * d + h * hd, 3 * d, nb, kt, T, hd, scale);
        float z[TQB];
        for (int b = 0; b < nb; b++) {
            float *sb = s + (int64_t)b * T;
            const float mx = max8(sb, T);
            #pragma omp simd
            for (int u = 0; u < T; u++) sb[u] = softmax_exp(sb[u] - mx);
            z[b] = sum8(sb, T);
            lse[t0 + b] = mx + logf(z[b]);
        }
        /* y = (p V) / z, the products straight into y */
        float *yt = yr + (int64_t)t0 * d + h * hd;
        TFV(rowdot_blk)(yt, d, s, nb, vt, T, hd);
        for (int b = 0; b < nb; b++) {
            const float iz = 1.0f / z[b];
            for (int e = 0; e < hd; e++) yt[(int64_t)b * d + e] *= iz;
        }
    }
}

/* Backward of one (row, head) from the forward's lse and output y, queries
 * in groups of TQB (in order): the probabilities p = exp(s - lse[t])
 * again, dp_u = dy_t . v_u, ds = p (dp - dy_t . y_t) scale; dq_t = ds K,
 * and dK, dV accumulated over the queries in order (transposed, in w).
 * dq, dk, dv of the head written to dbase (ld 3d).  w: (4 hd + 2 TQB) T
 * floats. */
static void TFV(attn_bwd_tiled)(float *dbase, const float *dyr, const float *yr, const float *lse,
                                const float *base, float *w, int T, int d, int h, int hd, float scale) {
    float *kt = w, *vt = kt + (int64_t)hd * T, *dkt = vt + (int64_t)hd * T, *dvt = dkt + (int64_t)hd * T;
    float *p = dvt + (int64_t)hd * T, *ds = p + (int64_t)TQB * T;
    TFV(kv_transpose)(kt, vt, base, T, d, h, hd);
    memset(dkt, 0, sizeof(float) * 2 * hd * T);
    for (int t0 = 0; t0 < T; t0 += TQB) {
        const int nb = T - t0 < TQB ? T - t0 : TQB;
        const float *Q = base + (int64_t)t0 * 3 * d + h * hd, *dy = dyr + (int64_t)t0 * d + h * hd;
        TFV(scores_blk)(p, Q, 3 * d, nb, kt, T, hd, scale);
        TFV(scores_blk)(ds, dy, d, nb, vt, T, hd, 1.0f);   /* dp */
        for (int b = 0; b < nb; b++) {
            const float *dyb = dy + (int64_t)b * d, *yb = yr + (int64_t)(t0 + b) * d + h * hd;
            float D = 0;
            for (int e = 0; e < hd; e++) D += dyb[e] * yb[e];
            const float l = lse[t0 + b];
            float *pb = p + (int64_t)b * T, *db = ds + (int64_t)b * T;
            #pragma omp simd
            for (int u = 0; u < T; u++) {
                float pu = softmax_exp(pb[u] - l);
                pb[u] = pu;
                db[u] = pu * (db[u] - D) * scale;
            }
        }
        TFV(rowdot_blk)(dbase + (int64_t)t0 * 3 * d + h * hd, 3 * d, ds, nb, kt, T, hd);   /* dq = ds K */
        for (int e = 0; e < hd; e++) {
            float *dkr = dkt + (int64_t)e * T, *dvr = dvt + (int64_t)e * T;
            if (nb == TQB) {
                const float q0 = Q[e], q1 = Q[3 * d + e], q2 = Q[6 * d + e], q3 = Q[9 * d + e];
                const float g0 = dy[e], g1 = dy[d + e], g2 = dy[2 * d + e], g3 = dy[3 * d + e];
                const float *s0 = ds, *s1 = ds + T, *s2 = ds + 2 * T, *s3 = ds + 3 * T;
                const float *p0 = p, *p1 = p + T, *p2 = p + 2 * T, *p3 = p + 3 * T;
                #pragma omp simd
                for (int u = 0; u < T; u++) {
                    dkr[u] = (((dkr[u] + s0[u] * q0) + s1[u] * q1) + s2[u] * q2) + s3[u] * q3;
                    dvr[u] = (((dvr[u] + p0[u] * g0) + p1[u] * g1) + p2[u] * g2) + p3[u] * g3;
                }
            } else {
                for (int b = 0; b < nb; b++) {
                    const float qe = Q[b * 3 * d + e], ge = dy[b * d + e];
                    const float *sb = ds + (int64_t)b * T, *pb = p + (int64_t)b * T;
                    #pragma omp simd
                    for (int u = 0; u < T; u++) { dkr[u] += sb[u] * qe; dvr[u] += pb[u] * ge; }
                }
            }
        }
    }
    for (int u = 0; u < T; u++) {
        float *dk = dbase + (int64_t)u * 3 * d + d + h * hd, *dv = dk + d;
        for (int e = 0; e < hd; e++) { dk[e] = dkt[(int64_t)e * T + u]; dv[e] = dvt[(int64_t)e * T + u]; }
    }
}

/* The whole forward pass of rows r0..r1-1 (a tile of whole rows: rows are
 * independent until the loss), on one thread: every product is one
 * single-threaded sgemm over the tile's tokens and each element-wise pass
 * reads what the product before it left in cache.  Same arguments as
 * forward() in transformer_cpu.c.
 * site (rows) [in, optional]: only logp[r, site[r], :] is wanted.  The
 * last block then takes LN1 and the q, k, v product for every token (keys
 * and values) but the rest of the block, the final LayerNorm and the head
 * only for the query token site[r] of each row: the tile's query tokens are
 * packed as rows n0, n0+1, ... (n0 = r0*T, one per row) of the last
 * block's buffers, of xf/af and of logp, and each logp row is moved to its
 * site at the end.  The last block's activations are then not those of
 * the full pass (no backward) and logp holds nothing else of use. */
static void TFV(forward_tile)(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                              const int32_t *site, const float *params, const float *rope, const float *kvt,
                              float *tws, const tp_tf_config *c, const tp_tf_layout *L,
                              const tp_tf_act_layout *A, int64_t r0, int64_t r1) {
    const int T = c->sites, d = c->embed, H = c->heads, q = c->states, hd = d / H;
    /* tiled attention (A->tiled): att holds T floats a (row, head); tws is
     * this thread's scratch for attn_fwd_tiled */
    const int64_t ast = A->tiled ? T : (int64_t)T * T;
    const int64_t n0 = r0 * T, n1 = r1 * T;
    const int nt = (int)(n1 - n0);
    const float scale = 1.0f / sqrtf((float)hd);
    float *x0 = acts + A->blk[0].x;
    if (kvt) {   /* the table path needs x at the query token only, and no LayerNorm */
        for (int64_t r = r0; r < r1; r++) {
            const int64_t n = r * T + site[r];
            memcpy(x0 + n * d, params + L->wte + (int64_t)tokens[n] * d, sizeof(float) * d);
        }
    } else {
        for (int64_t n = n0; n < n1; n++) {
            memcpy(x0 + n * d, params + L->wte + (int64_t)tokens[n] * d, sizeof(float) * d);
            if (cemb)   /* condition embedding of the row, added to every token */
                for (int j = 0; j < d; j++) x0[n * d + j] += cemb[(n / T) * d + j];
        }
        for (int64_t n = n0; n < n1; n++)
            TFV(ln_row)(acts + A->blk[0].a1 + n * d, acts + A->blk[0].mu1 + n, acts + A->blk[0].rs1 + n,
                        x0 + n * d, params + L->blk[0].ln1_w, params + L->blk[0].ln1_b, d);
    }
    for (int l = 0; l < c->depth; l++) {
        const tp_tf_block_off *P = &L->blk[l];
        const tp_tf_act_block *B = &A->blk[l];
        const int last = l + 1 == c->depth;
        /* the block's output and the LayerNorm after it (next block's LN1 or the final LN) */
        float *xout = acts + (last ? A->xf : A->blk[l + 1].x);
        float *an = acts + (last ? A->af : A->blk[l + 1].a1), *mun = acts + (last ? A->muf : A->blk[l + 1].mu1);
        float *rsn = acts + (last ? A->rsf : A->blk[l + 1].rs1);
        const float *wn = params + (last ? L->lnf_w : L->blk[l + 1].ln1_w);
        const float *bn = params + (last ? L->lnf_b : L->blk[l + 1].ln1_b);
        float *qkv = acts + B->qkv, *y = acts + B->y, *xm = acts + B->xm;
        if (!kvt) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, 3 * d, d, 1.0f, acts + B->a1 + n0 * d, d,
                        params + P->wqkv, 3 * d, 0.0f, qkv + n0 * 3 * d, 3 * d);
            TFV(bias_rope)(qkv, params + P->bqkv, rope, n0, n1, T, d, H);
        }
        if (site && last) {
            /* packed query row m = n0 + (r - r0): attention output and the
             * residual stream at site[r] */
            for (int64_t r = r0; r < r1; r++) {
                const int64_t m = n0 + (r - r0), at = r * T + site[r];
                if (kvt)
                    TFV(attn_site_table)(y + m * d, acts + B->att + r * H * ast, kvt, tokens + r * T, site[r],
                                         T, d, H, scale);
                else if (A->tiled)
                    for (int hh = 0; hh < H; hh++)
                        TFV(attn_fwd_tiled)(y + m * d, acts + B->att + (r * H + hh) * ast, qkv + r * T * 3 * d,
                                            qkv + at * 3 * d, tws, 1, T, d, hh, hd, scale);
                else
                    for (int hh = 0; hh < H; hh++)
                        attn_fwd_head(y + m * d, acts + B->att + (r * H + hh) * ast, qkv + r * T * 3 * d,
                                      qkv + at * 3 * d, 1, T, d, hh, hd, scale);
                memcpy(xm + m * d, acts + B->x + at * d, sizeof(float) * d);
            }
            const int64_t m1 = n0 + (r1 - r0);
            TFV(block_tail)(xout, an, mun, rsn, wn, bn, xm, xm, y, acts + B->po, acts + B->a2, acts + B->mu2,
                            acts + B->rs2, acts + B->h, acts + B->g, acts + B->pm, params, P, c->layerscale,
                            n0, m1, d);
            TFV(head_logsoftmax)(logp, an, params, L, n0, m1, d, q);
            /* packed row m to its site, last first: site rows r*T + site[r]
             * increase with r and lie at or after the packed row they take */
            for (int64_t r = r1 - 1; r >= r0; r--)
                memmove(logp + (r * T + site[r]) * q, logp + (n0 + (r - r0)) * q, sizeof(float) * q);
            return;
        }
        for (int64_t r = r0; r < r1; r++)
            for (int hh = 0; hh < H; hh++) {
                const float *base = qkv + r * T * 3 * d;
                if (A->tiled)
                    TFV(attn_fwd_tiled)(y + r * T * d, acts + B->att + (r * H + hh) * ast, base, base, tws, T, T,
                                        d, hh, hd, scale);
                else
                    attn_fwd_head(y + r * T * d, acts + B->att + (r * H + hh) * ast, base, base, T, T, d, hh, hd,
                                  scale);
            }
        TFV(block_tail)(xout, an, mun, rsn, wn, bn, xm, acts + B->x, y, acts + B->po, acts + B->a2,
                        acts + B->mu2, acts + B->rs2, acts + B->h, acts + B->g, acts + B->pm, params, P,
                        c->layerscale, n0, n1, d);
    }
    TFV(head_logsoftmax)(logp, acts + A->af, params, L, n0, n1, d, q);
}

/* Column sums of the N rows, in fixed row blocks: part[blk] (RB, o) of
 * double partials, combined in block order into db (+=). */
static void TFV(colsum_combine)(float *db, const double *part, int o) {
    for (int j = 0; j < o; j++) {
        double s = 0;
        for (int blk = 0; blk < RB; blk++) s += part[(int64_t)blk * o + j];
        db[j] += (float)s;
    }
}

/* Backward of the rotation (R^T on the q and k gradients) in place, and
 * dbias (3d, +=) = column sums of the un-rotated gradient. */
static void TFV(rope_bwd_colsum)(float *dqkv, float *dbias, const float *rope, int64_t N, int T, int d, int H,
                                 double *part) {
    const int hd = d / H, np = hd / 2, o = 3 * d;
    #pragma omp parallel for schedule(static)
    for (int blk = 0; blk < RB; blk++) {
        double *pp = part + (int64_t)blk * o;
        for (int j = 0; j < o; j++) pp[j] = 0;
        for (int64_t n = rb_lo(N, blk); n < rb_lo(N, blk + 1); n++) {
            const float *cs = rope + (int64_t)(n % T) * np * 2;
            float *row = dqkv + n * o;
            for (int v0 = 0; v0 < 2 * d; v0 += hd) {
                float *v = row + v0;
                #pragma omp simd
                for (int p = 0; p < np; p++) {
                    float c = cs[2 * p], s = cs[2 * p + 1], ns = -s, a0 = v[2 * p], b0 = v[2 * p + 1];
                    v[2 * p] = a0 * c + b0 * s;   /* no subtraction: see bias_rope */
                    v[2 * p + 1] = b0 * c + a0 * ns;
                }
            }
            #pragma omp simd
            for (int j = 0; j < o; j++) pp[j] += row[j];
        }
    }
    TFV(colsum_combine)(dbias, part, o);
}

/* dg (N,o) *= GELU'(h) in place; db (+=) = column sums of the result */
static void TFV(gelu_bwd_colsum)(float *dg, float *db, const float *h, int64_t N, int o, double *part) {
    #pragma omp parallel for schedule(static)
    for (int blk = 0; blk < RB; blk++) {
        double *pp = part + (int64_t)blk * o;
        for (int j = 0; j < o; j++) pp[j] = 0;
        for (int64_t n = rb_lo(N, blk); n < rb_lo(N, blk + 1); n++) {
            float *gr = dg + n * o;
            const float *hr = h + n * o;
            #pragma omp simd
            for (int j = 0; j < o; j++) {
                float x = hr[j];
                float cdf = 0.5f * (1.0f + gelu_erf(x * INV_SQRT2));
                float pdf = INV_SQRT2PI * softmax_exp(-0.5f * x * x);
                float v = gr[j] * (cdf + x * pdf);
                gr[j] = v;
                pp[j] += v;
            }
        }
    }
    TFV(colsum_combine)(db, part, o);
}

/* Gradient arriving at a residual branch output p (x_out = x + ls .* p):
 * dp = dx .* ls (ls NULL: dp = dx, not written), dls (+=) = sum dx .* p,
 * db (+=) = column sums of dp (the bias of p). */
static void TFV(branch_bwd)(float *dp, float *dls, float *db, const float *dx, const float *p,
                            const float *ls, int64_t N, int d, double *part) {
    #pragma omp parallel for schedule(static)
    for (int blk = 0; blk < RB; blk++) {
        double *pb = part + (int64_t)blk * 2 * d, *pl = pb + d;
        for (int j = 0; j < 2 * d; j++) pb[j] = 0;
        for (int64_t n = rb_lo(N, blk); n < rb_lo(N, blk + 1); n++) {
            const float *g = dx + n * d;
            if (ls) {
                const float *pr = p + n * d;
                float *o = dp + n * d;
                #pragma omp simd
                for (int j = 0; j < d; j++) {
                    float v = g[j] * ls[j];
                    o[j] = v;
                    pb[j] += v;
                    pl[j] += g[j] * pr[j];
                }
            } else {
                #pragma omp simd
                for (int j = 0; j < d; j++) pb[j] += g[j];
            }
        }
    }
    for (int j = 0; j < d; j++) {
        double sb = 0, sl = 0;
        for (int blk = 0; blk < RB; blk++) {
            sb += part[(int64_t)blk * 2 * d + j];
            sl += part[(int64_t)blk * 2 * d + d + j];
        }
        db[j] += (float)sb;
        if (ls) dls[j] += (float)sl;
    }
}

/* dx += LN'(dout); dw += sum dout .* xhat; db += sum dout: one pass over
 * fixed row blocks, parameter partials in double. */
static void TFV(layernorm_bwd)(float *dx, float *dw, float *db, const float *dout, const float *x,
                               const float *mu, const float *rs, const float *w, int64_t N, int d,
                               double *part) {
    #pragma omp parallel for schedule(static)
    for (int blk = 0; blk < RB; blk++) {
        double *pw = part + (int64_t)blk * 2 * d, *pb = pw + d;
        for (int j = 0; j < 2 * d; j++) pw[j] = 0;
        for (int64_t n = rb_lo(N, blk); n < rb_lo(N, blk + 1); n++) {
            const float *xr = x + n * d, *g = dout + n * d;
            const float m = mu[n], r = rs[n];
            float a1[8] = { 0, 0, 0, 0, 0, 0, 0, 0 }, a2[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
            int u = 0;
            for (; u + 8 <= d; u += 8)
                for (int k = 0; k < 8; k++) {
                    float dxh = g[u + k] * w[u + k], xh = (xr[u + k] - m) * r;
                    a1[k] += dxh; a2[k] += dxh * xh;
                }
            for (; u < d; u++) {
                float dxh = g[u] * w[u], xh = (xr[u] - m) * r;
                a1[u & 7] += dxh; a2[u & 7] += dxh * xh;
            }
            const float s1 = (((a1[0] + a1[1]) + (a1[2] + a1[3])) + ((a1[4] + a1[5]) + (a1[6] + a1[7]))) / d;
            const float s2 = (((a2[0] + a2[1]) + (a2[2] + a2[3])) + ((a2[4] + a2[5]) + (a2[6] + a2[7]))) / d;
            float *o = dx + n * d;
            #pragma omp simd
            for (int j = 0; j < d; j++) {
                float xh = (xr[j] - m) * r, dxh = g[j] * w[j];
                o[j] += r * (dxh - s1 - xh * s2);
                pw[j] += g[j] * xh;
                pb[j] += g[j];
            }
        }
    }
    for (int j = 0; j < d; j++) {
        double sw = 0, sb = 0;
        for (int blk = 0; blk < RB; blk++) {
            sw += part[(int64_t)blk * 2 * d + j];
            sb += part[(int64_t)blk * 2 * d + d + j];
        }
        dw[j] += (float)sw; db[j] += (float)sb;
    }
}

/* Attention backward: OpenMP over (row, head), the per-head products
 * through single-threaded sgemm (attn_bwd_head), or with tiled attention
 * (tiled) recomputed from the log-sum-exp in att and the output y
 * (attn_bwd_tiled).  ws: one scratch slice of wsz floats a thread. */
static void TFV(attention_bwd)(float *dqkv, const float *dy, const float *y, const float *att, const float *qkv,
                               float *ws, int64_t wsz, int tiled, int rows, int T, int d, int H) {
    int hd = d / H;
    float scale = 1.0f / sqrtf((float)hd);
    #pragma omp parallel
    {
        float *w = ws + wsz * omp_get_thread_num();
        #pragma omp for schedule(static)
        for (int64_t rh = 0; rh < (int64_t)rows * H; rh++) {
            int64_t r = rh / H;
            if (tiled)
                TFV(attn_bwd_tiled)(dqkv + r * T * 3 * d, dy + r * T * d, y + r * T * d, att + rh * T,
                                    qkv + r * T * 3 * d, w, T, d, (int)(rh % H), hd, scale);
            else
                attn_bwd_head(dqkv + r * T * 3 * d, dy + r * T * d, att + rh * T * T, qkv + r * T * 3 * d,
                              w, T, d, (int)(rh % H), hd, scale);
        }
    }
}

#undef TFV
#undef TFV_CAT
#undef TFV_CAT2
