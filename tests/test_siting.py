"""Siting models against brute force on tiny instances, and their rules (existing, capacity …)."""

from __future__ import annotations

from itertools import combinations, product

import numpy as np
import pytest

from gis.siting import SitingError, SitingProblem, solve_lscp, solve_mclp, solve_pmedian


def random_problem(seed, n_demand=12, n_existing=2, n_candidates=6, cutoff=900.0):
    rng = np.random.default_rng(seed)
    demand_xy = rng.uniform(0, 1500, (n_demand, 2))
    site_xy = rng.uniform(0, 1500, (n_existing + n_candidates, 2))
    dist = np.hypot(*(demand_xy[:, None, :] - site_xy[None, :, :]).transpose(2, 0, 1)) * 1.3
    d, s = np.nonzero(dist <= cutoff)
    weights = rng.integers(10, 300, n_demand).astype(float)
    return SitingProblem.from_pairs(weights=weights, n_existing=n_existing,
                                    n_candidates=n_candidates, pairs=(d, s, dist[d, s])), dist


def covered(problem, dist, open_sites, radius):
    reach = (dist[:, list(open_sites)] <= radius).any(axis=1) if open_sites else \
        np.zeros(len(problem.weights), bool)
    return problem.weights[reach].sum()


@pytest.mark.parametrize("seed", range(6))
def test_mclp_matches_brute_force(seed):
    problem, dist = random_problem(seed)
    existing = list(range(problem.n_existing))
    best = max(covered(problem, dist, existing + list(c), 500)
               for c in combinations(range(2, problem.n_sites), 2))
    sol = solve_mclp(problem, k=2, radius=500)
    assert sol.objective == pytest.approx(best)
    assert set(existing) <= set(sol.open_sites) and len(sol.new_sites) == 2
    assert sol.covered_weight == pytest.approx(covered(problem, dist, list(sol.open_sites), 500))
    assert sol.gap == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_lscp_matches_brute_force_and_reports_the_unreachable(seed):
    problem, dist = random_problem(seed)
    radius = 450
    existing = list(range(problem.n_existing))
    reachable = (dist <= radius).any(axis=1)
    need = covered(problem, dist, list(range(problem.n_sites)), radius)
    fewest = next(n for n in range(problem.n_candidates + 1)
                  if any(covered(problem, dist, existing + list(c), radius) == need
                         for c in combinations(range(2, problem.n_sites), n)))
    sol = solve_lscp(problem, radius=radius)
    assert sol.objective == fewest
    assert sol.covered_weight == pytest.approx(need)
    assert list(sol.unreachable) == list(np.flatnonzero(~reachable))


@pytest.mark.parametrize("seed", range(6))
def test_pmedian_matches_brute_force(seed):
    problem, dist = random_problem(seed, cutoff=1e9)  # every pair: a plain p-median
    existing = list(range(problem.n_existing))

    def cost(sites):
        return (problem.weights * dist[:, sites].min(axis=1)).sum()

    best = min(cost(existing + list(c)) for c in combinations(range(2, problem.n_sites), 2))
    sol = solve_pmedian(problem, k=2)
    assert sol.objective == pytest.approx(best, rel=1e-6)
    assert (sol.assignment == np.asarray(list(sol.open_sites))[
        dist[:, list(sol.open_sites)].argmin(axis=1)]).all()


def test_capacitated_pmedian_matches_brute_force():
    # 5 demand points, 3 sites (1 existing), k = 1, capacities force a split
    rng = np.random.default_rng(7)
    dist = rng.uniform(100, 800, (5, 3))
    weights = np.array([100.0, 80, 60, 120, 90])
    capacity = np.array([200.0, 250, 250])
    d, s = np.nonzero(np.ones_like(dist))
    problem = SitingProblem.from_pairs(weights=weights, n_existing=1, n_candidates=2,
                                       pairs=(d, s, dist[d, s]), capacity=capacity)
    best = np.inf
    for new in (1, 2):
        open_sites = [0, new]
        for assign in product(open_sites, repeat=5):
            load = np.bincount(assign, weights=weights, minlength=3)
            if (load <= capacity).all():
                best = min(best, sum(weights[i] * dist[i, j] for i, j in enumerate(assign)))
    sol = solve_pmedian(problem, k=1)
    assert sol.objective == pytest.approx(best)
    load = np.bincount(sol.assignment, weights=weights, minlength=3)
    assert (load <= capacity + 1e-6).all()


def test_capacitated_mclp_covers_no_more_than_capacity():
    # one candidate within reach of 300 residents but able to serve 200
    problem = SitingProblem.from_pairs(weights=[100, 100, 100], n_existing=0, n_candidates=2,
                                       pairs=([0, 1, 2, 2], [0, 0, 0, 1], [100, 100, 100, 400]),
                                       capacity=[200, 1000])
    assert solve_mclp(problem, k=1, radius=300).objective == pytest.approx(200)
    assert solve_mclp(problem, k=2, radius=500).objective == pytest.approx(300)


def test_existing_centres_count_and_may_be_relocated():
    # the existing centre (site 0) reaches demand 0 only; candidate 1 reaches demands 1 and 2
    problem = SitingProblem.from_pairs(weights=[50, 100, 100], n_existing=1, n_candidates=1,
                                       pairs=([0, 1, 2], [0, 1, 1], [100, 100, 100]))
    kept = solve_mclp(problem, k=0, radius=300)
    assert kept.objective == 50 and list(kept.open_sites) == [0]
    moved = solve_mclp(problem, k=0, radius=300, allow_close=True)
    assert moved.objective == 200 and list(moved.closed_sites) == [0]
    assert list(moved.new_sites) == [1]


# --- exact reductions of the MCLP ----------------------------------------------------------------

def redundant_problem(seed, n_spots=8, n_existing=1, n_candidates=9):
    """A cover matrix built to reduce: demand in twos with equal cover sets; candidate 1 a copy
    of candidate 0, candidate 3 a subset of candidate 2, candidate 5 covering nothing within
    the radius; the rest random. Returns the problem and the rows × sites distance matrix
    (inf: no pair)."""
    rng = np.random.default_rng(seed)
    n_sites = n_existing + n_candidates
    cover = rng.random((n_spots, n_sites)) < 0.3
    c = n_existing  # first candidate
    cover[:, c + 1] = cover[:, c]
    cover[:, c + 3] = cover[:, c + 2] & (rng.random(n_spots) < 0.6)
    cover[:, c + 5] = False
    cover = np.repeat(cover, 2, axis=0)  # two demand points per spot
    dist = np.where(cover, rng.uniform(50, 500, cover.shape), np.inf)
    # some pairs beyond the radius (the same for the copies, so they stay copies)
    far = ~cover & (rng.random(cover.shape) < 0.3)
    far[:, c + 1] = far[:, c]
    dist[far] = rng.uniform(600, 900, int(far.sum()))
    d, s = np.nonzero(np.isfinite(dist))
    weights = rng.integers(0, 200, len(cover)).astype(float)
    problem = SitingProblem.from_pairs(weights=weights, n_existing=n_existing,
                                       n_candidates=n_candidates, pairs=(d, s, dist[d, s]))
    return problem, dist


@pytest.mark.parametrize("seed", range(8))
def test_mclp_reductions_are_exact(seed):
    """Merged rows, existing cover as a constant, dominated candidates dropped: same optimum."""
    problem, dist = redundant_problem(seed)
    existing = list(range(problem.n_existing))
    candidates = range(problem.n_existing, problem.n_sites)
    for k in (1, 2, 4):
        best = max(covered(problem, dist, existing + list(c), 500)
                   for c in combinations(candidates, k))
        reduced = solve_mclp(problem, k=k, radius=500)
        plain = solve_mclp(problem, k=k, radius=500, reduce=False)
        assert reduced.objective == pytest.approx(best) == plain.objective
        assert reduced.covered_weight == pytest.approx(
            covered(problem, dist, list(reduced.open_sites), 500))
        assert set(existing) <= set(reduced.open_sites) and len(reduced.new_sites) == k
        assert reduced.gap == 0 and reduced.details["bound"] == pytest.approx(best)
        # the reductions did reduce: rows merged, copies and subsets dropped
        assert reduced.details["demand_rows"] < len(problem.weights)
        assert reduced.details["candidates_kept"] <= problem.n_candidates - 3
        # closing existing centres allowed: rows merged over every site, the same optimum
        moved = solve_mclp(problem, k=k, radius=500, allow_close=True)
        assert moved.objective == pytest.approx(
            solve_mclp(problem, k=k, radius=500, allow_close=True, reduce=False).objective)


def test_merging_rows_and_dropping_dominated_columns():
    from gis.siting import _merge_rows, _undominated

    # rows 0 and 2 have the same columns; row 3 has none
    rows, cols, weights = _merge_rows(np.array([0, 0, 1, 2, 2, 2]), np.array([1, 0, 2, 0, 1, 1]),
                                      np.array([5.0, 7, 11, 13]), 3)
    merged = sorted((tuple(sorted(cols[rows == g])), weights[g]) for g in range(len(weights)))
    assert merged == [((0, 1), 16.0), ((2,), 7.0)]
    # columns: {0, 1}, {0, 1} (a copy), {0} (a subset), {} (nothing), {2}
    rows = np.array([0, 1, 0, 1, 0, 2])
    cols = np.array([0, 0, 1, 1, 2, 4])
    assert list(np.flatnonzero(_undominated(rows, cols, 5, 1))) == [0, 4]
    # k = 3 needs three columns: the first dropped one comes back
    assert list(np.flatnonzero(_undominated(rows, cols, 5, 3))) == [0, 1, 4]


def test_clear_errors():
    problem, _ = random_problem(0)
    with pytest.raises(SitingError, match="k = 7 is more than the 6 candidate sites"):
        solve_mclp(problem, k=7, radius=500)
    with pytest.raises(SitingError, match="does not exist"):
        SitingProblem.from_pairs(weights=[1], n_existing=0, n_candidates=1,
                                 pairs=([0], [3], [10.0]))


# --- the same instance as spopt ----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("seed", range(3))
def test_same_objective_as_spopt(seed):
    """spopt's MCLP and PMedian (HiGHS through PuLP) on the same dense instance."""
    import pulp
    from spopt import locate
    problem, dist = random_problem(seed, n_demand=30, n_existing=1, n_candidates=10, cutoff=1e9)
    solver = pulp.HiGHS(msg=False)
    predefined = np.arange(problem.n_sites) < problem.n_existing
    mclp = locate.MCLP.from_cost_matrix(dist, problem.weights, service_radius=600,
                                        p_facilities=1 + 3, predefined_facilities_arr=predefined)
    mclp.solve(solver)
    ours = solve_mclp(problem, k=3, radius=600)
    spopt_covered = sum(problem.weights[i] for i in set().union(*map(set, mclp.fac2cli)))
    assert ours.objective == pytest.approx(spopt_covered)
    pmedian = locate.PMedian.from_cost_matrix(dist, problem.weights, p_facilities=1 + 3,
                                              predefined_facilities_arr=predefined)
    pmedian.solve(solver)
    assert solve_pmedian(problem, k=3).objective == pytest.approx(pulp.value(
        pmedian.problem.objective), rel=1e-6)


# --- on the demo --------------------------------------------------------------------------------

def test_walking_pairs_are_the_access_engines_distances(demo_conn):
    from gis.access import Centres
    from gis.access_store import load_model
    from gis.siting_data import walking_pairs

    model, _ = load_model(demo_conn, 4543)
    sites = model.network.xy[::40][:6] + 7.0  # a few points near the streets
    rows = np.arange(len(model.building_xy))
    d, s, m = walking_pairs(model, rows, sites, 800.0)
    for j in range(len(sites)):
        alone = model.evaluate(Centres([1], sites[j:j + 1], ["grid"], [300.0]))
        within = np.flatnonzero(alone.walk_m <= 800.0)
        assert sorted(d[s == j]) == list(within)
        assert m[s == j][np.argsort(d[s == j])] == pytest.approx(alone.walk_m[within])


def test_adopting_the_lscp_sites_closes_every_radius_gap(demo_conn):
    from gis.coverage import run_coverage
    from gis.siting_data import build_problem

    def beyond(**kwargs):
        report = run_coverage(demo_conn, **kwargs)
        return [g for g in report.gaps if g["kind"] == "beyond_service_radius"], report

    before, _ = beyond()
    assert before  # the demo plants residents beyond every radius
    data = build_problem(demo_conn, source="network", level="grid")
    sol = solve_lscp(data.problem, radius=data.radius_m)
    assert sol.covered_weight == data.problem.weights.sum() and len(sol.unreachable) == 0
    with demo_conn.cursor() as cur:  # "adopt": the sites become planned grid stations
        for j in sol.new_sites:
            cur.execute("INSERT INTO service_centers (name, level, status, geom) VALUES"
                        " (%s, 'grid', 'planned', ST_SetSRID(ST_Point(%s, %s), 4326))",
                        (f"新站{j}", float(data.sites["lon"].iat[j]),
                         float(data.sites["lat"].iat[j])))
    with_plan, report = beyond(planned=True)
    assert with_plan == [] and report.planned and report.to_json()["planned"] is True
    without, report = beyond()  # as things stand, the gaps are still there
    assert len(without) == len(before) and not report.planned


def test_cli_json_is_clean_and_k_is_checked(writable_demo_url):
    import json
    import subprocess
    import sys
    from pathlib import Path

    url = writable_demo_url("site_cli")
    gridmap = str(Path(sys.executable).with_name("gridmap"))
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([gridmap, "site", "--model", "mclp", "--k", "2", "--json"],
                         capture_output=True, text=True, env=env, check=True).stdout
    doc = json.loads(out)  # nothing but the JSON on stdout (HiGHS prints a banner)
    assert doc["new_sites"] == 2 and doc["covered_after"] > doc["covered_before"]
    assert doc["gap"] == 0
    bad = subprocess.run([gridmap, "site", "--model", "mclp", "--k", "100000", "--source",
                          "public"], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "more than the" in bad.stderr
