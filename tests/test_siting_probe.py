"""MCLP probing: a candidate is closed only when no solution covering the target opens it.

Brute force over every k-subset of a small instance is the reference.
"""

from __future__ import annotations

import os
import threading
import time
from itertools import combinations

import highspy
import numpy as np
import pytest
from scipy.sparse import csc_matrix
from test_siting_scale import clustered_problem, random_problem

import gis.siting_probe as probe
from gis.siting_probe import CoverLP, forced_bounds, merge_rows, probe_cover


def cover_matrix(problem, radius):
    """The 0/1 demand × candidate cover matrix of ``problem`` (no existing centres)."""
    near = problem.within(radius)
    a = np.zeros((len(problem.weights), problem.n_sites), dtype=bool)
    a[problem.demand[near], problem.site[near]] = True
    return a


def best_with(a, w, k, j, live):
    """Brute force: the most weight k live columns including j can cover."""
    others = [c for c in np.flatnonzero(live) if c != j]
    return max((w[a[:, [j, *c]].any(axis=1)].sum() for c in combinations(others, k - 1)),
               default=-np.inf)


@pytest.mark.parametrize("seed", range(4))
def test_forced_bounds_hold_for_any_multipliers_and_live_set(seed):
    """Bound with a column forced open ≥ the best solution opening it, for any λ in range."""
    rng = np.random.default_rng(seed)
    problem, _ = random_problem(seed, n_demand=16, n_existing=0, n_candidates=8,
                                integral=False)
    a = cover_matrix(problem, 500)
    w, k = problem.weights, 3
    matrix = csc_matrix(a.astype(float))
    for trial in range(20):
        live = rng.random(8) < 0.8
        live[rng.integers(8)] = True
        lam = w * rng.random(len(w)) * (trial > 0)  # the first: λ = 0
        ids = np.flatnonzero(live)
        bounds = forced_bounds(matrix, w, lam, k, ids, live)
        for j, bound in zip(ids, bounds, strict=True):
            assert bound >= best_with(a, w, k, j, live) - 1e-9


def test_merging_rows_keeps_the_relaxation_and_drops_empty_rows():
    a = np.array([[1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=float)
    w = np.array([3.0, 4.0, 5.0, 6.0, 7.0])
    merged, weights = merge_rows(csc_matrix(a), w, np.array([0, 1]))
    # on columns 0 and 1: rows 0 and 1 are {0}, rows 2 and 4 are {1}, row 3 is empty
    assert sorted(zip(map(tuple, merged.toarray().astype(int)), weights, strict=True)) == \
        [((0, 1), 12.0), ((1, 0), 7.0)]
    full, full_w = merge_rows(csc_matrix(a), w, np.arange(3))
    assert full.shape == (3, 3) and full_w.sum() == w.sum()
    deadline = time.perf_counter() + 30
    assert CoverLP(full, full_w, 1, deadline).value == pytest.approx(
        CoverLP(csc_matrix(a), w, 1, deadline).value)
    # one site: the best is column 2 (3 + 4 + 6 = 13); the LP may split
    assert CoverLP(full, full_w, 1, deadline).value >= 13 - 1e-9


@pytest.mark.parametrize("rebuild", [probe.REBUILD_SHARE, 0.0])
@pytest.mark.parametrize("seed", range(4))
def test_probing_closes_only_candidates_no_better_solution_opens(seed, rebuild, monkeypatch):
    """Whatever the threshold, and whether the LP is rebuilt after every closing or seldom."""
    monkeypatch.setattr(probe, "REBUILD_SHARE", rebuild)
    problem, _ = random_problem(seed, n_demand=60, n_existing=0, n_candidates=14, side=2500)
    a = cover_matrix(problem, 600)
    w, k = problem.weights, 3
    values = {c: w[a[:, list(c)].any(axis=1)].sum() for c in combinations(range(14), k)}
    optimum = max(values.values())
    matrix = csc_matrix(a.astype(float))
    for threshold in (optimum + 0.5, optimum - 1, sorted(values.values())[-20]):
        closed, info = probe_cover(matrix, w, k, threshold, time.perf_counter() + 30)
        for j in np.flatnonzero(closed):
            assert best_with(a, w, k, j, np.ones(14, bool)) < threshold
        if threshold > optimum:  # nothing covers the threshold: every candidate is closed
            assert closed.all()
            assert info["probe_closed"] == 14
        else:  # the optimum's sites are never closed
            best = max(values, key=values.get)
            assert not closed[list(best)].any()


def test_probing_with_fewer_candidates_than_sites_closes_nothing():
    a = csc_matrix(np.eye(3))
    closed, info = probe_cover(a, np.ones(3), 3, 3.5, time.perf_counter() + 10)
    assert not closed.any() and info["probes"] == 0


def test_threads_building_lps_at_once_leave_stdout_where_it_was():
    """HiGHS's banner is kept off stdout by swapping file descriptor 1; threads take turns."""
    before = os.fstat(1)
    a, w = csc_matrix(np.eye(4)), np.arange(1.0, 5.0)

    def build():
        for _ in range(40):
            CoverLP(a, w, 2, time.perf_counter() + 10)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = os.fstat(1)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_re_solves_get_the_time_left_not_less():
    """HiGHS's time limit counts every solve of a model: each re-solve is given the time left
    on top of what the model has used, so later re-solves are not cut short (they were, once
    HiGHS's own solving time passed the time left)."""
    problem = clustered_problem(0, 3000, 500, side=8000)
    near = problem.within(500)
    a = csc_matrix((np.ones(int(near.sum())), (problem.demand[near], problem.site[near])),
                   shape=(len(problem.weights), problem.n_sites))
    a, w = merge_rows(a, problem.weights, np.arange(problem.n_sites))
    lp = CoverLP(a, w, 20, time.perf_counter() + 30)
    deadline = time.perf_counter() + 2.0
    statuses = []
    while time.perf_counter() < deadline - 0.5:  # a re-solve takes milliseconds
        for j in np.argsort(-lp.x)[:50]:
            lp.forced(int(j), -np.inf, deadline)  # no early stop: solved to the end
            statuses.append(lp.status)
    assert len(statuses) >= 50
    assert set(statuses) == {highspy.HighsModelStatus.kOptimal}
