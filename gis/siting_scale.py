"""Siting at city scale: MCLP and p-median with a proven gap, for 100,000 demand points.

The exact MIPs of :mod:`gis.siting` stop being practical somewhere past 10,000 demand points
× 1,000 candidates (at 100,000 × 5,000 HiGHS does not finish even the LP relaxation of the
aggregated MCLP in 25 minutes). This module answers the same questions at that size, and proves
how good the answer is:

1. **Aggregation** (:func:`aggregate`): demand points covered by exactly the same sites become
   one row with the summed weight — exact for LSCP and MCLP.
2. **A good solution**: greedy (a pick only updates the gains of the sites that share demand
   with it), then best-improvement 1-swap local search, every k × candidate swap valued at once
   (for p-median the fast interchange of Whitaker / Resende and Werneck: gain of the site in,
   loss of the site out, and their joint correction), the tables updated after a swap only from
   the demand of the two sites.
3. **A Lagrangian bound**: the coverage (MCLP) or assignment (p-median) constraints relaxed with
   multipliers; what remains is "pick the k best sites", a partial sort, so every multiplier
   vector gives a valid bound, evaluated exactly (its best is the LP bound). The multipliers
   are found by L-BFGS-B on the dual with its hinges smoothed (Huber), in stages of decreasing
   smoothing. Measured at 100,000 × 5,000 (MCLP): 2.918M after 10.7 s, where subgradient steps
   reach 2.943M after 13 s (lower is better); for p-median a 1.4 % gap against 3.4 %.
4. **Restarts from the dual**: local search from the k sites the relaxation prefers, then from
   noisy versions of them, while time is left (0.4 % more residents covered at full size).
5. **Fixing and an exact core**: a candidate whose bound with it forced open cannot beat the
   solution in hand is closed for good; one whose bound with it forced closed cannot, is opened.
   If what remains is small enough, the exact HiGHS MIP solves it, started from the solution in
   hand; its dual bound then tightens the proven gap (p-median: zero on the benchmark's 5,000
   demand points × 500 candidates in 37 s).
6. **MCLP up to a few hundred thousand pairs: a better solution, then probing.** Iterated local
   search (:func:`_cover_ils`), then the LP relaxation of the core fixing leaves (HiGHS's
   interior point method) and the exact MIP restricted to the candidates the LP opens: on the
   benchmark's subsets this finds the optimum. Then :func:`gis.siting_probe.probe_cover`
   closes every candidate that no better solution can open (a bound with it forced open, from
   the multipliers of LP re-solves, two in parallel), rebuilding the LP as candidates close.
   All closed proves the solution optimal without branching: 5,000 × 500 (62,000 pairs) in
   about 3 s, where HiGHS needs 24 s on the reduced MIP and spopt 57 s; 10,000 × 1,000 in
   71–76 s, where spopt needs 1,045 s. What probing leaves goes to the exact MIP.

At 100,000 × 5,000 (12 million pairs, k = 30) the proven gap after 60 s is about 0.6 % (MCLP)
and 1.4 % (p-median). There the LP relaxation is fractional and the MCLP bound is within 0.1 %
of where seven times more dual iterations take it, so the gap is mostly the relaxation's own;
``benchmarks/siting.py`` has the figures.

Only demand–site pairs within the radius (MCLP) or the cutoff the pairs were built with
(p-median) are ever formed; there is no dense demand × site matrix anywhere.

:func:`solve` is the dispatcher the CLI calls: small problems (or capacitated ones, or with
existing centres allowed to close) go to the exact models, large ones here.

Examples
--------
>>> problem = SitingProblem.from_pairs(weights=[100, 50, 70], n_existing=0, n_candidates=2,
...                                    pairs=([0, 1, 2], [0, 0, 1], [200.0, 300.0, 100.0]))
>>> sol = mclp_large(problem, k=1, radius=400)
>>> sol.objective, sol.gap
(150.0, 0.0)
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, minimize
from scipy.sparse import coo_matrix, csc_matrix, csr_matrix

from gis.siting import (
    SitingError,
    SitingProblem,
    SitingSolution,
    _group_rows,
    _Model,
    _nearest_open,
    _ragged,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)
from gis.siting_probe import CoverLP, lp_support, probe_cover

__all__ = ["CORE_MAX_MEDIAN_PAIRS", "CORE_MAX_PAIRS", "EXACT_MAX_PAIRS", "MODELS",
           "PROBE_MAX_PAIRS", "aggregate", "mclp_large", "pmedian_large", "solve"]

MODELS = ("lscp", "mclp", "pmedian")
# the dispatcher sends problems with at most this many pairs to the exact MIPs of gis.siting
# (measured: from ~10,000 pairs on, the city-scale path proves the same optimum sooner)
EXACT_MAX_PAIRS = 10_000
# after fixing, a core with at most this many pairs is handed to HiGHS
CORE_MAX_PAIRS = 300_000
# MCLP: a core with at most this many pairs is probed (an LP re-solved per candidate;
# measured at 10,000 demand points × 1,000 candidates, 242,000 pairs: the optimum proven in
# 71–76 s, against 347 s by HiGHS on the whole aggregated MIP)
PROBE_MAX_PAIRS = 500_000
# p-median cores are harder for HiGHS than MCLP cores (one column per pair, and a link row each)
CORE_MAX_MEDIAN_PAIRS = 60_000
# HiGHS options for the core MIPs: its restarts, RINS/RENS and a cut pool of 10,000 cost more
# than they gain on these cores (measured: MCLP 5,000 × 500 from 17.3 to 12.0 s, p-median
# 5,000 × 500 proven optimal in 37 s instead of a 0.14 % gap after 60 s)
_CORE_OPTIONS = {"mip_allow_restart": False, "mip_heuristic_run_rins": False,
                 "mip_heuristic_run_rens": False, "mip_pool_soft_limit": 1000}
# smoothing stages of the Lagrangian dual: (width of the smoothed hinge as a fraction of the
# dual's scale, L-BFGS-B iterations); each ends with an exact evaluation of the bound
_STAGES = ((0.02, 150), (0.005, 150), (0.001, 100))
# pairs per chunk in the p-median dual's passes (a chunk's arrays stay in cache)
_CHUNK = 1 << 15
# restarts of the local search from the dual: at most, and after this many without a better one
_RESTARTS = 40
_STALL = 20
# MCLP iterated local search: rounds without a better solution that end it
_ILS_STALL = 100
# MCLP: the MIP restricted to the LP relaxation's support, before probing — its share of the
# time limit at most (at 10,000 × 1,000 it finds the optimum in 6.7 s; probing is of no use
# without it)
_RESTRICTED_SHARE = 0.2
# shares of the time limit by which each phase ends: swap from greedy, dual, swap from the dual
_PHASES = (0.25, 0.6, 0.85)
# seconds kept back from the time limit for what follows the last MIP (the solution's
# assignment, and HiGHS stopping a little after its own limit): at most, and as a share
_SPARE = 2.0
_SPARE_SHARE = 0.03


# --- sparse pairs in both orders ---------------------------------------------------------------

@dataclass
class _Pairs:
    """A sparse rows × cols matrix held row-major (CSR) and column-major (CSC).

    Explicit zeros are kept (a zero walking distance is a pair), which is why this is not a
    scipy matrix: scipy's arithmetic drops them.
    """

    n_rows: int
    n_cols: int
    r_ptr: np.ndarray
    r_col: np.ndarray
    r_val: np.ndarray
    c_ptr: np.ndarray
    c_row: np.ndarray
    c_val: np.ndarray

    @classmethod
    def build(cls, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int,
              n_cols: int) -> _Pairs:
        """From pair arrays; of duplicate (row, col) pairs the smallest value is kept."""
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        vals = np.asarray(vals, float)
        ids = np.arange(1, len(rows) + 1, dtype=np.int64)
        csr = coo_matrix((ids, (rows, cols)), shape=(n_rows, n_cols)).tocsr()
        if csr.nnz < len(rows):  # duplicates were summed: keep the smallest value of each
            order = np.lexsort((vals, cols, rows))
            r, c = rows[order], cols[order]
            first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
            return cls.build(r[first], c[first], vals[order][first], n_rows, n_cols)
        csr.sort_indices()
        csc = csr.tocsc()
        csc.sort_indices()
        return cls(n_rows, n_cols, csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
                   vals[csr.data - 1], csc.indptr.astype(np.int64),
                   csc.indices.astype(np.int64), vals[csc.data - 1])

    @property
    def nnz(self) -> int:
        return len(self.r_col)

    def col_sum(self, per_entry: np.ndarray) -> np.ndarray:
        """Sum of ``per_entry`` (one value per CSC entry) over each column."""
        return _segment_sum(per_entry, self.c_ptr)

    def columns(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSC entries of the columns ``which``: (position in ``which``, entry index)."""
        return _ragged(self.c_ptr, which)

    def rows(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR entries of the rows ``which``: (position in ``which``, entry index)."""
        return _ragged(self.r_ptr, which)

    def select(self, rows: np.ndarray, cols: np.ndarray) -> _Pairs:
        """The submatrix of ``rows`` × ``cols`` (both renumbered from 0, in the given order)."""
        row_new = np.full(self.n_rows, -1)
        row_new[rows] = np.arange(len(rows))
        col_new = np.full(self.n_cols, -1)
        col_new[cols] = np.arange(len(cols))
        o, e = self.rows(rows)
        keep = col_new[self.r_col[e]] >= 0
        return _Pairs.build(o[keep], col_new[self.r_col[e][keep]], self.r_val[e][keep],
                            len(rows), len(cols))


def _segment_sum(values: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    out = np.zeros(len(ptr) - 1)
    nonempty = np.flatnonzero(ptr[1:] > ptr[:-1])
    if len(nonempty):
        out[nonempty] = np.add.reduceat(values, ptr[nonempty])
    return out


# --- aggregation -------------------------------------------------------------------------------

def aggregate(problem: SitingProblem, *, radius: float) -> tuple[SitingProblem, np.ndarray]:
    """Merge demand points covered by exactly the same sites within ``radius`` (exact).

    For the coverage models (LSCP, MCLP, also capacitated MCLP, whose shares may split) a
    demand point matters only through the set of sites that cover it and its weight, so points
    with equal sets are one point with the summed weight.

    Parameters
    ----------
    problem : SitingProblem
    radius : float
        Radius of the model (sites with their own ``site_radius_m`` keep theirs).

    Returns
    -------
    reduced : SitingProblem
        One demand point per group, with the same sites; its pairs are the covering pairs only
        (with the distance of the group's first member), so ``reduced.within(radius)`` is all
        true.
    group : ndarray of int
        The group of each original demand point; -1 for points with no weight or that no site
        covers (they cannot change any coverage model's answer).
    """
    near = problem.within(radius) & (problem.weights[problem.demand] > 0)
    d, s, m = problem.demand[near], problem.site[near], problem.distance_m[near]
    pairs = _Pairs.build(d, s, m, len(problem.weights), problem.n_sites)
    group = _group_rows(pairs.r_ptr, pairs.r_col, problem.n_sites)
    n_groups = int(group.max()) + 1 if len(group) else 0
    weights = np.bincount(group[group >= 0], weights=problem.weights[group >= 0],
                          minlength=n_groups)
    rep = np.full(n_groups, -1, dtype=np.int64)
    rep[group[::-1][group[::-1] >= 0]] = np.flatnonzero(group >= 0)[::-1]  # first member
    o, e = pairs.rows(rep)
    reduced = SitingProblem.from_pairs(
        weights=weights, n_existing=problem.n_existing, n_candidates=problem.n_candidates,
        pairs=(o, pairs.r_col[e], pairs.r_val[e]), capacity=problem.capacity,
        site_radius_m=problem.site_radius_m)
    return reduced, group


# --- restarts from the dual --------------------------------------------------------------------

def _restarts(score: np.ndarray, k: int, chosen: np.ndarray, value: float, improve, value_of,
              *, maximise: bool, deadline: float, tol: float) -> tuple[np.ndarray, float, dict]:
    """Local search from the sites the relaxation prefers, then from noisy versions of them.

    ``score`` ranks the sites at the best multipliers found (the relaxation opens the k best);
    each restart takes the k best of the score times 1 + 5 % noise and improves it with
    ``improve(sites, deadline) -> (sites, swaps)``. Seeded, so runs with time to spare agree.
    """
    sign = 1.0 if maximise else -1.0
    rng = np.random.default_rng(0)
    done, swaps, stall = 0, 0, 0
    while done < _RESTARTS and stall < _STALL and time.perf_counter() < deadline:
        noisy = score if done == 0 else score * (1 + 0.05 * rng.standard_normal(len(score)))
        sites, more = improve(_top(noisy, k, largest=True), deadline)
        done, swaps = done + 1, swaps + more
        found = value_of(sites)
        if sign * (found - value) > tol:
            chosen, value, stall = sites, found, 0
        else:
            stall += 1
    return chosen, value, {"restarts": done, "swaps": swaps}


# --- MCLP --------------------------------------------------------------------------------------

def _cover_count(pairs: _Pairs, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times each row is covered by ``chosen``, and who covers it (where covered once).

    The second array is a position in ``chosen``.
    """
    o, e = pairs.columns(chosen)
    rows = pairs.c_row[e]
    count = np.bincount(rows, minlength=pairs.n_rows)
    who = np.bincount(rows, weights=o, minlength=pairs.n_rows).astype(np.int64)
    return count, who


def _covered_weight(pairs: _Pairs, w: np.ndarray, chosen: np.ndarray) -> float:
    """Weight of the rows that the sites ``chosen`` cover."""
    count, _ = _cover_count(pairs, chosen)
    return float(w[count > 0].sum())


def _cover_greedy(pairs: _Pairs, w: np.ndarray, k: int) -> np.ndarray:
    """Greedy: open the site covering the most uncovered weight, k times."""
    gain = pairs.col_sum(w[pairs.c_row])
    covered = np.zeros(pairs.n_rows, dtype=bool)
    chosen: list[int] = []
    for _ in range(min(k, pairs.n_cols)):
        j = int(np.argmax(gain))
        chosen.append(j)
        rows = pairs.c_row[pairs.c_ptr[j]:pairs.c_ptr[j + 1]]
        new = rows[~covered[rows]]
        covered[new] = True
        o, e = pairs.rows(new)
        gain -= np.bincount(pairs.r_col[e], weights=w[new][o], minlength=pairs.n_cols)
        gain[chosen] = -np.inf
    return np.asarray(chosen, dtype=np.int64)


def _cover_swap(pairs: _Pairs, w: np.ndarray, chosen: np.ndarray, deadline: float,
                tol: float) -> tuple[np.ndarray, int]:
    """Best-improvement 1-swap local search for MCLP; returns the sites and swaps made.

    Swapping out the site at position p for site j changes coverage by
    gain(j) − loss(p) + joint[p, j]: the weight only j would newly cover, minus the weight only
    p covers, plus the part of the latter that j also covers. The three tables are kept up to
    date from the rows a swap touches (those of the two sites), not rebuilt.
    """
    chosen = chosen.copy()
    k, m = len(chosen), pairs.n_cols
    if k == 0 or k >= m:
        return chosen, 0
    position = np.full(m, -1)
    position[chosen] = np.arange(k)
    count, who = _cover_count(pairs, chosen)
    gain, joint, loss = np.zeros(m), np.zeros(k * m), np.zeros(k)

    def account(rows: np.ndarray, sign: float) -> None:
        o, e = pairs.rows(rows)
        cols, c, wr = pairs.r_col[e], count[rows], w[rows]
        free = c[o] == 0
        gain[:] += sign * np.bincount(cols[free], weights=wr[o][free], minlength=m)
        once = c == 1
        loss[:] += sign * np.bincount(who[rows][once], weights=wr[once], minlength=k)
        one = c[o] == 1
        joint[:] += sign * np.bincount(who[rows][o][one] * m + cols[one], weights=wr[o][one],
                                       minlength=k * m)

    def recount(rows: np.ndarray) -> None:
        o, e = pairs.rows(rows)
        pos = position[pairs.r_col[e]]
        hit = pos >= 0
        count[rows] = np.bincount(o[hit], minlength=len(rows))
        who[rows] = np.bincount(o[hit], weights=pos[hit], minlength=len(rows)).astype(np.int64)

    account(np.arange(pairs.n_rows), 1.0)
    swaps = 0
    while time.perf_counter() < deadline:
        delta = joint.reshape(k, m) + gain[None, :] - loss[:, None]
        delta[:, chosen] = -np.inf
        p, j = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[p, j] <= tol:
            break
        out = chosen[p]
        rows = np.unique(np.r_[pairs.c_row[pairs.c_ptr[out]:pairs.c_ptr[out + 1]],
                               pairs.c_row[pairs.c_ptr[j]:pairs.c_ptr[j + 1]]])
        before = float(w[rows][count[rows] > 0].sum())
        account(rows, -1.0)
        chosen[p], position[out], position[j] = j, -1, p
        recount(rows)
        if float(w[rows][count[rows] > 0].sum()) - before <= tol:  # rounding drift: stop
            chosen[p], position[j], position[out] = out, -1, p
            recount(rows)
            break
        account(rows, 1.0)
        swaps += 1
    return chosen, swaps


def _top(values: np.ndarray, k: int, *, largest: bool) -> np.ndarray:
    """Indices of the k largest (or smallest) values."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= len(values):
        return np.arange(len(values))
    if largest:
        return np.argpartition(values, len(values) - k)[len(values) - k:]
    return np.argpartition(values, k - 1)[:k]


def _fix(rho: np.ndarray, k: int, bound: float, value: float, margin: float, *,
         maximise: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sites that no solution better than ``value`` can open (close) / can do without (open).

    ``bound`` is the Lagrangian bound whose subproblem picks the k best ``rho``; forcing site j
    in replaces the k-th best, forcing a chosen one out brings in the (k+1)-th.
    """
    sign = 1.0 if maximise else -1.0
    r = sign * rho  # larger is better
    m = len(r)
    if k <= 0 or k >= m:
        return np.zeros(m, bool), np.zeros(m, bool)
    ordered = np.partition(r, [m - k - 1, m - k])
    kth, next_ = ordered[m - k], ordered[m - k - 1]
    top = np.zeros(m, bool)
    top[_top(r, k, largest=True)] = True
    b = sign * bound
    v = sign * value
    # a bound with the site forced in / out, on the "larger is better" scale
    forced_in = b - kth + r
    forced_out = b - r + next_
    close = ~top & (forced_in < v + margin)
    open_ = top & (forced_out < v + margin)
    return close, open_


# --- Lagrangian duals, smoothed ------------------------------------------------------------------

def _huber(x: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """The hinge max(0, x) smoothed over a width ``tau``, and its derivative (in [0, 1])."""
    pos = np.maximum(x, 0.0)
    q = np.minimum(pos, tau)
    return q * (pos - 0.5 * q) / tau, q / tau


class _CoverDual:
    """The Lagrangian dual of MCLP on aggregated rows: every point is an upper bound.

    With multipliers 0 ≤ λ_i ≤ w_i on the coverage rows z_i ≤ Σ_{j covers i} y_j,
    L(λ) = Σ_i (w_i − λ_i) + (sum of the k largest ρ_j), ρ = Aᵀλ; its minimum is the LP bound.
    The sum of the k largest is min_π kπ + Σ_j max(0, ρ_j − π); smoothing that hinge lets
    L-BFGS-B minimise over (λ, π), and the bound is then evaluated exactly.
    """

    minimise = True

    def __init__(self, pairs: _Pairs, w: np.ndarray, k: int):
        self.a = csr_matrix((np.ones(pairs.nnz), pairs.r_col, pairs.r_ptr),
                            shape=(pairs.n_rows, pairs.n_cols))
        self.at = self.a.T.tocsr()
        self.w, self.k = w, k
        self.lower, self.upper = np.zeros(len(w)), w
        self.scale = 1.0

    def exact(self, lam: np.ndarray) -> tuple[float, np.ndarray]:
        rho = self.at @ lam
        top = _top(rho, self.k, largest=True)
        return float((self.w - lam).sum() + rho[top].sum()), rho

    def smooth(self, x: np.ndarray, frac: float) -> tuple[float, np.ndarray]:
        lam, pi = x[:-1], x[-1]
        tau = frac * self.scale
        h, dh = _huber(self.at @ lam - pi, tau)
        value = float((self.w - lam).sum() + self.k * pi + h.sum())
        return value, np.r_[self.a @ dh - 1.0, self.k - dh.sum()]


class _MedianDual:
    """The Lagrangian dual of p-median: every point is a lower bound on the cost.

    Relaxing "each demand point is served once, or by its fallback" (an existing centre or the
    penalty) with multipliers u_i ≤ fallback_i:
    L(u) = Σ_i u_i − (sum of the k largest s_j), s_j = Σ_i max(0, u_i − c_ij); its maximum is
    the LP bound. Both hinges (per pair and in the sum of the k largest) are smoothed for
    L-BFGS-B, and the bound is then evaluated exactly. Pairs are walked row by row in chunks
    that stay in cache: the multipliers are read in order and the per-site sums land in a small
    table (twice as fast as whole-array passes at 10 million pairs).
    """

    minimise = False

    def __init__(self, pairs: _Pairs, fallback: np.ndarray, k: int):
        self.pairs, self.k = pairs, k
        self.lens = np.diff(pairs.r_ptr)
        low = np.full(pairs.n_rows, np.inf)
        np.minimum.at(low, pairs.c_row, pairs.c_val)
        # below its cheapest pair a multiplier only loses, above its fallback too
        self.lower, self.upper = np.minimum(low, fallback), fallback
        self.scale = 1.0
        self.row_scale = float(np.median(fallback)) if len(fallback) else 1.0
        cuts = np.searchsorted(pairs.r_ptr, np.arange(_CHUNK, pairs.nnz, _CHUNK))
        rows = np.unique(np.r_[0, cuts, pairs.n_rows])
        self.chunks = [(a, b, pairs.r_ptr[a], pairs.r_ptr[b])
                       for a, b in zip(rows[:-1], rows[1:], strict=True) if b > a]

    def _excess(self, u: np.ndarray, a: int, b: int, lo: int, hi: int) -> np.ndarray:
        """max(0, u_i − c_ij) over the pairs of rows a … b-1."""
        e = np.repeat(u[a:b], self.lens[a:b])
        e -= self.pairs.r_val[lo:hi]
        return np.maximum(e, 0.0, out=e)

    def exact(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        s = np.zeros(self.pairs.n_cols)
        for a, b, lo, hi in self.chunks:
            s += np.bincount(self.pairs.r_col[lo:hi], weights=self._excess(u, a, b, lo, hi),
                             minlength=self.pairs.n_cols)
        top = _top(s, self.k, largest=True)
        return float(u.sum() - s[top].sum()), s

    def smooth(self, x: np.ndarray, frac: float) -> tuple[float, np.ndarray]:
        u, pi = x[:-1], x[-1]
        tau = frac * self.row_scale
        s = np.zeros(self.pairs.n_cols)
        slopes = []
        for a, b, lo, hi in self.chunks:
            e = self._excess(u, a, b, lo, hi)
            q = np.minimum(e, tau)
            e -= 0.5 * q
            e *= q  # τ · huber(u_i − c_ij)
            s += np.bincount(self.pairs.r_col[lo:hi], weights=e, minlength=self.pairs.n_cols)
            slopes.append(q)
        s /= tau
        h, dh = _huber(s - pi, frac * self.scale)
        grad_u = np.empty(len(u))
        for (a, b, lo, hi), q in zip(self.chunks, slopes, strict=True):
            q *= dh[self.pairs.r_col[lo:hi]]
            grad_u[a:b] = _segment_sum(q, self.pairs.r_ptr[a:b + 1] - lo)
        grad_u = 1.0 - grad_u / tau
        value = float(u.sum() - self.k * pi - h.sum())
        return -value, -np.r_[grad_u, dh.sum() - self.k]


def _one_blas_thread():
    """L-BFGS-B's vector operations on one BLAS thread (where threadpoolctl is installed).

    They are small; OpenBLAS's threads only wait on each other, and on a machine whose cores
    are busy that made the dual five times slower (3.3 s instead of 0.45 s at 5,000 demand
    points × 500 candidates).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _dual(dual, v: np.ndarray, target: float, deadline: float) -> tuple[float, np.ndarray, int]:
    """Best bound of ``dual`` found from multipliers ``v`` by the smoothing stages.

    Stops once the bound reaches ``target`` (the solution in hand is then proven optimal) or at
    the deadline. Returns the bound, its multipliers and the number of evaluations.
    """
    v = np.clip(v, dual.lower, dual.upper)
    best, score = dual.exact(v)
    best_v, evaluations = v, 0
    pi = float(score[_top(score, dual.k, largest=True)].min()) if len(score) else 0.0
    dual.scale = max(abs(pi), 1e-9)
    x = np.r_[v, pi]
    bounds = Bounds(np.r_[dual.lower, -np.inf], np.r_[dual.upper, np.inf])

    def reached(b: float) -> bool:
        return b <= target if dual.minimise else b >= target

    def stop(_) -> None:
        if time.perf_counter() > deadline:
            raise StopIteration

    for frac, iterations in _STAGES:
        if reached(best) or time.perf_counter() > deadline:
            break
        with _one_blas_thread():
            result = minimize(dual.smooth, x, args=(frac,), jac=True, method="L-BFGS-B",
                              bounds=bounds, callback=stop,
                              options={"maxiter": iterations, "maxcor": 20})
        evaluations += int(result.nfev)
        x = result.x
        v = np.clip(x[:-1], dual.lower, dual.upper)
        bound, _ = dual.exact(v)
        if (bound < best) if dual.minimise else (bound > best):
            best, best_v = bound, v
    return best, best_v, evaluations


def _core_rows(pairs: _Pairs, w: np.ndarray, fixed: np.ndarray, free: np.ndarray):
    """The rows that sites ``fixed`` leave uncovered, grouped by their cover sets in ``free``.

    Returns (group of each entry, column of each entry as a position in ``free``, group
    weights, weight covered by ``fixed``, the rows left, the group of each of them or -1);
    rows that no free site covers are left out.
    """
    count, _ = _cover_count(pairs, fixed)
    const = float(w[count > 0].sum())
    rows = np.flatnonzero(count == 0)
    core = pairs.select(rows, free)
    group = _group_rows(core.r_ptr, core.r_col, core.n_cols)
    members = np.flatnonzero(group >= 0)
    n_groups = int(group.max()) + 1 if len(members) else 0
    gw = np.bincount(group[members], weights=w[rows][members], minlength=n_groups)
    rep = np.full(n_groups, -1, dtype=np.int64)
    rep[group[members[::-1]]] = members[::-1]
    o, e = core.rows(rep)
    return o, core.r_col[e], gw, const, rows, group


def _cover_core(pairs: _Pairs, w: np.ndarray, k: int, chosen: np.ndarray, value: float,
                close: np.ndarray, open_: np.ndarray, rank: np.ndarray, deadline: float):
    """Solve what fixing leaves with the exact MIP; returns (sites, value, bound) or None.

    HiGHS gets the time left at ``deadline`` once the model is built.
    """
    free = np.flatnonzero(~close & ~open_)
    fixed = np.flatnonzero(open_)
    k_core = k - len(fixed)
    if k_core > len(free):  # no better solution exists
        return chosen, value, value, 0
    if time.perf_counter() >= deadline or \
            np.diff(pairs.c_ptr)[free].sum() > 4 * CORE_MAX_PAIRS:
        return None  # hopeless before aggregation: do not build it
    o, col, gw, const, _, _ = _core_rows(pairs, w, fixed, free)
    n_groups = len(gw)
    if len(o) > CORE_MAX_PAIRS or time.perf_counter() >= deadline:
        return None
    if k_core == 0 or n_groups == 0:  # nothing left to decide
        return np.r_[fixed, free[:k_core]], const, const, 0
    model = _Model(maximise=True)
    y = model.add_columns(np.zeros(len(free)), 0.0, 1.0, integer=True)
    row = model.add_rows(k_core, k_core)
    model.add_entries(np.repeat(row, len(free)), y, 1.0)
    z = model.add_columns(gw, 0.0, 1.0, integer=False)
    link = model.add_rows(np.full(n_groups, -np.inf), 0.0)
    model.add_entries(link, z, 1.0)
    model.add_entries(link[o], y[col], -1.0)
    y0 = _start_sites(free, chosen, k_core, rank).astype(float)
    z0 = np.zeros(n_groups)
    z0[np.unique(o[y0[col] > 0])] = 1.0
    time_left = deadline - time.perf_counter()
    if time_left <= 0:
        return None
    try:
        values, _, objective, _ = model.solve(time_left, start=np.r_[y0, z0],
                                              options=_CORE_OPTIONS)
    except SitingError:  # out of time before any solution
        return None
    sites = np.r_[fixed, free[values[y] > 0.5]]
    return sites, const + objective, const + _finite(model.bound, np.inf), n_groups


def _cover_lp_probe(cover: _Pairs, gw: np.ndarray, k: int, chosen: np.ndarray, value: float,
                    bound: float, close: np.ndarray, open_: np.ndarray, rank: np.ndarray,
                    info: dict, marks: dict, *, integral: bool, margin: float, tol: float,
                    end: float, restricted_seconds: float):
    """The core's LP relaxation, the exact MIP on its support, then probing (in place of a MIP).

    The LP (interior point) bounds the core; the exact MIP restricted to the candidates the LP
    opens (and the solution in hand) usually finds the optimum in seconds; then
    :func:`gis.siting_probe.probe_cover` closes every candidate no better solution can open,
    in three quarters of the time left at most (the rest is the core MIP's). Returns (chosen,
    value, bound, close), updated.
    """
    free = np.flatnonzero(~close & ~open_)
    fixed = np.flatnonzero(open_)
    k_core = k - len(fixed)
    if not 0 < k_core < len(free) or time.perf_counter() >= end or \
            np.diff(cover.c_ptr)[free].sum() > 4 * PROBE_MAX_PAIRS:
        return chosen, value, bound, close
    o, col, core_w, const, _, _ = _core_rows(cover, gw, fixed, free)
    if len(o) > PROBE_MAX_PAIRS or len(core_w) == 0:
        return chosen, value, bound, close
    a = csc_matrix((np.ones(len(o)), (o, col)), shape=(len(core_w), len(free)))
    lp = CoverLP(a, core_w, k_core, end)
    marks["lp"] = time.perf_counter()
    if not lp.ok:
        return chosen, value, bound, close
    bound = min(bound, _round_down(const + lp.value, integral))
    support = np.zeros(cover.n_cols, dtype=bool)
    support[free[lp_support(lp)]] = True
    support[chosen] = True
    found = _cover_core(cover, gw, k, chosen, value, ~support & ~open_, open_, rank,
                        min(end, time.perf_counter() + restricted_seconds))
    if found is not None and found[1] > value + tol:
        chosen = _fill(found[0], k, cover.n_cols)
        value = _covered_weight(cover, gw, chosen)
    info["restricted"] = value
    marks["restricted"] = time.perf_counter()
    if bound > value + tol:
        # closing needs a bound below what a better solution covers: one resident more
        # (integral weights), or more than the tolerance
        target = value + (margin if integral else tol) - const
        probe_end = time.perf_counter() + 0.75 * (end - time.perf_counter())
        closed, more = probe_cover(a, core_w, k_core, target, probe_end, lp=lp)
        info.update(more)
        close = close.copy()
        close[free[closed]] = True
        marks["probing"] = time.perf_counter()
    return chosen, value, bound, close


def _cover_ils(pairs: _Pairs, w: np.ndarray, chosen: np.ndarray, value: float,
               score: np.ndarray, value_of, *, deadline: float, bound: float,
               tol: float) -> tuple[np.ndarray, float, int]:
    """Iterated local search: replace 1–3 sites (by the relaxation's ``score``), then swaps.

    The perturbed solution is kept when it is not worse (so the search walks plateaus);
    ends after ``_ILS_STALL`` rounds without a better solution, at the deadline, or when the
    solution reaches ``bound``. Seeded, so runs with time to spare agree.
    """
    k, m = len(chosen), pairs.n_cols
    if k == 0 or k >= m:
        return chosen, value, 0
    rng = np.random.default_rng(1)
    weight = np.maximum(score, 0.0) + 1e-9 * max(float(score.max()), 1.0)
    best, best_value = chosen.copy(), value
    current, current_value = chosen.copy(), value
    rounds = stall = 0
    while stall < _ILS_STALL and best_value < bound - tol and time.perf_counter() < deadline:
        r = min(int(rng.integers(1, 4)), k, m - k)
        trial = current.copy()
        pool = np.setdiff1d(np.arange(m), trial)
        p = weight[pool]
        trial[rng.choice(k, r, replace=False)] = rng.choice(pool, r, replace=False,
                                                             p=p / p.sum())
        trial, _ = _cover_swap(pairs, w, trial, deadline, tol)
        found = value_of(trial)
        rounds, stall = rounds + 1, stall + 1
        if found >= current_value - tol:
            current, current_value = trial, found
        if found > best_value + tol:
            best, best_value, stall = trial.copy(), found, 0
    return best, best_value, rounds


def mclp_large(problem: SitingProblem, *, k: int, radius: float, time_limit: float = 60.0,
               exact_core: bool = True) -> SitingSolution:
    """``k`` new sites covering the most residents within ``radius``, at city scale.

    Existing centres stay open and what they cover is counted first; the new sites are chosen
    for the rest. Aggregation, greedy + 1-swap, a Lagrangian upper bound, fixing and (when the
    core left is small) the exact MIP; up to ``4 × PROBE_MAX_PAIRS`` aggregated pairs also
    iterated local search, a restricted MIP and probing first; see the module docstring.

    Parameters
    ----------
    problem : SitingProblem
        Without capacities (use :func:`gis.siting.solve_mclp` for those).
    k : int
        New sites to open.
    radius : float
        Radius of the new sites (existing ones keep their own where set).
    time_limit : float
        Seconds for the whole solve; the bound and the core MIP use what the heuristic leaves.
    exact_core : bool
        Hand the core left after fixing to HiGHS when small enough (False: heuristic and
        Lagrangian bound only).

    Returns
    -------
    SitingSolution
        ``objective`` = ``covered_weight`` = residents covered (existing centres included);
        ``gap`` = (bound − objective) / objective, with the proven upper bound in
        ``details["bound"]``.
    """
    start = time.perf_counter()
    ends = [start + share * time_limit for share in _PHASES] + [start + time_limit]
    _check(problem, k)
    w = problem.weights
    near = problem.within(radius)
    d, s = problem.demand[near], problem.site[near]
    existing = s < problem.n_existing
    by_existing = np.zeros(len(w), dtype=bool)
    by_existing[d[existing]] = True
    base = float(w[by_existing].sum())
    keep = ~existing & ~by_existing[d] & (w[d] > 0)
    pairs = _Pairs.build(d[keep], s[keep] - problem.n_existing, np.zeros(int(keep.sum())),
                         len(w), problem.n_candidates)
    group = _group_rows(pairs.r_ptr, pairs.r_col, pairs.n_cols)
    members = np.flatnonzero(group >= 0)
    n_groups = int(group.max()) + 1 if len(members) else 0
    gw = np.bincount(group[members], weights=w[members], minlength=n_groups)
    rep = np.full(n_groups, -1, dtype=np.int64)
    rep[group[members[::-1]]] = members[::-1]
    cover = pairs.select(rep, np.arange(pairs.n_cols))
    del pairs
    marks = {"setup": time.perf_counter()}

    integral = bool(np.all(gw == np.round(gw)))
    scale = max(float(gw.sum()), 1.0)
    tol = 1e-9 * scale
    # with integral weights a better solution covers at least one resident more
    margin = 1.0 - 1e-7 * scale if integral else -tol

    def value_of(sites: np.ndarray) -> float:
        return _covered_weight(cover, gw, sites)

    chosen = _fill(_cover_greedy(cover, gw, k), k, cover.n_cols)
    greedy_value = value_of(chosen)
    chosen, swaps = _cover_swap(cover, gw, chosen, ends[0], tol)
    value = value_of(chosen)
    marks["heuristic"] = time.perf_counter()
    info = {"greedy": greedy_value, "swaps": swaps, "evaluations": 0, "restarts": 0,
            "ils": 0, "fixed_closed": 0, "fixed_open": 0, "core_rows": None}
    trivial = k == 0 or k >= cover.n_cols or n_groups == 0
    bound = value if trivial else np.inf
    # small enough to search longer and to probe every candidate with the LP
    probing = cover.nnz <= 4 * PROBE_MAX_PAIRS
    if not trivial:
        dual = _CoverDual(cover, gw, k)
        count, _ = _cover_count(cover, chosen)
        # complementary slackness with the solution in hand: uncovered rows at their weight,
        # rows covered twice at zero
        lam = np.where(count == 0, gw, np.where(count == 1, 0.5 * gw, 0.0))
        bound, lam, info["evaluations"] = _dual(dual, lam, value + margin, ends[1])
        bound = _round_down(bound, integral)
        marks["bound"] = time.perf_counter()
        if bound > value + tol:
            # the sites the relaxation prefers, improved by swaps, often beat greedy's
            _, rho = dual.exact(lam)
            chosen, value, more = _restarts(
                rho, k, chosen, value, lambda c, t: _cover_swap(cover, gw, c, t, tol),
                value_of, maximise=True, deadline=ends[2], tol=tol)
            info["restarts"] = more["restarts"]
            info["swaps"] += more["swaps"]
            if probing and bound > value + tol:
                chosen, value, info["ils"] = _cover_ils(cover, gw, chosen, value, rho, value_of,
                                                        deadline=ends[2], bound=bound, tol=tol)
            marks["restarts"] = time.perf_counter()
        if bound > value + tol:
            _, rho = dual.exact(lam)
            close, open_ = _fix(rho, k, bound, value, margin, maximise=True)
            info["fixed_closed"], info["fixed_open"] = int(close.sum()), int(open_.sum())
            if probing and exact_core:
                chosen, value, bound, close = _cover_lp_probe(
                    cover, gw, k, chosen, value, bound, close, open_, rho, info, marks,
                    integral=integral, margin=margin, tol=tol, end=ends[3],
                    restricted_seconds=_RESTRICTED_SHARE * time_limit)
            core = _cover_core(cover, gw, k, chosen, value, close, open_, rho,
                               ends[3] - min(_SPARE, _SPARE_SHARE * time_limit)) \
                if exact_core and bound > value + tol else None
            if core is not None:
                sites, core_value, core_bound, info["core_rows"] = core
                if core_value > value + tol:
                    chosen, value = _fill(sites, k, cover.n_cols), value_of(sites)
                bound = min(bound, _round_down(max(core_bound, value), integral))
            marks["core"] = time.perf_counter()
    status = "Optimal" if bound <= value + tol else (
        "TimeLimit" if time.perf_counter() >= ends[3] - 1e-3 else "Feasible")

    open_mask = np.zeros(problem.n_sites, dtype=bool)
    open_mask[:problem.n_existing] = True
    open_mask[problem.n_existing + chosen] = True
    assignment = _nearest_open(problem, open_mask, near)
    covered = float(w[assignment >= 0].sum())
    bound = max(bound + base, covered)
    reach = np.zeros(len(w), dtype=bool)
    reach[d] = True
    return SitingSolution(
        model="mclp", open_sites=np.flatnonzero(open_mask),
        new_sites=np.sort(problem.n_existing + chosen), closed_sites=np.zeros(0, dtype=np.int64),
        objective=covered, covered_weight=covered, assignment=assignment,
        unreachable=np.flatnonzero(~reach & (w > 0)), gap=_gap(covered, bound, maximise=True),
        status=status, seconds=time.perf_counter() - start,
        details={"k": k, "radius": radius, "bound": bound, "method": "large",
                 "covered_by_existing": base, "demand_rows": n_groups, "pairs": cover.nnz,
                 **info, "greedy": info["greedy"] + base, **_phase_seconds(start, marks)})


# --- p-median ----------------------------------------------------------------------------------

def _two_smallest(n: int, rows: np.ndarray, cost: np.ndarray, pos: np.ndarray,
                  base: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row 0 … n-1: the smallest of ``base`` and its entries, who gives it, the second.

    "Who" is the entry's ``pos``, -1 for ``base``.
    """
    order = np.lexsort((cost, rows))
    rows, cost, pos = rows[order], cost[order], pos[order]
    first = _starts(rows)
    second = ~first & np.r_[False, first[:-1]][:len(first)]
    d1, a1, d2 = base.copy(), np.full(n, -1), base.copy()
    r1 = rows[first]
    better = cost[first] < base[r1]
    d1[r1[better]] = cost[first][better]
    a1[r1[better]] = pos[first][better]
    # second best: the base when the best site beat it, else the site; then a second site
    d2[r1[~better]] = cost[first][~better]
    r2 = rows[second]
    d2[r2] = np.minimum(d2[r2], cost[second])
    return d1, a1, d2


def _best_two(pairs: _Pairs, chosen: np.ndarray, base: np.ndarray):
    """Per row: best cost, who gives it, and the second-best cost.

    The options are the sites ``chosen`` and the fallback ``base`` (existing centres or the
    penalty); "who" is a position in ``chosen``, -1 for the fallback.
    """
    o, e = pairs.columns(chosen)
    return _two_smallest(pairs.n_rows, pairs.c_row[e], pairs.c_val[e], o, base)


def _median_greedy(pairs: _Pairs, base: np.ndarray, k: int) -> np.ndarray:
    """Greedy: open the site saving the most resident-metres, k times."""
    cur = base.copy()
    saving = pairs.col_sum(np.maximum(cur[pairs.c_row] - pairs.c_val, 0.0))
    chosen: list[int] = []
    for _ in range(min(k, pairs.n_cols)):
        j = int(np.argmax(saving))
        chosen.append(j)
        sl = slice(pairs.c_ptr[j], pairs.c_ptr[j + 1])
        rows, cost = pairs.c_row[sl], pairs.c_val[sl]
        better = cost < cur[rows]
        rows, cost = rows[better], cost[better]
        o, e = pairs.rows(rows)
        c = pairs.r_val[e]
        lost = np.maximum(cur[rows][o] - c, 0.0) - np.maximum(cost[o] - c, 0.0)
        saving -= np.bincount(pairs.r_col[e], weights=lost, minlength=pairs.n_cols)
        cur[rows] = cost
        saving[chosen] = -np.inf
    return np.asarray(chosen, dtype=np.int64)


def _median_swap(pairs: _Pairs, base: np.ndarray, chosen: np.ndarray, deadline: float,
                 tol: float) -> tuple[np.ndarray, int]:
    """Best-improvement 1-swap (fast interchange) for p-median; returns sites and swaps.

    Swapping out position p for site j saves gain(j) − loss(p) + extra[p, j]: what j saves
    against the current assignment, what losing p costs its demand (moving to their second
    best), and for p's demand that j serves better than their second best, d2 − max(c, d1).
    The tables are kept up to date from the rows a swap touches (those of the two sites).
    """
    chosen = chosen.copy()
    k, m = len(chosen), pairs.n_cols
    if k == 0 or k >= m:
        return chosen, 0
    position = np.full(m, -1)
    position[chosen] = np.arange(k)
    d1, a1, d2 = _best_two(pairs, chosen, base)
    gain, extra, loss = np.zeros(m), np.zeros(k * m), np.zeros(k)

    def account(rows: np.ndarray, sign: float) -> None:
        o, e = pairs.rows(rows)
        cols, c = pairs.r_col[e], pairs.r_val[e]
        r1, r2, ra = d1[rows][o], d2[rows][o], a1[rows][o]
        save = r1 - c
        keep = save > 0
        gain[:] += sign * np.bincount(cols[keep], weights=save[keep], minlength=m)
        served = a1[rows] >= 0
        loss[:] += sign * np.bincount(a1[rows][served], weights=(d2 - d1)[rows][served],
                                      minlength=k)
        use = (ra >= 0) & (c < r2)
        extra[:] += sign * np.bincount(ra[use] * m + cols[use],
                                       weights=r2[use] - np.maximum(c[use], r1[use]),
                                       minlength=k * m)

    def reassign(rows: np.ndarray) -> None:
        o, e = pairs.rows(rows)
        pos = position[pairs.r_col[e]]
        hit = pos >= 0
        d1[rows], a1[rows], d2[rows] = _two_smallest(len(rows), o[hit], pairs.r_val[e][hit],
                                                     pos[hit], base[rows])

    account(np.arange(pairs.n_rows), 1.0)
    swaps = 0
    while time.perf_counter() < deadline:
        delta = extra.reshape(k, m) + gain[None, :] - loss[:, None]
        delta[:, chosen] = -np.inf
        p, j = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[p, j] <= tol:
            break
        out = chosen[p]
        rows = np.unique(np.r_[pairs.c_row[pairs.c_ptr[out]:pairs.c_ptr[out + 1]],
                               pairs.c_row[pairs.c_ptr[j]:pairs.c_ptr[j + 1]]])
        before = float(d1[rows].sum())
        account(rows, -1.0)
        chosen[p], position[out], position[j] = j, -1, p
        reassign(rows)
        if before - float(d1[rows].sum()) <= tol:  # rounding drift: stop
            chosen[p], position[j], position[out] = out, -1, p
            reassign(rows)
            break
        account(rows, 1.0)
        swaps += 1
    return chosen, swaps


def _median_core(pairs: _Pairs, base: np.ndarray, k: int, chosen: np.ndarray, value: float,
                 close: np.ndarray, open_: np.ndarray, rank: np.ndarray, time_left: float):
    """Solve what fixing leaves with the exact MIP; returns (sites, value, bound) or None."""
    free = np.flatnonzero(~close & ~open_)
    fixed = np.flatnonzero(open_)
    k_core = k - len(fixed)
    if k_core > len(free):
        return chosen, value, value, 0
    if time_left <= 0 or np.diff(pairs.c_ptr)[free].sum() > 4 * CORE_MAX_MEDIAN_PAIRS:
        return None  # hopeless: do not build it
    fallback, _, _ = _best_two(pairs, fixed, base)
    o, e = pairs.columns(free)
    rows, cost = pairs.c_row[e], pairs.c_val[e]
    useful = cost < fallback[rows]
    o, rows, cost = o[useful], rows[useful], cost[useful]
    if len(cost) > CORE_MAX_MEDIAN_PAIRS or time_left <= 0:
        return None
    core_rows = np.unique(rows)
    const = float(fallback.sum() - fallback[core_rows].sum())
    if k_core == 0 or len(core_rows) == 0:  # nothing left to decide
        return np.r_[fixed, free[:k_core]], const + float(fallback[core_rows].sum()), \
            const + float(fallback[core_rows].sum()), 0
    row_of = np.full(pairs.n_rows, -1)
    row_of[core_rows] = np.arange(len(core_rows))
    model = _Model()
    y = model.add_columns(np.zeros(len(free)), 0.0, 1.0, integer=True)
    row = model.add_rows(k_core, k_core)
    model.add_entries(np.repeat(row, len(free)), y, 1.0)
    x = model.add_columns(cost, 0.0, 1.0, integer=False)
    a = model.add_columns(fallback[core_rows], 0.0, 1.0, integer=False)
    once = model.add_rows(np.ones(len(core_rows)), 1.0)
    model.add_entries(once[row_of[rows]], x, 1.0)
    model.add_entries(once, a, 1.0)
    link = model.add_rows(np.full(len(x), -np.inf), 0.0)
    model.add_entries(link, x, 1.0)
    model.add_entries(link, y[o], -1.0)
    y0 = _start_sites(free, chosen, k_core, rank)
    x0 = np.zeros(len(x))
    a0 = np.ones(len(core_rows))
    cand = np.flatnonzero(y0[o])
    order = cand[np.lexsort((cost[cand], row_of[rows[cand]]))]
    first = order[_starts(rows[order])]  # each row's cheapest open pair (all beat the fallback)
    x0[first] = 1.0
    a0[row_of[rows[first]]] = 0.0
    try:
        values, _, objective, _ = model.solve(time_left, start=np.r_[y0.astype(float), x0, a0],
                                              options=_CORE_OPTIONS)
    except SitingError:  # out of time before any solution
        return None
    sites = np.r_[fixed, free[values[y] > 0.5]]
    return sites, const + objective, const + _finite(model.bound, -np.inf), len(core_rows)


def pmedian_large(problem: SitingProblem, *, k: int, penalty_m: float | None = None,
                  time_limit: float = 60.0, exact_core: bool = True) -> SitingSolution:
    """``k`` new sites minimising residents' total walk, at city scale, with a proven gap.

    Each demand point walks to its nearest open site among the pairs (existing centres stay
    open), or, with none nearer than ``penalty_m``, counts ``penalty_m`` per resident and is
    reported unassigned — the same objective as :func:`gis.siting.solve_pmedian`.

    Parameters
    ----------
    problem : SitingProblem
        Without capacities (use :func:`gis.siting.solve_pmedian` for those).
    k : int
        New sites to open.
    penalty_m : float, optional
        Metres per unassigned resident (default: twice the longest pair).
    time_limit : float
        Seconds for the whole solve.
    exact_core : bool
        Hand the core left after fixing to HiGHS when small enough.

    Returns
    -------
    SitingSolution
        ``objective`` in resident-metres (penalties included); ``gap`` = (objective − bound)
        / objective with the proven lower bound in ``details["bound"]``.
    """
    start = time.perf_counter()
    ends = [start + share * time_limit for share in _PHASES] + [start + time_limit]
    _check(problem, k)
    w = problem.weights
    d, s, m = problem.demand, problem.site, problem.distance_m
    penalty = float(penalty_m if penalty_m is not None else 2 * (m.max() if len(m) else 1.0))
    # each demand point's cost with the existing centres only (or the penalty)
    base = w * penalty
    existing = s < problem.n_existing
    np.minimum.at(base, d[existing], w[d[existing]] * m[existing])
    cost = w[d] * m
    keep = ~existing & (cost < base[d])
    rows = np.unique(d[keep])
    row_of = np.full(len(w), -1)
    row_of[rows] = np.arange(len(rows))
    pairs = _Pairs.build(row_of[d[keep]], s[keep] - problem.n_existing, cost[keep], len(rows),
                         problem.n_candidates)
    fallback = base[rows]
    const = float(base.sum() - fallback.sum())
    marks = {"setup": time.perf_counter()}

    scale = max(float(fallback.sum()), 1.0)
    tol = 1e-9 * scale

    def value_of(sites: np.ndarray) -> float:
        return float(_best_two(pairs, sites, fallback)[0].sum())

    chosen = _fill(_median_greedy(pairs, fallback, k), k, pairs.n_cols)
    greedy_value = value_of(chosen)
    chosen, swaps = _median_swap(pairs, fallback, chosen, ends[0], tol)
    value = value_of(chosen)
    marks["heuristic"] = time.perf_counter()
    info = {"greedy": greedy_value, "swaps": swaps, "evaluations": 0, "restarts": 0,
            "fixed_closed": 0, "fixed_open": 0, "core_rows": None}
    trivial = k == 0 or k >= pairs.n_cols or len(rows) == 0
    bound = value if trivial else -np.inf
    if not trivial:
        dual = _MedianDual(pairs, fallback, k)
        d1, _, d2 = _best_two(pairs, chosen, fallback)
        bound, u, info["evaluations"] = _dual(dual, 0.5 * (d1 + d2), value - tol, ends[1])
        marks["bound"] = time.perf_counter()
        if bound < value - tol:
            _, saving = dual.exact(u)
            chosen, value, more = _restarts(
                saving, k, chosen, value, lambda c, t: _median_swap(pairs, fallback, c, t, tol),
                value_of, maximise=False, deadline=ends[2], tol=tol)
            info["restarts"] = more["restarts"]
            info["swaps"] += more["swaps"]
            marks["restarts"] = time.perf_counter()
        if bound < value - tol:
            _, saving = dual.exact(u)
            close, open_ = _fix(-saving, k, bound, value, -tol, maximise=False)
            info["fixed_closed"], info["fixed_open"] = int(close.sum()), int(open_.sum())
            core = _median_core(pairs, fallback, k, chosen, value, close, open_, saving,
                                ends[3] - time.perf_counter()) if exact_core else None
            if core is not None:
                sites, core_value, core_bound, info["core_rows"] = core
                if core_value < value - tol:
                    chosen, value = _fill(sites, k, pairs.n_cols), value_of(sites)
                bound = max(bound, min(core_bound, value))
            marks["core"] = time.perf_counter()
    status = "Optimal" if bound >= value - tol else (
        "TimeLimit" if time.perf_counter() >= ends[3] - 1e-3 else "Feasible")

    open_mask = np.zeros(problem.n_sites, dtype=bool)
    open_mask[:problem.n_existing] = True
    open_mask[problem.n_existing + chosen] = True
    assignment = _nearest_open(problem, open_mask, m < penalty)
    at = np.flatnonzero(assignment >= 0)
    walked = float((w[at] * _pair_distance(problem, at, assignment[at])).sum())
    objective = walked + float(w[assignment < 0].sum() * penalty)
    bound = min(bound + const, objective)
    return SitingSolution(
        model="pmedian", open_sites=np.flatnonzero(open_mask),
        new_sites=np.sort(problem.n_existing + chosen), closed_sites=np.zeros(0, dtype=np.int64),
        objective=objective, covered_weight=float(w[assignment >= 0].sum()),
        assignment=assignment, unreachable=np.flatnonzero((assignment < 0) & (w > 0)),
        gap=_gap(objective, bound, maximise=False), status=status,
        seconds=time.perf_counter() - start,
        details={"k": k, "penalty_m": penalty, "resident_metres": walked, "bound": bound,
                 "method": "large", "demand_rows": len(rows), "pairs": pairs.nnz, **info,
                 "greedy": info["greedy"] + const, **_phase_seconds(start, marks)})


# --- shared helpers ----------------------------------------------------------------------------

def _check(problem: SitingProblem, k: int) -> None:
    if problem.capacity is not None:
        raise SitingError("capacitated models are solved exactly: use gis.siting")
    if k > problem.n_candidates:
        raise SitingError(f"k = {k} is more than the {problem.n_candidates} candidate sites")
    if k < 0:
        raise SitingError("k must not be negative")


def _start_sites(free: np.ndarray, chosen: np.ndarray, k: int, rank: np.ndarray) -> np.ndarray:
    """A start for a core MIP: the solution's free sites, topped up to k by ``rank``.

    The solution in hand may use sites fixing closed (or lack one it opened); the start must
    still open exactly k.
    """
    start = np.isin(free, chosen)
    # the solution's sites first, then the others, each by rank
    order = np.lexsort((-rank[free], ~start))
    start[:] = False
    start[order[:k]] = True
    return start


def _fill(chosen: np.ndarray, k: int, n: int) -> np.ndarray:
    """``chosen`` topped up to k distinct sites (with sites that add nothing)."""
    chosen = np.unique(chosen)[:k] if len(np.unique(chosen)) > k else np.asarray(chosen)
    if len(chosen) < k:
        rest = np.setdiff1d(np.arange(n), chosen)[:k - len(chosen)]
        chosen = np.r_[chosen, rest]
    return chosen.astype(np.int64)


def _phase_seconds(start: float, marks: dict[str, float]) -> dict[str, float]:
    """Seconds spent in each phase, from the times the phases ended."""
    out, last = {}, start
    for name, when in marks.items():
        out[f"seconds_{name.replace(' ', '_')}"] = round(when - last, 3)
        last = when
    return out


def _starts(keys: np.ndarray) -> np.ndarray:
    """Mask of the first entry of each run of equal sorted ``keys``."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def _finite(value: float, otherwise: float) -> float:
    return float(value) if np.isfinite(value) else otherwise


def _round_down(bound: float, integral: bool) -> float:
    """With integral weights every coverage is an integer: so is the best one."""
    return float(np.floor(bound + 1e-7 * max(abs(bound), 1.0))) if integral else bound


def _gap(objective: float, bound: float, *, maximise: bool) -> float:
    diff = (bound - objective) if maximise else (objective - bound)
    if diff <= 1e-9 * max(abs(objective), 1.0):
        return 0.0
    return float(diff / abs(objective)) if objective else float("inf")


def _pair_distance(problem: SitingProblem, demand: np.ndarray, site: np.ndarray) -> np.ndarray:
    """Distance of the pairs (demand, site) (each must be a pair of the problem)."""
    key = problem.demand * problem.n_sites + problem.site
    order = np.argsort(key, kind="stable")
    pos = np.searchsorted(key[order], demand * problem.n_sites + site)
    return problem.distance_m[order[pos]]


# --- dispatcher ----------------------------------------------------------------------------------

def solve(problem: SitingProblem, model: str, *, k: int | None = None,
          radius: float | None = None, allow_close: bool = False,
          penalty_m: float | None = None, time_limit: float = 60.0,
          exact_max_pairs: int = EXACT_MAX_PAIRS) -> SitingSolution:
    """Solve ``model`` with the exact MIP when small, with the city-scale method when large.

    Parameters
    ----------
    problem : SitingProblem
    model : {"lscp", "mclp", "pmedian"}
    k : int, optional
        New sites (MCLP, p-median).
    radius : float, optional
        Radius of new sites (LSCP, MCLP).
    allow_close : bool
        Existing centres may close (exact models only).
    penalty_m : float, optional
        p-median: metres per unassigned resident.
    time_limit : float
        Seconds.
    exact_max_pairs : int
        Up to this many pairs, always the exact MIP of :mod:`gis.siting`.

    Returns
    -------
    SitingSolution
        ``details["method"]`` says which path answered: ``exact``, ``aggregated`` (the exact
        MIP on aggregated demand) or ``large``.

    Raises
    ------
    SitingError
        Unknown model, or a missing or invalid ``k`` / ``radius``.
    """
    if model not in MODELS:
        raise SitingError(f"unknown model {model!r}: use {', '.join(MODELS)}")
    if model != "lscp" and k is None:
        raise SitingError(f"{model} needs k")
    if model != "pmedian" and radius is None:
        raise SitingError(f"{model} needs a radius")
    small = len(problem.demand) <= exact_max_pairs
    if model == "pmedian":
        if small or allow_close or problem.capacity is not None:
            sol = solve_pmedian(problem, k=k, allow_close=allow_close, penalty_m=penalty_m,
                                time_limit=time_limit)
            sol.details["method"] = "exact"
            return sol
        return pmedian_large(problem, k=k, penalty_m=penalty_m, time_limit=time_limit)
    if model == "mclp" and not (small or allow_close or problem.capacity is not None):
        return mclp_large(problem, k=k, radius=radius, time_limit=time_limit)
    if small:
        sol = (solve_lscp(problem, radius=radius, allow_close=allow_close,
                          time_limit=time_limit) if model == "lscp" else
               solve_mclp(problem, k=k, radius=radius, allow_close=allow_close,
                          time_limit=time_limit))
        sol.details["method"] = "exact"
        return sol
    # large LSCP, or MCLP with capacities / closing: the exact MIP on aggregated demand
    start = time.perf_counter()
    reduced, group = aggregate(problem, radius=radius)
    sol = (solve_lscp(reduced, radius=radius, allow_close=allow_close, time_limit=time_limit)
           if model == "lscp" else
           solve_mclp(reduced, k=k, radius=radius, allow_close=allow_close,
                      time_limit=time_limit))
    near = problem.within(radius)
    open_mask = np.zeros(problem.n_sites, dtype=bool)
    open_mask[sol.open_sites] = True
    sol.assignment = _nearest_open(problem, open_mask, near)
    reach = np.zeros(len(problem.weights), dtype=bool)
    reach[problem.demand[near]] = True
    sol.unreachable = np.flatnonzero(~reach & (problem.weights > 0))
    if problem.capacity is None:
        sol.covered_weight = float(problem.weights[sol.assignment >= 0].sum())
    sol.seconds = time.perf_counter() - start
    sol.details.update(method="aggregated", demand_rows=len(reduced.weights))
    return sol
