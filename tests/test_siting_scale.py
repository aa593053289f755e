"""City-scale siting: aggregation is exact, heuristics reach the optimum or say how far they may be.

Brute force and the exact MIPs of gis.siting are the references; every bound must be valid
(MCLP: at least the optimum; p-median: at most) and the gap must be what the bound says.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

import gis.siting_scale as scale
from gis.siting import SitingError, SitingProblem, solve_lscp, solve_mclp, solve_pmedian
from gis.siting_scale import aggregate, mclp_large, pmedian_large, solve


def random_problem(seed, n_demand=14, n_existing=1, n_candidates=7, cutoff=900.0, side=1500.0,
                   integral=True, site_radius=False):
    rng = np.random.default_rng(seed)
    # demand in pairs 15 m apart, so that points share coverage sets
    clumps = rng.uniform(0, side, ((n_demand + 1) // 2, 2))
    demand_xy = np.repeat(clumps, 2, axis=0)[:n_demand] + rng.normal(0, 15, (n_demand, 2))
    site_xy = rng.uniform(0, side, (n_existing + n_candidates, 2))
    dist = np.hypot(*(demand_xy[:, None, :] - site_xy[None, :, :]).transpose(2, 0, 1)) * 1.3
    d, s = np.nonzero(dist <= cutoff)
    weights = (rng.integers(0, 300, n_demand).astype(float) if integral
               else rng.uniform(0, 300, n_demand))
    own = None
    if site_radius:
        own = np.full(n_existing + n_candidates, np.nan)
        own[:n_existing] = 300.0
    problem = SitingProblem.from_pairs(weights=weights, n_existing=n_existing,
                                       n_candidates=n_candidates, pairs=(d, s, dist[d, s]),
                                       site_radius_m=own)
    dist[dist > cutoff] = np.inf
    return problem, dist


def covered(problem, dist, open_sites, radius):
    limit = np.full(problem.n_sites, float(radius))
    if problem.site_radius_m is not None:
        limit = np.where(np.isnan(problem.site_radius_m), radius, problem.site_radius_m)
    sites = list(open_sites)
    return problem.weights[(dist[:, sites] <= limit[sites]).any(axis=1)].sum() if sites else 0.0


def walked(problem, dist, open_sites, penalty):
    return (problem.weights * np.minimum(dist[:, list(open_sites)].min(axis=1), penalty)).sum()


# --- aggregation -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_aggregation_is_exact_for_mclp_and_lscp(seed):
    problem, dist = random_problem(seed, n_demand=40, n_candidates=8, site_radius=seed % 2 == 1)
    reduced, group = aggregate(problem, radius=500)
    assert len(reduced.weights) < len(problem.weights)
    # members of a group are covered by exactly the same sites; the rest by none, or weigh 0
    limit = np.where(np.isnan(problem.site_radius_m), 500, problem.site_radius_m) \
        if problem.site_radius_m is not None else np.full(problem.n_sites, 500.0)
    cover = dist <= limit[None, :]
    for g in range(len(reduced.weights)):
        members = np.flatnonzero(group == g)
        assert (cover[members] == cover[members[0]]).all()
        assert reduced.weights[g] == pytest.approx(problem.weights[members].sum())
        assert not (cover[group != g] == cover[members[0]]).all(axis=1)[
            problem.weights[group != g] > 0].any()
    dropped = group < 0
    assert ((problem.weights[dropped] == 0) | ~cover[dropped].any(axis=1)).all()
    for k in (1, 3):
        assert solve_mclp(reduced, k=k, radius=500).objective == pytest.approx(
            solve_mclp(problem, k=k, radius=500).objective)
    assert solve_lscp(reduced, radius=500).objective == solve_lscp(problem, radius=500).objective


def test_grouping_stays_exact_when_hashes_collide(monkeypatch):
    # every column hashes to 0: all rows of equal length collide, and must still be told apart
    class Zeros:
        def integers(self, low, high, n, dtype=None):
            return np.zeros(n, dtype=dtype)

    monkeypatch.setattr(scale.np.random, "default_rng", lambda *_: Zeros())
    rows = [[0, 1], [1, 2], [0, 1], [2, 3], [], [1, 2], [0]]
    ptr = np.cumsum([0] + [len(r) for r in rows])
    index = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
    group = scale._group_rows(ptr, index, 4)
    for a in range(len(rows)):
        for b in range(len(rows)):
            if rows[a] and rows[b]:
                assert (group[a] == group[b]) == (rows[a] == rows[b])
    assert group[4] == -1


# --- MCLP --------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_mclp_large_reaches_the_brute_force_optimum(seed):
    problem, dist = random_problem(seed, integral=seed % 2 == 0, site_radius=seed % 3 == 0)
    existing = list(range(problem.n_existing))
    for k in (1, 3):
        best = max(covered(problem, dist, existing + list(c), 500)
                   for c in combinations(range(problem.n_existing, problem.n_sites), k))
        sol = mclp_large(problem, k=k, radius=500)
        assert sol.objective == pytest.approx(best)
        assert sol.gap == pytest.approx(0, abs=1e-6) and sol.status == "Optimal"
        assert set(existing) <= set(sol.open_sites) and len(sol.new_sites) == k
        assert sol.covered_weight == pytest.approx(covered(problem, dist, sol.open_sites, 500))
        # everyone covered is assigned to an open site that covers them
        at = np.flatnonzero(sol.assignment >= 0)
        assert set(sol.assignment[at]) <= set(sol.open_sites)
        assert problem.weights[at].sum() == pytest.approx(sol.covered_weight)


@pytest.mark.parametrize("seed", range(4))
def test_mclp_bound_is_valid_and_the_gap_is_what_it_says(seed):
    # larger, and without the exact core: the heuristic and the Lagrangian bound alone
    problem, _ = random_problem(seed, n_demand=400, n_existing=3, n_candidates=60, side=4000,
                                integral=seed % 2 == 0)
    for k in (2, 6):
        optimum = solve_mclp(problem, k=k, radius=600).objective
        # no time: the bound of the starting multipliers; no core: heuristic and dual alone
        hurried = mclp_large(problem, k=k, radius=600, time_limit=0)
        assert hurried.gap > 0.01 and hurried.status == "TimeLimit"
        for sol in (hurried, mclp_large(problem, k=k, radius=600, exact_core=False)):
            bound = sol.details["bound"]
            assert sol.objective <= optimum + 1e-6 <= bound + 2e-6
            assert sol.gap == pytest.approx((bound - sol.objective) / sol.objective, abs=1e-9)
        with_core = mclp_large(problem, k=k, radius=600)
        assert with_core.objective == pytest.approx(optimum)
        assert with_core.details["bound"] >= optimum - 1e-6


def clustered_problem(seed, n_demand, n_candidates, side=4000.0, cutoff=600.0):
    """Demand in 8 clusters, half the candidates near demand: a fractional LP relaxation."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0, side, (8, 2))
    xy = centre[rng.integers(0, 8, n_demand)] + rng.normal(0, 300, (n_demand, 2))
    half = n_candidates // 2
    site_xy = np.vstack([xy[rng.choice(n_demand, half, replace=False)]
                         + rng.normal(0, 50, (half, 2)),
                         rng.uniform(0, side, (n_candidates - half, 2))])
    dist = np.hypot(*(xy[:, None, :] - site_xy[None, :, :]).transpose(2, 0, 1)) * 1.3
    d, s = np.nonzero(dist <= cutoff)
    weights = np.maximum(np.round(rng.lognormal(3.0, 0.8, n_demand)), 1.0)
    return SitingProblem.from_pairs(weights=weights, n_existing=0, n_candidates=n_candidates,
                                    pairs=(d, s, dist[d, s]))


@pytest.mark.parametrize(("seed", "n_demand", "n_candidates", "k"),
                         [(0, 1200, 200, 12), (1, 800, 160, 10), (5, 1200, 200, 12)])
def test_mclp_large_probes_and_proves_the_optimum(seed, n_demand, n_candidates, k):
    """Where the relaxation is fractional and there are too many candidates for one MIP:
    local search, probing and the core reach the exact MIP's optimum and prove it."""
    problem = clustered_problem(seed, n_demand, n_candidates, side=5000)
    sol = mclp_large(problem, k=k, radius=500)
    exact = solve_mclp(problem, k=k, radius=500, reduce=False)
    assert sol.objective == pytest.approx(exact.objective, rel=1e-9)
    assert sol.status == "Optimal" and sol.gap == 0
    assert sol.details["ils"] > 0 and sol.details["probe_closed"] > 0
    assert sol.details["bound"] == pytest.approx(sol.objective, rel=1e-9)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_mclp_large_same_objective_as_spopt():
    """spopt's MCLP (HiGHS through PuLP) on the same instance, as the benchmark compares."""
    import pulp
    from spopt import locate

    problem, dist = random_problem(5, n_demand=500, n_existing=0, n_candidates=60, side=5000)
    dist = np.where(np.isfinite(dist), dist, 1e9)
    peer = locate.MCLP.from_cost_matrix(dist, problem.weights, service_radius=700,
                                        p_facilities=6)
    peer.solve(pulp.HiGHS(msg=False, gapRel=1e-9))
    ours = mclp_large(problem, k=6, radius=700)
    assert ours.objective == pytest.approx(pulp.value(peer.problem.objective), rel=1e-9)
    assert ours.status == "Optimal"


def test_existing_centres_stay_open_and_are_counted_first():
    # existing site 0 covers demand 0 and 1; candidate 1 covers 0, 1 (the most weight) but adds
    # nothing new; candidate 2 covers demand 2
    problem = SitingProblem.from_pairs(weights=[100, 100, 30], n_existing=1, n_candidates=2,
                                       pairs=([0, 1, 0, 1, 2], [0, 0, 1, 1, 2], [100.0] * 5))
    sol = mclp_large(problem, k=1, radius=200)
    assert list(sol.open_sites) == [0, 2] and sol.objective == 230
    assert sol.details["covered_by_existing"] == 200
    med = pmedian_large(problem, k=1, penalty_m=1000)
    assert 0 in med.open_sites and list(med.new_sites) == [2]


# --- p-median ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_pmedian_large_reaches_the_brute_force_optimum(seed):
    problem, dist = random_problem(seed, integral=seed % 2 == 0)
    penalty = 2 * problem.distance_m.max()
    existing = list(range(problem.n_existing))
    for k in (1, 3):
        best = min(walked(problem, dist, existing + list(c), penalty)
                   for c in combinations(range(problem.n_existing, problem.n_sites), k))
        sol = pmedian_large(problem, k=k)
        assert sol.objective == pytest.approx(best, rel=1e-9)
        assert sol.gap == pytest.approx(0, abs=1e-6)
        assert set(existing) <= set(sol.open_sites) and len(sol.new_sites) == k
        # each demand point walks to its nearest open site, or is unassigned beyond reach
        sites = np.asarray(list(sol.open_sites))
        near = dist[:, sites].min(axis=1)
        at = sol.assignment >= 0
        assert (at == (near < penalty)).all()
        assert dist[np.flatnonzero(at), sol.assignment[at]] == pytest.approx(near[at])


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_bound_is_valid_and_the_gap_is_what_it_says(seed):
    problem, _ = random_problem(seed, n_demand=300, n_existing=2, n_candidates=40, side=3500,
                                integral=seed % 2 == 0)
    for k in (2, 5):
        optimum = solve_pmedian(problem, k=k).objective
        hurried = pmedian_large(problem, k=k, time_limit=0)
        assert hurried.gap > 0.01 and hurried.status == "TimeLimit"
        for sol in (hurried, pmedian_large(problem, k=k, exact_core=False)):
            bound = sol.details["bound"]
            assert bound <= optimum * (1 + 1e-9) and sol.objective >= optimum * (1 - 1e-9)
            assert sol.gap == pytest.approx((sol.objective - bound) / sol.objective, abs=1e-9)
        assert pmedian_large(problem, k=k).objective == pytest.approx(optimum, rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_lagrangian_bounds_hold_for_any_multipliers(seed):
    """The relaxations themselves: every multiplier vector in range gives a valid bound."""
    rng = np.random.default_rng(seed)
    problem, dist = random_problem(seed, n_demand=12, n_existing=0, n_candidates=7,
                                   integral=False)
    k, radius, penalty = 2, 500, 2 * problem.distance_m.max()
    cover_best = max(covered(problem, dist, c, radius) for c in combinations(range(7), k))
    walk_best = min(walked(problem, dist, c, penalty) for c in combinations(range(7), k))
    near = problem.within(radius)
    w = problem.weights
    cover = scale._Pairs.build(problem.demand[near], problem.site[near],
                               np.zeros(int(near.sum())), len(w), 7)
    costs = w[problem.demand] * problem.distance_m
    pairs = scale._Pairs.build(problem.demand, problem.site, costs, len(w), 7)
    cover_dual = scale._CoverDual(cover, w, k)
    median_dual = scale._MedianDual(pairs, w * penalty, k)
    for _ in range(50):
        assert cover_dual.exact(w * rng.random(len(w)))[0] >= cover_best - 1e-9
        u = median_dual.lower + rng.random(len(w)) * (median_dual.upper - median_dual.lower)
        assert median_dual.exact(u)[0] <= walk_best + 1e-6


# --- the dispatcher ------------------------------------------------------------------------------

def test_dispatcher_chooses_by_size_and_agrees_with_the_exact_models():
    problem, _ = random_problem(3, n_demand=200, n_existing=2, n_candidates=30, side=3000)
    small = solve(problem, "mclp", k=3, radius=500)
    large = solve(problem, "mclp", k=3, radius=500, exact_max_pairs=0)
    assert small.details["method"] == "exact" and large.details["method"] == "large"
    assert small.objective == pytest.approx(large.objective)
    lscp = solve(problem, "lscp", radius=500, exact_max_pairs=0)
    exact = solve_lscp(problem, radius=500)
    assert lscp.details["method"] == "aggregated"
    assert lscp.objective == exact.objective and lscp.covered_weight == exact.covered_weight
    assert list(lscp.unreachable) == list(exact.unreachable)
    assert (lscp.assignment >= 0).sum() == (exact.assignment >= 0).sum()
    med = solve(problem, "pmedian", k=3, exact_max_pairs=0)
    assert med.details["method"] == "large"
    assert med.objective == pytest.approx(solve_pmedian(problem, k=3).objective, rel=1e-9)
    # closing existing centres or capacities: the exact models (on aggregated demand for MCLP)
    moved = solve(problem, "mclp", k=3, radius=500, allow_close=True, exact_max_pairs=0)
    assert moved.details["method"] == "aggregated"
    assert moved.objective == pytest.approx(
        solve_mclp(problem, k=3, radius=500, allow_close=True).objective)


def test_clear_errors():
    problem, _ = random_problem(0)
    with pytest.raises(SitingError, match="k = 8 is more than the 7 candidate sites"):
        mclp_large(problem, k=8, radius=500)
    with pytest.raises(SitingError, match="unknown model"):
        solve(problem, "pcenter", k=1)
    with pytest.raises(SitingError, match="needs k"):
        solve(problem, "mclp", radius=500)
    capacitated = SitingProblem.from_pairs(weights=[1], n_existing=0, n_candidates=1,
                                           pairs=([0], [0], [10.0]), capacity=[5])
    with pytest.raises(SitingError, match="capacitated"):
        pmedian_large(capacitated, k=1)


# --- on the demo --------------------------------------------------------------------------------

def test_large_methods_on_the_demo_walks_agree_with_the_exact_models(demo_conn):
    import json

    from gis.siting_data import build_problem, describe

    data = build_problem(demo_conn, source="network", level="grid", cutoff_m=600)
    p = data.problem
    for model, exact in (("mclp", solve_mclp(p, k=3, radius=data.radius_m)),
                         ("pmedian", solve_pmedian(p, k=3))):
        sol = solve(p, model, k=3, radius=data.radius_m, exact_max_pairs=0)
        assert sol.details["method"] == "large"
        assert sol.objective == pytest.approx(exact.objective, rel=1e-9)
        assert set(range(p.n_existing)) <= set(sol.open_sites)
        doc = json.loads(json.dumps(describe(data, sol)))  # what `gridmap site --json` prints
        assert doc["new_sites"] == 3 and doc["method"] == "large" and doc["gap"] < 1e-6
