"""Where to put party-mass service centres: LSCP, MCLP and p-median on walking distances.

A :class:`SitingProblem` holds demand (buildings weighted by residents), sites (existing centres,
then candidates) and the *sparse* demand–site walking distances within a cutoff — never a dense
demand × site matrix. The models are built as sparse column-wise matrices and solved with HiGHS
(``highspy``) under a time limit; the solution reports the optimality gap HiGHS proves.

- :func:`solve_lscp`: fewest new sites so every resident is within the radius; residents no
  site can reach are reported, not a failure.
- :func:`solve_mclp`: ``k`` new sites covering the most residents within the radius; without
  capacities the MIP is first reduced exactly (demand with equal cover sets merged, demand the
  kept centres cover made a constant, dominated candidates dropped).
- :func:`solve_pmedian`: ``k`` new sites minimising resident-weighted walking distance.

Existing centres stay open and count (``allow_close=True`` lets the model close or, with a
candidate nearby, relocate them). Capacities (residents a site can serve) turn MCLP and p-median
into their capacitated variants.

Examples
--------
>>> problem = SitingProblem.from_pairs(weights=[100, 50], n_existing=0, n_candidates=2,
...                                    pairs=([0, 1], [0, 1], [200.0, 300.0]))
>>> solve_mclp(problem, k=1, radius=250).covered_weight
100.0
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy.sparse import csc_matrix, csr_matrix

__all__ = ["SitingError", "SitingProblem", "SitingSolution", "solve_lscp", "solve_mclp",
           "solve_pmedian"]


class SitingError(ValueError):
    """The siting question cannot be asked of this data (the message says why)."""


@dataclass
class SitingProblem:
    """Demand, sites and the sparse walking distances between them.

    Attributes
    ----------
    weights : ndarray of float
        Residents (or households) of each demand point.
    n_existing, n_candidates : int
        Sites ``0 … n_existing-1`` are existing centres, the rest candidates.
    demand, site, distance_m : ndarray
        One entry per demand–site pair within the cutoff the pairs were built with.
    capacity : ndarray of float, optional
        Residents each site can serve (capacitated variants); None for unlimited.
    site_radius_m : ndarray of float, optional
        A site's own service radius (e.g. an existing centre's); NaN where the model's radius
        applies.
    """

    weights: np.ndarray
    n_existing: int
    n_candidates: int
    demand: np.ndarray
    site: np.ndarray
    distance_m: np.ndarray
    capacity: np.ndarray | None = None
    site_radius_m: np.ndarray | None = None

    @classmethod
    def from_pairs(cls, *, weights, n_existing: int, n_candidates: int, pairs,
                   capacity=None, site_radius_m=None) -> SitingProblem:
        """Build from ``pairs = (demand_index, site_index, distance_m)`` (any sequences)."""
        d, s, m = (np.asarray(a) for a in pairs)
        w = np.asarray(weights, dtype=float)
        n_sites = n_existing + n_candidates
        if len(d) and (d.min() < 0 or d.max() >= len(w) or s.min() < 0 or s.max() >= n_sites):
            raise SitingError("a pair refers to a demand point or site that does not exist")
        if (w < 0).any():
            raise SitingError("demand weights must not be negative")
        cap = None if capacity is None else np.asarray(capacity, dtype=float)
        if cap is not None and len(cap) != n_sites:
            raise SitingError(f"capacity has {len(cap)} entries for {n_sites} sites")
        radius = None if site_radius_m is None else np.asarray(site_radius_m, dtype=float)
        if radius is not None and len(radius) != n_sites:
            raise SitingError(f"site_radius_m has {len(radius)} entries for {n_sites} sites")
        return cls(w, n_existing, n_candidates, d.astype(np.int64), s.astype(np.int64),
                   m.astype(float), cap, radius)

    @property
    def n_sites(self) -> int:
        """Existing centres plus candidates."""
        return self.n_existing + self.n_candidates

    def within(self, radius: float) -> np.ndarray:
        """Mask of the pairs within the site's own radius, or ``radius`` where it has none."""
        if self.site_radius_m is None:
            return self.distance_m <= radius
        own = self.site_radius_m[self.site]
        return self.distance_m <= np.where(np.isnan(own), radius, own)


@dataclass
class SitingSolution:
    """What a model chose, and how good it is proven to be.

    Attributes
    ----------
    model : str
        ``lscp``, ``mclp`` or ``pmedian``.
    open_sites : ndarray of int
        Every site open in the solution (existing ones included, unless closed).
    new_sites : ndarray of int
        The candidates opened.
    closed_sites : ndarray of int
        Existing centres closed (only with ``allow_close``).
    objective : float
        Number of new sites (LSCP), residents covered (MCLP) or resident-metres (p-median).
    covered_weight : float
        Residents within the radius of an open site (p-median: within the cutoff).
    assignment : ndarray of int
        The site serving each demand point (-1: none within reach).
    unreachable : ndarray of int
        Demand points no site can reach within the radius / cutoff.
    gap : float
        Relative optimality gap proven by HiGHS (0 = optimal).
    status : str
        HiGHS model status.
    seconds : float
    """

    model: str
    open_sites: np.ndarray
    new_sites: np.ndarray
    closed_sites: np.ndarray
    objective: float
    covered_weight: float
    assignment: np.ndarray
    unreachable: np.ndarray
    gap: float
    status: str
    seconds: float
    details: dict = field(default_factory=dict)


# file descriptor 1 is the process's: threads building HiGHS models at once take turns
_STDOUT_LOCK = threading.RLock()


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """HiGHS prints its banner on stdout from C++; keep it off (``--json`` owns stdout).

    Thread-safe: without the lock, a second thread could save the first's /dev/null as
    "stdout" and restore it for good.
    """
    with _STDOUT_LOCK:
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


class _Model:
    """A MIP assembled column by column (sparse), then solved by HiGHS."""

    def __init__(self, maximise: bool = False):
        self.maximise = maximise
        self.cost: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []   # matrix entries (row, col, value)
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.row_lower: list[float] = []
        self.row_upper: list[float] = []
        self.n_cols = 0

    def add_columns(self, cost, lower, upper, *, integer: bool) -> np.ndarray:
        cost = np.asarray(cost, dtype=float)
        n = len(cost)
        self.cost.append(cost)
        self.lower.append(np.broadcast_to(np.asarray(lower, float), n).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, float), n).copy())
        self.integer.append(np.full(n, integer))
        first = self.n_cols
        self.n_cols += n
        return np.arange(first, first + n)

    def add_rows(self, lower, upper) -> np.ndarray:
        lower = np.atleast_1d(np.asarray(lower, dtype=float))
        upper = np.broadcast_to(np.asarray(upper, float), len(lower))
        first = len(self.row_lower)
        self.row_lower.extend(lower.tolist())
        self.row_upper.extend(upper.tolist())
        return np.arange(first, first + len(lower))

    def add_entries(self, rows, cols, vals) -> None:
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        self.rows.append(rows)
        self.cols.append(cols)
        self.vals.append(np.broadcast_to(np.asarray(vals, float), len(rows)).copy())

    def solve(self, time_limit: float, *, start: np.ndarray | None = None,
              options: dict | None = None) -> tuple[np.ndarray, str, float, float]:
        """Solve; ``start`` is a feasible solution to begin from (all columns).

        ``options`` are HiGHS options set after the defaults here. Also sets ``self.bound``,
        the objective bound HiGHS proved (the dual bound).
        """
        n_rows = len(self.row_lower)
        matrix = csc_matrix((np.concatenate(self.vals) if self.vals else np.zeros(0),
                             (np.concatenate(self.rows) if self.rows else np.zeros(0, int),
                              np.concatenate(self.cols) if self.cols else np.zeros(0, int))),
                            shape=(n_rows, self.n_cols))
        matrix.sum_duplicates()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_cols, n_rows
        lp.col_cost_ = np.concatenate(self.cost)
        lp.col_lower_ = np.concatenate(self.lower)
        lp.col_upper_ = np.concatenate(self.upper)
        lp.row_lower_ = np.asarray(self.row_lower)
        lp.row_upper_ = np.asarray(self.row_upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr
        lp.a_matrix_.index_ = matrix.indices
        lp.a_matrix_.value_ = matrix.data
        lp.sense_ = highspy.ObjSense.kMaximize if self.maximise else highspy.ObjSense.kMinimize
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else
                           highspy.HighsVarType.kContinuous for i in np.concatenate(self.integer)]
        with _quiet_stdout():
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(time_limit))
        h.setOptionValue("mip_rel_gap", 1e-6)
        for name, value in (options or {}).items():
            h.setOptionValue(name, value)
        h.passModel(lp)
        if start is not None:
            given = highspy.HighsSolution()
            given.col_value = np.asarray(start, dtype=float)
            given.value_valid = True
            h.setSolution(given)
        h.run()
        status = h.getModelStatus().name.removeprefix("k")
        info = h.getInfo()
        if info.primal_solution_status != 2:  # no feasible solution
            raise SitingError(f"HiGHS found no solution ({status})")
        values = np.asarray(h.getSolution().col_value)
        gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else 0.0
        integer = np.concatenate(self.integer).any() if self.integer else False
        self.bound = float(info.mip_dual_bound if integer else info.objective_function_value)
        return values, status, float(info.objective_function_value), max(gap, 0.0)


def _site_columns(model: _Model, problem: SitingProblem, *, allow_close: bool,
                  new_cost: float = 0.0, existing_cost: float = 0.0) -> np.ndarray:
    """One binary per site; existing centres fixed open unless they may close."""
    lower = np.zeros(problem.n_sites)
    if not allow_close:
        lower[:problem.n_existing] = 1.0
    cost = np.r_[np.full(problem.n_existing, existing_cost),
                 np.full(problem.n_candidates, new_cost)]
    cols = model.add_columns(cost, lower, 1.0, integer=True)
    return cols


def _count_rows(model: _Model, problem: SitingProblem, y: np.ndarray, k: int, *,
                allow_close: bool) -> None:
    """Exactly ``k`` new sites; with ``allow_close`` the total open stays existing + k."""
    if k > problem.n_candidates:
        raise SitingError(f"k = {k} is more than the {problem.n_candidates} candidate sites")
    if k < 0:
        raise SitingError("k must not be negative")
    if allow_close:
        row = model.add_rows(problem.n_existing + k, problem.n_existing + k)
        model.add_entries(np.repeat(row, problem.n_sites), y, 1.0)
    else:
        row = model.add_rows(k, k)
        model.add_entries(np.repeat(row, problem.n_candidates), y[problem.n_existing:], 1.0)


def _solution(problem: SitingProblem, name: str, y_value: np.ndarray, objective: float,
              covered: float, assignment: np.ndarray, unreachable: np.ndarray, gap: float,
              status: str, start: float, **details) -> SitingSolution:
    open_sites = np.flatnonzero(y_value > 0.5)
    return SitingSolution(
        model=name, open_sites=open_sites,
        new_sites=open_sites[open_sites >= problem.n_existing],
        closed_sites=np.setdiff1d(np.arange(problem.n_existing), open_sites),
        objective=objective, covered_weight=covered, assignment=assignment,
        unreachable=unreachable, gap=gap, status=status,
        seconds=time.perf_counter() - start, details=details)


def _nearest_open(problem: SitingProblem, open_mask: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Each demand point's nearest open site among ``pairs`` (-1 when none)."""
    keep = pairs & open_mask[problem.site]
    assignment = np.full(len(problem.weights), -1)
    if keep.any():
        d, s, m = problem.demand[keep], problem.site[keep], problem.distance_m[keep]
        order = np.lexsort((s, m, d))
        first = np.r_[True, d[order][1:] != d[order][:-1]]
        assignment[d[order][first]] = s[order][first]
    return assignment


# --- sparse helpers (shared with gis.siting_scale) -----------------------------------------

def _ragged(ptr: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries of segments ``which`` of a CSR/CSC pointer: (position in ``which``, entry)."""
    which = np.asarray(which, np.int64)
    start = ptr[which]
    lens = ptr[which + 1] - start
    owner = np.repeat(np.arange(len(which)), lens)
    offset = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    return owner, start[owner] + offset


def _group_rows(ptr: np.ndarray, index: np.ndarray, n_cols: int) -> np.ndarray:
    """Group id of each row of a CSR structure with sorted indices; equal rows share one.

    Rows are hashed (two random 64-bit keys per column, summed) and every row is then compared
    entry by entry with its group's first row, so the grouping is exact; rows whose hash
    collided with a different row are grouped by their entries instead. Empty rows get -1.
    """
    n_rows = len(ptr) - 1
    lens = np.diff(ptr)
    group = np.full(n_rows, -1, dtype=np.int64)
    full = np.flatnonzero(lens > 0)
    if len(full) == 0:
        return group
    rng = np.random.default_rng(12345)
    h1 = rng.integers(0, 2**63, n_cols, dtype=np.uint64)
    h2 = rng.integers(0, 2**63, n_cols, dtype=np.uint64)
    starts = ptr[full]
    k1 = np.add.reduceat(h1[index], starts)  # sums wrap around modulo 2**64: fine for a hash
    k2 = np.add.reduceat(h2[index], starts)
    order = np.lexsort((lens[full], k2, k1))
    sk1, sk2, sl = k1[order], k2[order], lens[full][order]
    new = np.r_[True, (sk1[1:] != sk1[:-1]) | (sk2[1:] != sk2[:-1]) | (sl[1:] != sl[:-1])]
    gid_sorted = np.cumsum(new) - 1
    first_row_sorted = full[order][new][gid_sorted]  # each row's group representative
    rep = np.empty(len(full), dtype=np.int64)
    rep[order] = first_row_sorted
    gid = np.empty(len(full), dtype=np.int64)
    gid[order] = gid_sorted
    # exact check: same length is part of the key, so compare entry by entry
    owner, entry = _ragged(ptr, full)
    rep_entry = ptr[rep[owner]] + (entry - ptr[full[owner]])
    bad = np.unique(owner[index[entry] != index[rep_entry]])
    if len(bad):  # a hash collision (practically never): group those rows by their entries
        known: dict[tuple, int] = {}
        first_new = int(gid.max()) + 1
        for r in bad:
            key = tuple(index[ptr[full[r]]:ptr[full[r] + 1]].tolist())
            gid[r] = known.setdefault(key, first_new + len(known))
    # renumber in order of first appearance, so groups follow the demand order
    _, first, inverse = np.unique(gid, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    group[full] = rank[inverse]
    return group


def solve_lscp(problem: SitingProblem, *, radius: float, allow_close: bool = False,
               time_limit: float = 60.0) -> SitingSolution:
    """Fewest new sites so that every reachable resident is within ``radius`` of an open site.

    Demand points that no site (existing or candidate) reaches within the radius are reported
    in ``unreachable`` and left out of the constraints.
    """
    start = time.perf_counter()
    near = problem.within(radius)
    reach = np.zeros(len(problem.weights), dtype=bool)
    reach[problem.demand[near]] = True
    # demand with no weight needs no cover
    todo = np.flatnonzero(reach & (problem.weights > 0))
    model = _Model()
    y = _site_columns(model, problem, allow_close=allow_close, new_cost=1.0,
                      existing_cost=1.0 if allow_close else 0.0)
    row_of = np.full(len(problem.weights), -1)
    row_of[todo] = model.add_rows(np.ones(len(todo)), np.inf)
    pair = near & (row_of[problem.demand] >= 0)
    model.add_entries(row_of[problem.demand[pair]], y[problem.site[pair]], 1.0)
    values, status, _, gap = model.solve(time_limit)
    open_mask = values[y] > 0.5
    assignment = _nearest_open(problem, open_mask, near)
    covered = float(problem.weights[assignment >= 0].sum())
    new = int(open_mask[problem.n_existing:].sum())
    return _solution(problem, "lscp", values[y], float(new), covered, assignment,
                     np.flatnonzero(~reach & (problem.weights > 0)), gap, status, start)


def solve_mclp(problem: SitingProblem, *, k: int, radius: float, allow_close: bool = False,
               time_limit: float = 60.0, reduce: bool = True) -> SitingSolution:
    """``k`` new sites covering the most residents within ``radius`` of an open site.

    With capacities, a site covers at most its capacity (residents are assigned, and may be
    split between sites).

    Without capacities the MIP is first reduced, exactly (``reduce=False`` keeps the plain
    model, for comparison): see :func:`_mclp_reduced`. The objective and bound are in
    residents of the original problem either way.
    """
    start = time.perf_counter()
    near = problem.within(radius)
    if problem.capacity is None and reduce:
        return _mclp_reduced(problem, k, radius, near, allow_close, time_limit, start)
    model = _Model(maximise=True)
    y = _site_columns(model, problem, allow_close=allow_close)
    _count_rows(model, problem, y, k, allow_close=allow_close)
    d, s = problem.demand[near], problem.site[near]
    reachable = np.unique(d)
    w = problem.weights
    if problem.capacity is None:
        # z_i ≤ Σ y_j over the sites within reach of i
        z = model.add_columns(w[reachable], 0.0, 1.0, integer=False)
        z_of = np.full(len(w), -1)
        z_of[reachable] = z
        rows = model.add_rows(np.full(len(reachable), -np.inf), 0.0)
        row_of = np.full(len(w), -1)
        row_of[reachable] = rows
        model.add_entries(rows, z, 1.0)
        model.add_entries(row_of[d], y[s], -1.0)
    else:
        # x_ij ∈ [0, 1] share of i covered by j; Σ_j x_ij ≤ 1; x_ij ≤ y_j; Σ_i w_i x_ij ≤ cap_j y_j
        x = model.add_columns(w[d], 0.0, 1.0, integer=False)
        _assignment_rows(model, problem, x, d, s, y, upper=1.0)
    values, status, objective, gap = model.solve(time_limit)
    open_mask = values[y] > 0.5
    assignment = _nearest_open(problem, open_mask, near)
    covered = float(objective)
    unreachable = np.setdiff1d(np.flatnonzero(w > 0), reachable)
    return _solution(problem, "mclp", values[y], float(objective), covered, assignment,
                     unreachable, gap, status, start, k=k, radius=radius)


def _merge_rows(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
                n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with the same set of columns merged into one row carrying their summed weight.

    ``rows``, ``cols``: the entries of a 0/1 matrix (duplicates allowed); ``weights``: one per
    row. Returns the entries of the merged matrix (merged row, column) and the merged rows'
    weights; rows without entries are dropped.
    """
    n_rows = len(weights)
    matrix = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_rows, n_cols))
    matrix.sum_duplicates()
    matrix.sort_indices()
    ptr, index = matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64)
    group = _group_rows(ptr, index, n_cols)
    members = np.flatnonzero(group >= 0)
    n_groups = int(group.max()) + 1 if len(members) else 0
    merged = np.bincount(group[members], weights=weights[members], minlength=n_groups)
    first = np.full(n_groups, -1, dtype=np.int64)
    first[group[members[::-1]]] = members[::-1]
    owner, entry = _ragged(ptr, first)
    return owner, index[entry], merged


def _undominated(rows: np.ndarray, cols: np.ndarray, n_cols: int, k: int) -> np.ndarray:
    """Mask of the columns to keep: none whose rows are a subset of another column's.

    Of identical columns the first is kept. Opening a dominated column never covers more
    than opening its dominator instead (or, when that is open already, any other column), so
    an optimal k-subset of the kept columns is optimal overall — given at least k of them;
    with fewer, dominated columns are kept back (first ones first) to make up k.
    """
    a = csc_matrix((np.ones(len(rows)), (rows, cols)),
                   shape=(int(rows.max()) + 1 if len(rows) else 0, n_cols))
    a.sum_duplicates()
    a.data[:] = 1.0
    size = np.diff(a.indptr)
    overlap = (a.T @ a).tocoo()
    j, other = overlap.row, overlap.col
    within = (j != other) & (np.round(overlap.data) == size[j]) & (
        (size[other] > size[j]) | ((size[other] == size[j]) & (other < j)))
    dominated = np.zeros(n_cols, dtype=bool)
    dominated[j[within]] = True
    empty = size == 0  # covers nothing: dominated by any column that covers something
    if (~empty).any():
        dominated |= empty
    else:
        dominated[1:] = True
    keep = ~dominated
    if keep.sum() < k:
        keep[np.flatnonzero(~keep)[:k - int(keep.sum())]] = True
    return keep


def _mclp_reduced(problem: SitingProblem, k: int, radius: float, near: np.ndarray,
                  allow_close: bool, time_limit: float, start: float) -> SitingSolution:
    """Uncapacitated MCLP as a MIP made smaller by exact reductions, then HiGHS.

    1. Demand no site reaches, or with no weight, is left out (it changes no coverage).
    2. With existing centres kept open, the demand they cover is a constant and their columns
       are fixed: only the candidates and the demand they alone could add remain.
    3. Demand points with the same set of covering sites become one row (summed weight).
    4. Without ``allow_close``, a candidate whose covered rows are a subset of another's is
       dropped (:func:`_undominated`), and rows are merged again over what is left.

    The model is max Σ w_g z_g, z_g ≤ Σ_{j covers g} y_j, Σ y = k (existing + k when they may
    close), y binary, z ∈ [0, 1]; the matrix is assembled column-wise in numpy and passed to
    HiGHS once. The objective reported is the coverage of the sites chosen, in residents of
    the original problem; the bound adds the constant back.
    """
    if k > problem.n_candidates:
        raise SitingError(f"k = {k} is more than the {problem.n_candidates} candidate sites")
    if k < 0:
        raise SitingError("k must not be negative")
    w = problem.weights
    d, s = problem.demand[near], problem.site[near]
    reachable = np.unique(d)
    d, s = d[w[d] > 0], s[w[d] > 0]
    n_existing = problem.n_existing
    if allow_close:
        first_col, n_cols, const, total = 0, problem.n_sites, 0.0, n_existing + k
    else:
        by_existing = np.zeros(len(w), dtype=bool)
        by_existing[d[s < n_existing]] = True
        const = float(w[by_existing].sum())
        keep = ~by_existing[d] & (s >= n_existing)
        d, s = d[keep], s[keep] - n_existing
        first_col, n_cols, total = n_existing, problem.n_candidates, k
    rows, cols, gw = _merge_rows(d, s, w, n_cols)
    kept = np.arange(n_cols)
    if not allow_close and len(rows):
        mask = _undominated(rows, cols, n_cols, k)
        kept = np.flatnonzero(mask)
        position = np.full(n_cols, -1)
        position[kept] = np.arange(len(kept))
        on = mask[cols]
        rows, cols, gw = _merge_rows(rows[on], position[cols[on]], gw, len(kept))
    n_groups = len(gw)
    model = _Model(maximise=True)
    lower = np.zeros(len(kept))
    y = model.add_columns(np.zeros(len(kept)), lower, 1.0, integer=True)
    count = model.add_rows(total, total)
    model.add_entries(np.repeat(count, len(kept)), y, 1.0)
    z = model.add_columns(gw, 0.0, 1.0, integer=False)
    link = model.add_rows(np.full(n_groups, -np.inf), 0.0)
    model.add_entries(link, z, 1.0)
    model.add_entries(link[rows], y[cols], -1.0)
    values, status, _, _ = model.solve(time_limit)
    open_mask = np.zeros(problem.n_sites, dtype=bool)
    if not allow_close:
        open_mask[:n_existing] = True
    open_mask[first_col + kept[values[y] > 0.5]] = True
    assignment = _nearest_open(problem, open_mask, near)
    covered = float(w[assignment >= 0].sum())
    bound = max(const + float(model.bound), covered)
    gap = (bound - covered) / covered if covered > 0 else 0.0
    gap = 0.0 if bound - covered <= 1e-9 * max(covered, 1.0) else gap
    unreachable = np.setdiff1d(np.flatnonzero(w > 0), reachable)
    return _solution(problem, "mclp", open_mask.astype(float), covered, covered, assignment,
                     unreachable, gap, status, start, k=k, radius=radius, bound=bound,
                     demand_rows=n_groups, candidates_kept=len(kept))


def _assignment_rows(model: _Model, problem: SitingProblem, x: np.ndarray, d: np.ndarray,
                     s: np.ndarray, y: np.ndarray, *, upper: float, equal: bool = False,
                     extra: np.ndarray | None = None) -> None:
    """Rows tying assignment columns ``x`` (one per pair d, s) to demand, sites and capacity."""
    w = problem.weights
    demands = np.unique(d) if extra is None else np.arange(len(w))
    row_of = np.full(len(w), -1)
    row_of[demands] = model.add_rows(np.full(len(demands), upper if equal else -np.inf), upper)
    model.add_entries(row_of[d], x, 1.0)
    if extra is not None:
        model.add_entries(row_of, extra, 1.0)
    # x_ij ≤ y_j
    link = model.add_rows(np.full(len(x), -np.inf), 0.0)
    model.add_entries(link, x, 1.0)
    model.add_entries(link, y[s], -1.0)
    if problem.capacity is not None:
        cap_rows = model.add_rows(np.full(problem.n_sites, -np.inf), 0.0)
        model.add_entries(cap_rows[s], x, w[d])
        model.add_entries(cap_rows, y, -problem.capacity)


def solve_pmedian(problem: SitingProblem, *, k: int, allow_close: bool = False,
                  penalty_m: float | None = None, time_limit: float = 60.0) -> SitingSolution:
    """``k`` new sites minimising the residents' total walking distance to their site.

    Only the pairs within the cutoff the problem was built with exist; a demand point with no
    open site within it is left unassigned at ``penalty_m`` metres per resident (default twice
    the longest pair) and reported in ``unreachable``.
    """
    start = time.perf_counter()
    w = problem.weights
    d, s, m = problem.demand, problem.site, problem.distance_m
    penalty = penalty_m if penalty_m is not None else 2 * (m.max() if len(m) else 1.0)
    model = _Model()
    y = _site_columns(model, problem, allow_close=allow_close)
    _count_rows(model, problem, y, k, allow_close=allow_close)
    x = model.add_columns(w[d] * m, 0.0, 1.0, integer=problem.capacity is not None)
    u = model.add_columns(w * penalty, 0.0, 1.0, integer=False)  # unassigned share
    _assignment_rows(model, problem, x, d, s, y, upper=1.0, equal=True, extra=u)
    values, status, objective, gap = model.solve(time_limit)
    open_mask = values[y] > 0.5
    if problem.capacity is None:  # everyone walks to the nearest open site
        assignment = _nearest_open(problem, open_mask, np.ones(len(d), dtype=bool))
    else:  # single sourcing: the site the model chose
        assignment = np.full(len(w), -1)
        chosen = values[x] > 0.5
        assignment[d[chosen]] = s[chosen]
    unreachable = np.flatnonzero((assignment < 0) & (w > 0))
    walked = float((w[d] * m * values[x]).sum())
    return _solution(problem, "pmedian", values[y], float(objective),
                     float(w[assignment >= 0].sum()), assignment, unreachable, gap, status, start,
                     k=k, penalty_m=penalty, resident_metres=walked)
