"""Compiled set-up of the Galerkin hierarchy (:mod:`poissonfp.solvers.hierarchy.multilevel_galerkin`).

The level's matrix is stored with the diagonal first in every row (:func:`diagonal_first`), so the
ω-Jacobi smoother's ``A - D`` and ``D`` and the Gershgorin bound come from one pass
(:func:`split_diagonal`) instead of a scipy copy with zeros eliminated; the interpolation is the
Kronecker product of the 1D factors with the rows outside the domain and the dropped coarse columns
left out in the same pass (:func:`kron_rows`); the coarse smoother's weight comes from one compiled power
iteration (:func:`power_estimate`). The Galerkin product ``R (A P)`` takes scipy's ``A P`` and forms the
outer product with :func:`sparse_product`, which writes the diagonal-first layout directly (a fused
row-by-row triple product compiled here ran 2x slower at 1023², 0.29 against 0.13-0.15 s, same process). The cycles' loops (sweeps, residuals, transfers) take
:func:`unsigned` index views.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit

__all__ = ["chebyshev_smooth", "csr_apply", "diagonal_first", "kron_rows", "power_estimate", "residual", "row_scale",
           "sparse_product", "split_diagonal", "transpose", "unsigned", "warm_up"]


def unsigned(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays with the index arrays viewed as unsigned integers (no copy; CSR indices are never
    negative). numba checks every signed index for wrap-around (``a[-1]``); with unsigned ones that check
    goes and the row loops of these kernels and of the CSR Jacobi sweep run 1.5-2.3x faster (127², 63²)."""
    return indptr.view(f"u{indptr.itemsize}"), indices.view(f"u{indices.itemsize}"), data


@njit(cache=True)
def kron_rows(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, b_cols, row_factor, col_keep):  # pragma: no cover - compiled
    """``diag(row_factor) (A ⊗ B)`` as CSR arrays, without the columns where ``col_keep`` is False and
    without zero entries (scipy's ``kron`` goes through COO; its rows were then scaled and pruned)."""
    na, nb = a_ptr.shape[0] - 1, b_ptr.shape[0] - 1
    indptr = np.zeros(na * nb + 1, dtype=np.int32)
    for phase in range(2):  # count, then fill
        if phase == 1:
            indices = np.empty(indptr[na * nb], dtype=np.int32)
            data = np.empty(indptr[na * nb])
        else:
            indices = np.empty(0, dtype=np.int32)
            data = np.empty(0)
        for ia in range(na):
            for ib in range(nb):
                row = ia * nb + ib
                f = row_factor[row]
                fill = indptr[row]
                count = 0
                if f != 0.0:
                    for p in range(a_ptr[ia], a_ptr[ia + 1]):
                        for q in range(b_ptr[ib], b_ptr[ib + 1]):
                            col = a_idx[p] * b_cols + b_idx[q]
                            value = f * a_val[p] * b_val[q]
                            if value != 0.0 and col_keep[col]:
                                if phase == 1:
                                    indices[fill + count] = col
                                    data[fill + count] = value
                                count += 1
                if phase == 0:
                    indptr[row + 1] = indptr[row] + count
    return indptr, indices, data


@njit(cache=True)
def sparse_product(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, n_cols, diagonal_first):  # pragma: no cover - compiled
    """``A B`` as CSR arrays (int64 row pointers, int32 columns) with scipy's result to the bit: the same
    accumulation order, exact zeros dropped, each row's columns in scipy's order (the last one met
    first). With ``diagonal_first`` (square results) every row starts with its diagonal entry (0 when
    there is none), the layout :func:`diagonal_first` makes of scipy's product in a second pass. The
    hierarchy forms ``R (A P)`` with it on :func:`unsigned` views, ``A P`` by scipy: that pair took 1.09
    against 1.22 ms per hierarchy at 127² and 78 against 97 ms at 1023² (2d_contrast, every level); this
    kernel for ``A P`` too ran 1.6x slower than scipy's on the 1023² fine level."""
    n = a_ptr.shape[0] - 1
    seen = np.full(n_cols, n, dtype=np.int32)
    bound = 0
    for i in range(n):  # an upper bound of the entries (exact zeros are dropped below)
        count = 0
        for p in range(a_ptr[i], a_ptr[i + 1]):
            for q in range(b_ptr[a_idx[p]], b_ptr[a_idx[p] + 1]):
                j = b_idx[q]
                if seen[j] != i:
                    seen[j] = i
                    count += 1
        bound += count + (1 if diagonal_first and seen[i] != i else 0)
    indices = np.empty(bound, dtype=np.int32)
    data = np.empty(bound)
    indptr = np.empty(n + 1, dtype=np.int64)
    indptr[0] = 0
    sums = np.zeros(n_cols)
    order = np.empty(n_cols, dtype=np.int32)
    seen[:] = n
    fill = 0
    for i in range(n):
        length = 0
        for p in range(a_ptr[i], a_ptr[i + 1]):
            value = a_val[p]
            row = a_idx[p]
            for q in range(b_ptr[row], b_ptr[row + 1]):
                j = b_idx[q]
                sums[j] += value * b_val[q]
                if seen[j] != i:
                    seen[j] = i
                    order[length] = j
                    length += 1
        if diagonal_first:
            indices[fill] = i
            data[fill] = sums[i] if sums[i] != 0.0 else 0.0  # scipy drops an exact zero (-0.0 too)
            sums[i] = 0.0
            fill += 1
        for t in range(length - 1, -1, -1):
            j = order[t]
            if sums[j] != 0.0:
                indices[fill] = j
                data[fill] = sums[j]
                fill += 1
            sums[j] = 0.0
        indptr[i + 1] = fill
    return indptr, indices[:fill], data[:fill]


@njit(cache=True)
def transpose(indptr, indices, data, n_cols):  # pragma: no cover - compiled
    """The transpose of a CSR matrix as CSR arrays (int32 row pointers and columns, as scipy's
    ``A.T.tocsr()`` gives them below 2**31 entries): scipy's counting pass, so each row's columns ascend and
    the arrays are scipy's to the bit; without its two matrix constructions and dispatch."""
    n = indptr.shape[0] - 1
    nnz = indptr[n]
    out_ptr = np.zeros(n_cols + 1, dtype=np.int32)
    for p in range(nnz):
        out_ptr[indices[p] + 1] += 1
    for j in range(n_cols):
        out_ptr[j + 1] += out_ptr[j]
    fill = out_ptr[:-1].copy()
    out_idx = np.empty(nnz, dtype=np.int32)
    out_val = np.empty(nnz)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            q = fill[j]
            out_idx[q] = i
            out_val[q] = data[p]
            fill[j] = q + 1
    return out_ptr, out_idx, out_val


@njit(cache=True)
def diagonal_first(indptr, indices, data):  # pragma: no cover - compiled
    """A copy of a CSR matrix whose rows all hold their diagonal entry, with that entry moved first
    (the layout :func:`galerkin_product` writes); int64 row pointers, int32 columns."""
    n = indptr.shape[0] - 1
    out_ptr = np.empty(n + 1, dtype=np.int64)
    out_ptr[0] = 0
    for row in range(n):
        count = indptr[row + 1] - indptr[row] + 1
        for p in range(indptr[row], indptr[row + 1]):
            if indices[p] == row:
                count -= 1
        out_ptr[row + 1] = out_ptr[row] + max(count, 1)
    out_indices = np.empty(out_ptr[n], dtype=np.int32)
    out_data = np.zeros(out_ptr[n])
    for row in range(n):
        start = out_ptr[row]
        fill = start + 1
        out_indices[start] = row
        for p in range(indptr[row], indptr[row + 1]):
            if indices[p] == row:
                out_data[start] += data[p]
            else:
                out_indices[fill] = indices[p]
                out_data[fill] = data[p]
                fill += 1
    return out_ptr, out_indices, out_data


@njit(cache=True)
def split_diagonal(indptr, indices, data):  # pragma: no cover - compiled
    """From a diagonal-first CSR matrix: ``A - D`` as CSR (int32 arrays), the diagonal, and the
    Gershgorin bound ``max_i Σ_j |a_ij| / a_ii`` of ρ(D⁻¹A) (2, tight, for the fine operator's
    (2d+1)-point stencils, whose off-diagonal entries sum to at most the diagonal)."""
    n = indptr.shape[0] - 1
    off_ptr = np.empty(n + 1, dtype=np.int32)
    off_indices = np.empty(indptr[n] - n, dtype=np.int32)
    off_data = np.empty(indptr[n] - n)
    diagonal = np.empty(n)
    bound = 0.0
    off_ptr[0] = 0
    for row in range(n):
        d = data[indptr[row]]
        diagonal[row] = d
        total = abs(d)
        for p in range(indptr[row] + 1, indptr[row + 1]):
            off_indices[p - row - 1] = indices[p]
            off_data[p - row - 1] = data[p]
            total += abs(data[p])
        off_ptr[row + 1] = indptr[row + 1] - (row + 1)
        bound = max(bound, total / d)
    return off_ptr, off_indices, off_data, diagonal, bound


@njit(cache=True)
def row_scale(indptr, indices, data, ndim):  # pragma: no cover - compiled
    """Per row ``min(1, 2d max_{j≠i} |a_ij| / a_ii)`` (1 for a row without off-diagonal entries): 1 on every
    row of a (2d+1)-point stencil without a cut (box, Neumann, variable coefficient), ``~θ`` on a
    Shortley-Weller row whose boundary lies ``θ h`` away. Scaling such rows before the projection
    (``A_c = PᵀSAP``, ``R = PᵀS``) keeps their ``1/θ`` diagonal out of the coarse operator; the solution of
    ``SAu = Sb`` is that of ``Au = b``."""
    n = indptr.shape[0] - 1
    out = np.ones(n)
    for row in range(n):
        off = 0.0
        diagonal = 0.0
        for p in range(indptr[row], indptr[row + 1]):
            if indices[p] == row:
                diagonal += data[p]
            else:
                off = max(off, abs(data[p]))
        if off > 0.0:
            out[row] = min(1.0, 2 * ndim * off / max(diagonal, 1e-300))
    return out


@njit(cache=True)
def power_estimate(indptr, indices, data, inv_diag, vector, iterations):  # pragma: no cover - compiled
    """``‖D⁻¹A v_k‖ / ‖v_k‖`` after ``iterations`` power steps from ``vector`` (overwritten): an estimate of
    ρ(D⁻¹A) from below."""
    n = vector.shape[0]
    image = np.empty(n)
    estimate = 1.0
    for _ in range(iterations):
        size = 0.0
        before = 0.0
        for row in range(n):
            total = 0.0
            for p in range(indptr[row], indptr[row + 1]):
                total += data[p] * vector[indices[p]]
            image[row] = inv_diag[row] * total
            size += image[row] * image[row]
            before += vector[row] * vector[row]
        size = np.sqrt(size)
        estimate = size / max(np.sqrt(before), 1e-300)
        scale = 1.0 / max(size, 1e-300)
        for row in range(n):
            vector[row] = image[row] * scale
    return estimate


@njit(cache=True)
def chebyshev_smooth(indptr, indices, data, inv_diag, b, u, r, d, lower, upper, degree):  # pragma: no cover - compiled
    """``degree`` steps of the Chebyshev iteration on ``D⁻¹A`` for the interval ``[lower, upper]`` of its
    spectrum (the smoothing range), in place on ``u``; ``(indptr, indices, data)`` is ``A - D``, ``r`` and
    ``d`` work vectors. Each step costs one product with ``A`` (a sweep's price). Returns the squared
    residual norm of the iterate the last step started from (as the Jacobi kernel does)."""
    n = b.shape[0]
    theta = 0.5 * (upper + lower)
    delta = 0.5 * (upper - lower)
    sigma = theta / delta
    rho = 1.0 / sigma
    squared = 0.0
    for i in range(n):  # r = D⁻¹(b - Au), d = r / θ
        total = b[i]
        for p in range(indptr[i], indptr[i + 1]):
            total -= data[p] * u[indices[p]]
        r[i] = inv_diag[i] * total - u[i]
        d[i] = r[i] / theta
        squared += (r[i] / inv_diag[i]) ** 2
    for step in range(degree):
        for i in range(n):
            u[i] += d[i]
        if step == degree - 1:
            break
        rho_new = 1.0 / (2.0 * sigma - rho)
        squared = 0.0
        for i in range(n):  # r = D⁻¹(b - Au) for the updated u
            total = b[i]
            for p in range(indptr[i], indptr[i + 1]):
                total -= data[p] * u[indices[p]]
            r[i] = inv_diag[i] * total - u[i]
            squared += (r[i] / inv_diag[i]) ** 2
        for i in range(n):
            d[i] = rho_new * rho * d[i] + 2.0 * rho_new / delta * r[i]
        rho = rho_new
    return squared


@njit(cache=True)
def residual(indptr, indices, data, b, u, out):  # pragma: no cover - compiled
    """``out = b - A u`` in place (no temporaries, no scipy dispatch: at 127² a cycle makes ~10 such calls
    of 5-30 µs). The sum runs in the stored order, as scipy's product does: the same bits."""
    for i in range(b.shape[0]):
        total = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            total += data[p] * u[indices[p]]
        out[i] = b[i] - total


@njit(cache=True)
def csr_apply(indptr, indices, data, x, out, accumulate):  # pragma: no cover - compiled
    """``out = M x`` (``out += M x`` with ``accumulate``) in place: a grid transfer without the
    temporary vector and the dispatch of ``M @ x``; the same bits as scipy's product."""
    for i in range(out.shape[0]):
        total = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            total += data[p] * x[indices[p]]
        if accumulate:
            out[i] += total
        else:
            out[i] = total


@functools.cache
def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels once per process, for the index types the
    hierarchy passes (signed in the set-up, :func:`unsigned` views in the cycles)."""
    from poissonfp.solvers.classical.csr_jacobi import csr_sweeps

    ptr, idx, val = np.array([0, 1, 2]), np.array([0, 1], dtype=np.int32), np.array([2.0, 2.0])
    ptr32 = ptr.astype(np.int32)
    first = diagonal_first(*unsigned(ptr32, idx, val))
    split_diagonal(*first)
    row_scale(*unsigned(*first), 1)
    kron_rows(*unsigned(ptr32, idx, val), *unsigned(ptr32, idx, val), 2, np.ones(4), np.ones(4, dtype=np.bool_))
    one = np.ones(2)
    power_estimate(*unsigned(*first), one, np.ones(2), 1)
    residual(*unsigned(*first), one, one, np.zeros(2))
    for accumulate in (False, True):
        csr_apply(*unsigned(ptr32, idx, val), one, np.zeros(2), accumulate)
    for applied in ((ptr32, idx, val), (ptr, idx.astype(np.int64), val), first):  # scipy's A P or the compiled one
        sparse_product(*unsigned(ptr32, idx, val), *unsigned(*applied), 2, True)
    sparse_product(*unsigned(*first), *unsigned(ptr32, idx, val), 2, False)  # the compiled A P
    transpose(*unsigned(ptr32, idx, val), 2)
    off = unsigned(ptr32, idx, val)
    chebyshev_smooth(*off, one, one, np.zeros(2), np.zeros(2), np.zeros(2), 0.5, 2.0, 2)
    csr_sweeps(*off, one, one, np.zeros(2), np.zeros(2), 1.0, 2, np.zeros(1, dtype=np.int64))
