/*
 * runtime/lattice.h -- periodic lattices as data (tp_lattice_*).
 *
 * A lattice is a supercell of a primitive cell with a basis, repeated
 * size[0] x size[1] x size[2] times, with periodic boundaries.  The struct is
 * transparent and read-only for its users (C samplers, Lua): every array is
 * owned by the lattice and lives as long as it does.
 *
 * Site numbering: i = b + nbasis * (c0 + size[0] * (c1 + size[1] * c2))
 * where b is the basis index and (c0, c1, c2) the primitive-cell index.  For
 * the square L x L lattice this is i = x + L * y.
 *
 * Neighbour shells are found by distance in the infinite lattice and then
 * wrapped into the supercell, so in small cells a neighbour may appear more
 * than once (two images of the same site, as on the 2 x 2 torus, which then
 * has 2L^2 bonds like every L x L torus) or even be the site itself (a
 * shell distance equal to a supercell period).  Users of nb[] must treat
 * nb[s][i*z + k] == i as a constant term (its energy never changes).
 * Within a shell the neighbours of a site are ordered by their offset vector
 * (lexicographically on Cartesian components); bonds[s] lists every bond of
 * shell s once, as (i, j) pairs with a lexicographically positive offset
 * from i to j (again with duplicates for multiple images).
 *
 * Ownership: tp_lattice_init_* return an owned lattice with reference count
 * 1; tp_lattice_retain adds a reference (models hold one), tp_lattice_free
 * drops one and frees at zero.  tp_lattice_free(NULL) is a no-op.
 */
#ifndef TP_LATTICE_H
#define TP_LATTICE_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Upper bound on neighbour shells kept per lattice (array sizes below). */
#define TP_LATTICE_MAX_SHELLS 8

/* ffi:begin */
/* ---- lattices (runtime/lattice.c) ---------------------------------------- */
typedef struct tp_lattice {
    int32_t n;                /* number of sites */
    int32_t dim;              /* spatial dimension, 1..3 (unused components are 0) */
    int32_t nbasis;           /* sites per primitive cell */
    int32_t size[3];          /* supercell repetitions (1 for unused dimensions) */
    double prim[9];           /* primitive vectors, row k = prim[3k..3k+2], Cartesian */
    double cell[9];           /* supercell vectors: row k = size[k] * prim row k */
    double *pos;              /* (n, 3) Cartesian positions of the sites */
    double *frac;             /* (n, 3) fractional coordinates in the supercell, [0, 1) */
    int32_t *cellidx;         /* (n, 3) primitive-cell index (c0, c1, c2) of each site */
    int32_t *basis;           /* (n) basis index of each site */
    int32_t nshell;           /* neighbour shells found, <= 8 (TP_LATTICE_MAX_SHELLS) */
    double shell_dist[8];     /* distance of shell s, increasing */
    int32_t shell_z[8];       /* coordination number of shell s (same for every site) */
    int32_t *nb[8];           /* nb[s]: (n, shell_z[s]) neighbour site indices */
    int64_t nbond[8];         /* bonds in shell s = n * shell_z[s] / 2 */
    int32_t *bonds[8];        /* bonds[s]: (nbond[s], 2) site pairs, each bond once */
    int32_t bipartite;        /* 1 if shell 0 admits a 2-colouring */
    uint8_t *color;           /* (n) colour 0/1 of each site when bipartite, else NULL */
    char kind[16];            /* "square", "cubic", "fcc", "custom", ... */
    int32_t refcount;         /* managed by retain/free; do not touch */
} tp_lattice;

/* General constructor.  prim: (dim, dim) primitive vectors as rows
 * (Cartesian); basis: (nbasis, dim) fractional coordinates of the basis in
 * the primitive cell; size: (dim) repetitions; nshell: shells to find
 * (1..8).  kind: a short name recorded in the lattice (NULL: "custom").
 * Fails (NULL, message) on bad shapes, coincident sites, or a shell whose
 * coordination differs between basis sites.  Caller owns the result. */
TP_FFI tp_lattice *tp_lattice_init(int32_t dim, const double *prim, int32_t nbasis,
                                   const double *basis, const int32_t *size,
                                   int32_t nshell, const char *kind);
/* L x L square lattice, unit spacing, site i = x + L*y. */
TP_FFI tp_lattice *tp_lattice_init_square(int32_t L, int32_t nshell);
/* L x L x L simple cubic, i = x + L*(y + L*z). */
TP_FFI tp_lattice *tp_lattice_init_cubic(int32_t L, int32_t nshell);
/* FCC primitive-cell supercell n1 x n2 x n3.  Coordinates in units of a/2:
 * primitive vectors (0,1,1), (1,0,1), (1,1,0), so every site has integer
 * coordinates with an even sum. */
TP_FFI tp_lattice *tp_lattice_init_fcc(int32_t n1, int32_t n2, int32_t n3, int32_t nshell);
TP_FFI tp_lattice *tp_lattice_retain(tp_lattice *lat);
TP_FFI void tp_lattice_free(tp_lattice *lat);

/* The site at Cartesian position p (3 components; any periodic image), or
 * -1 if no site lies within 1e-6 of it. */
TP_FFI int32_t tp_lattice_find_site(const tp_lattice *lat, const double *p);
/* out[i] = the site at pos[i] + offset (offset: 3 Cartesian components),
 * for every site i.  TP_ERR_ARG if offset is not a lattice vector of the
 * basis (no site there). */
TP_FFI tp_status tp_lattice_shift(const tp_lattice *lat, int32_t *out, const double *offset);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_LATTICE_H */
