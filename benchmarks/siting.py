"""Benchmark: MCLP and p-median for a city — 100,000 demand points, 5,000 candidates, walks ≤ 1 km.

The city is the access benchmark's street grid (100 m blocks, 5 % of the street segments removed
so walks detour), 101 × 101 junctions = 10 km × 10 km. Demand: 100,000 buildings, 80 % in 40
clusters (σ 200–900 m) and 20 % scattered, weighted by residents (log-normal, mean ≈ 37).
Candidates: 5,000 points, 60 % next to buildings and 40 % anywhere. Pairs: real walking
distances within 1,000 m (``gis.siting_data.walking_pairs``), about 12 million.

Timed in one run, on the same instance:

- ours at full size: ``gis.siting_scale.mclp_large`` (k = 30, radius 1,000 m) and
  ``pmedian_large`` (k = 30, cutoff 1,000 m, unassigned residents count 2,000 m), each with a
  60 s time limit, reporting the proven gap;
- spopt ``MCLP.from_cost_matrix`` / ``PMedian.from_cost_matrix`` with ``pulp.HiGHS`` (the same
  solver, the same relative gap 1e-6, a time cap), on random subsets of growing size
  (demand × candidates), until spopt no longer proves its optimum within the cap; ours on the
  same subsets (the city-scale method, and the exact MIP of ``gis.siting`` after its exact
  reductions). The objectives must agree, and both must be proven optimal for a ratio.

Both sides are timed end to end from the same arrays: spopt from building its dense cost
matrix and PuLP model (``from_cost_matrix``) to the end of the solve; ours from the
``SitingProblem`` (aggregation, the heuristics, the bounds, every HiGHS model built and
solved) to the solution.

spopt takes a dense demand × candidate cost matrix: pairs beyond the cutoff are given 10⁹ m for
MCLP (never covered) and the 2,000 m penalty for p-median (so "assigned to a site beyond the
cutoff" costs what "unassigned" costs in ours).

Usage::

    .venv/bin/python benchmarks/siting.py                  # the full size
    .venv/bin/python benchmarks/siting.py --models mclp
    .venv/bin/python benchmarks/siting.py --demand 20000 --candidates 1000 --sizes 1000x100
    .venv/bin/python benchmarks/siting.py --models mclp --sizes 10000x1000 --cap 1800 \\
        --subset-limit 600                                 # the largest both prove
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from access import city as street_grid

from gis.access import AccessModel
from gis.siting import SitingProblem, solve_mclp, solve_pmedian
from gis.siting_data import walking_pairs
from gis.siting_scale import mclp_large, pmedian_large

CUTOFF_M = 1000.0
PENALTY_M = 2000.0
K = 30


def instance(n_demand: int, n_candidates: int, seed: int):
    """Demand, candidates and walking pairs on a 10 km × 10 km street grid."""
    rng = np.random.default_rng(seed)
    net, _, _ = street_grid(101, 0, 0, seed)
    extent = 100 * 100.0
    n_clusters = 40
    centre = rng.uniform(0.05 * extent, 0.95 * extent, (n_clusters, 2))
    sigma = rng.uniform(200, 900, n_clusters)
    share = rng.dirichlet(np.full(n_clusters, 2.0))
    n_clustered = int(0.8 * n_demand)
    which = rng.choice(n_clusters, n_clustered, p=share)
    xy = centre[which] + rng.normal(0, 1, (n_clustered, 2)) * sigma[which, None]
    xy = np.vstack([xy, rng.uniform(0, extent, (n_demand - n_clustered, 2))]).clip(0, extent)
    residents = np.maximum(np.round(rng.lognormal(3.3, 0.8, n_demand)), 1.0)
    near_buildings = int(0.6 * n_candidates)
    sites = np.vstack([xy[rng.choice(n_demand, near_buildings, replace=False)]
                       + rng.normal(0, 30, (near_buildings, 2)),
                       rng.uniform(0, extent, (n_candidates - near_buildings, 2))]).clip(0, extent)
    model = AccessModel.build(net, xy)
    d, s, m = walking_pairs(model, np.arange(n_demand), sites, CUTOFF_M, chunk=64)
    return SitingProblem.from_pairs(weights=residents, n_existing=0, n_candidates=n_candidates,
                                    pairs=(d, s, m))


def subset(problem: SitingProblem, n_demand: int, n_candidates: int, seed: int):
    """Random demand points and candidates of ``problem``, with their pairs."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(problem.weights), n_demand, replace=False))
    cols = np.sort(rng.choice(problem.n_candidates, n_candidates, replace=False))
    row_of = np.full(len(problem.weights), -1)
    row_of[rows] = np.arange(n_demand)
    col_of = np.full(problem.n_sites, -1)
    col_of[cols] = np.arange(n_candidates)
    keep = (row_of[problem.demand] >= 0) & (col_of[problem.site] >= 0)
    return SitingProblem.from_pairs(
        weights=problem.weights[rows], n_existing=0, n_candidates=n_candidates,
        pairs=(row_of[problem.demand[keep]], col_of[problem.site[keep]],
               problem.distance_m[keep]))


def dense(problem: SitingProblem, missing: float) -> np.ndarray:
    cost = np.full((len(problem.weights), problem.n_sites), missing)
    cost[problem.demand, problem.site] = problem.distance_m
    return cost


def spopt_run(model: str, problem: SitingProblem, cap: float) -> dict:
    """spopt on the dense matrix; time of building the PuLP model plus solving."""
    import pulp
    from spopt import locate

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model == "mclp":
            peer = locate.MCLP.from_cost_matrix(dense(problem, 1e9), problem.weights,
                                                service_radius=CUTOFF_M, p_facilities=K)
        else:
            peer = locate.PMedian.from_cost_matrix(dense(problem, PENALTY_M), problem.weights,
                                                   p_facilities=K)
        built = time.perf_counter()
        try:
            peer.solve(pulp.HiGHS(msg=False, timeLimit=cap, gapRel=1e-6), results=False)
        except RuntimeError:  # spopt's own check: no solution it accepts
            pass
    done = time.perf_counter()
    highs = peer.problem.solverModel
    status = highs.getModelStatus().name.removeprefix("k")
    info = highs.getInfo()
    found = info.primal_solution_status == 2
    return {"seconds": done - t0, "build": built - t0,
            "objective": pulp.value(peer.problem.objective) if found else float("nan"),
            "status": status if found else f"{status}, no solution",
            "gap": float(info.mip_gap) if found else float("inf")}


def ours_run(model: str, problem: SitingProblem, time_limit: float) -> dict:
    t0 = time.perf_counter()
    if model == "mclp":
        sol = mclp_large(problem, k=K, radius=CUTOFF_M, time_limit=time_limit)
    else:
        sol = pmedian_large(problem, k=K, penalty_m=PENALTY_M, time_limit=time_limit)
    return {"seconds": time.perf_counter() - t0, "objective": sol.objective, "gap": sol.gap,
            "bound": sol.details["bound"], "status": sol.status, "solution": sol}


def exact_run(model: str, problem: SitingProblem, time_limit: float) -> dict:
    """The exact MIP of gis.siting (for MCLP after its exact reductions)."""
    t0 = time.perf_counter()
    if model == "mclp":
        sol = solve_mclp(problem, k=K, radius=CUTOFF_M, time_limit=time_limit)
    else:
        sol = solve_pmedian(problem, k=K, penalty_m=PENALTY_M, time_limit=time_limit)
    return {"seconds": time.perf_counter() - t0, "objective": sol.objective, "gap": sol.gap,
            "status": sol.status}


def phases_of(sol) -> str:
    """Seconds of each phase of a city-scale solve, and what probing did (MCLP)."""
    out = ", ".join(f"{k.removeprefix('seconds_')} {v:.2f}"
                    for k, v in sol.details.items() if k.startswith("seconds_"))
    if sol.details.get("probes"):
        out += (f"; {sol.details['probes']} LP probes closed"
                f" {sol.details['probe_closed']} candidates")
    return out


def fmt(x: float) -> str:
    return f"{x:,.0f}"


def main() -> None:
    """Build the city, run ours at full size and against spopt on subsets, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demand", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=5_000)
    parser.add_argument("--sizes", default="1000x100,2000x200,5000x500,7000x700,10000x1000",
                        help="subsets for spopt, demand x candidates, grown until spopt fails")
    parser.add_argument("--cap", type=float, default=300.0, help="spopt's time cap, seconds")
    parser.add_argument("--max-dense", type=float, default=2.5e6,
                        help="p-median: largest demand × candidates given to spopt (its PuLP"
                             " model has one variable per cell: 6.4 GB at 5,000 × 500)")
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="ours at full size, seconds")
    parser.add_argument("--subset-limit", type=float, default=None,
                        help="ours on the subsets, seconds (default: --time-limit)")
    parser.add_argument("--exact-limit", type=float, default=60.0,
                        help="the exact sparse MIP of gis.siting on the subsets, seconds")
    parser.add_argument("--models", default="mclp,pmedian")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    models = args.models.split(",")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]

    t0 = time.perf_counter()
    problem = instance(args.demand, args.candidates, args.seed)
    print(f"instance: {len(problem.weights):,} demand points ({fmt(problem.weights.sum())}"
          f" residents), {problem.n_candidates:,} candidates, {len(problem.demand):,} walking"
          f" pairs ≤ {CUTOFF_M:.0f} m (built in {time.perf_counter() - t0:.1f} s)", flush=True)

    rows = []
    for model in models:
        full = ours_run(model, problem, args.time_limit)
        sol = full["solution"]
        phases = phases_of(sol)
        print(f"{model} full size, ours: {full['seconds']:.1f} s, objective"
              f" {fmt(full['objective'])}, proven bound {fmt(full['bound'])}, gap"
              f" {full['gap']:.2%} ({full['status']}); greedy {fmt(sol.details['greedy'])},"
              f" {sol.details['swaps']} swaps, {sol.details['evaluations']} dual evaluations;"
              f" {phases}", flush=True)
        rows.append((model, f"{len(problem.weights):,} × {problem.n_candidates:,}",
                     len(problem.demand), full, None, None))
        for n_demand, n_candidates in sizes:
            if model == "pmedian" and n_demand * n_candidates > args.max_dense:
                print(f"{model} {n_demand} × {n_candidates}: spopt not attempted"
                      f" (more than --max-dense {args.max_dense:,.0f} cells)", flush=True)
                break
            sub = subset(problem, n_demand, n_candidates, args.seed)
            ours = ours_run(model, sub, args.subset_limit or args.time_limit)
            exact = exact_run(model, sub, args.exact_limit)
            peer = spopt_run(model, sub, args.cap)
            rows.append((model, f"{n_demand:,} × {n_candidates:,}", len(sub.demand), ours,
                         exact, peer))
            solved = peer["status"] == "Optimal"
            print(f"{model} {n_demand} × {n_candidates}: ours {ours['seconds']:.2f} s"
                  f" ({fmt(ours['objective'])}, gap {ours['gap']:.1e}, {ours['status']};"
                  f" {phases_of(ours['solution'])}), exact MIP"
                  f" {exact['seconds']:.2f} s ({fmt(exact['objective'])}), spopt"
                  f" {peer['seconds']:.1f} s ({fmt(peer['objective'])}, {peer['status']},"
                  f" build {peer['build']:.1f} s)", flush=True)
            if not solved:
                break

    print()
    print("| model | demand × candidates | pairs | ours s | ours objective | proven gap |"
          " exact MIP s | spopt s (build + solve) | spopt objective | spopt status |"
          " same objective | spopt / ours |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
    largest = {}
    for model, size, pairs, ours, exact, peer in rows:
        if peer is None:
            print(f"| {model} | {size} | {pairs:,} | **{ours['seconds']:.1f}** |"
                  f" {fmt(ours['objective'])} | {ours['gap']:.2%} | — | not attempted"
                  f" (dense matrix) | — | — | — | — |")
            continue
        solved = peer["status"] == "Optimal"
        proven = ours["status"] == "Optimal"
        ratio = peer["seconds"] / ours["seconds"]
        if solved and proven:
            tolerance = max(ours["gap"], peer["gap"], 1e-6)
            same = abs(ours["objective"] - peer["objective"]) <= tolerance * abs(
                peer["objective"])
            largest[model] = (size, ratio, same)
            verdict, speed = ("yes" if same else "NO"), f"{ratio:.0f}×"
        elif solved:  # ours stopped at its time limit: no ratio
            short = (peer["objective"] - ours["objective"]) / abs(peer["objective"])
            short = short if model == "mclp" else -short
            verdict = f"ours unproven, {short:.2%} short"
            speed = "—"
        else:  # spopt stopped at its cap: compare what each has
            better = (ours["objective"] - peer["objective"]) / abs(peer["objective"])
            better = better if model == "mclp" else -better
            verdict = f"spopt unsolved; ours {better:+.1%}"
            speed = f"> {ratio:.0f}×"
        status = peer["status"] if solved else f"{peer['status']} (gap {peer['gap']:.1%})"
        print(f"| {model} | {size} | {pairs:,} | {ours['seconds']:.2f} |"
              f" {fmt(ours['objective'])} | {ours['gap']:.1e} | {exact['seconds']:.2f} |"
              f" {peer['seconds']:.1f} | {fmt(peer['objective'])} | {status} | {verdict} |"
              f" {speed} |")
    print()
    subset_limit = args.subset_limit or args.time_limit
    for model, (size, ratio, same) in largest.items():
        print(f"{model}: largest instance both prove optimal (spopt within {args.cap:.0f} s,"
              f" ours within {subset_limit:.0f} s) is {size}; there ours is {ratio:.1f}×"
              f" faster, same objective: {'yes' if same else 'NO'}")
    print(f"whole run: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
