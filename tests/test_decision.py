"""The hybrid's decision prices pure Jacobi as run_jacobi runs it (batches of kernel calls), counts its own
sweeps in the work, and decides a high-frequency-only case right on both sides of its boundary."""
import dataclasses
from pathlib import Path

import numpy as np

from poissonfp.case import load_case
from poissonfp.grid import Grid
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.base import Monitor
from poissonfp.solvers.classical.jacobi import JacobiIteration, run_jacobi
from poissonfp.solvers.classical.jacobi_price import PRICE_SWEEPS, JacobiPrice, jacobi_seconds
from poissonfp.solvers.hierarchy.multilevel_transfers import coarse_grids
from poissonfp.solvers.hybrids.hybrid_multilevel import PLAIN_SWEEPS, decide

ROOT = Path(__file__).resolve().parents[1]
HIGH = ROOT / "poissonfp" / "studies" / "bench_cases" / "2d_high_frequency.toml"


def test_the_replay_makes_the_kernel_calls_of_a_real_run():
    problem = build_problem(load_case(HIGH), 63)
    monitor = Monitor(problem, StoppingCriterion("discretization"))
    iteration = JacobiIteration(problem, 1.0)
    iteration.sweep(PRICE_SWEEPS)
    calls = []
    sweep = iteration.sweep
    iteration.sweep = lambda count, reference=None: (calls.append(count), sweep(count, reference))[1]
    done, reason = run_jacobi(iteration, monitor, 10_000, sweeps_done=PRICE_SWEEPS)
    assert reason == "converged"
    assert jacobi_seconds(done, problem.grid.size, JacobiPrice(0.0, 1.0)) == len(calls)
    assert jacobi_seconds(done, problem.grid.size, JacobiPrice(1.0, 1.0)) == done
    assert jacobi_seconds(done, problem.grid.size, JacobiPrice(1.0, 10.0)) == done + 9 * len(calls)


def _decision(problem, price):
    case = load_case(HIGH)
    monitor = Monitor(problem, StoppingCriterion("discretization"))
    grids = coarse_grids(problem.grid, 15)
    return decide(problem, monitor, case.hybrid, case.network, 1.0, grids, price)


def test_a_high_frequency_case_is_decided_right_on_both_sides_of_the_boundary():
    """Prices as measured on this CPU (a one-sweep call ~12x a plain sweep): at 255² the cycles win
    (measured 6-14 ms against 12-56 ms for pure Jacobi's 246 sweeps, a loaded machine), at 31² one sweep of
    Jacobi does; the control: every sweep priced as a plain one in a hot loop (15 µs, no call cost, as the
    old decision priced it) picks Jacobi at 255²."""
    at_255 = build_problem(load_case(HIGH), 255)
    assert _decision(at_255, JacobiPrice(18e-6, 210e-6))["method"] == "multilevel"
    assert _decision(at_255, JacobiPrice(15e-6, 15e-6))["method"] == "jacobi"
    grid = Grid((0.0, 0.0), (np.pi, np.pi), (31, 31))
    at_31 = Problem.from_functions(grid, lambda x, y: 2 * 256 * np.sin(16 * x) * np.sin(16 * y),
                                   exact=lambda x, y: np.sin(16 * x) * np.sin(16 * y))
    assert _decision(at_31, JacobiPrice(2e-6, 40e-6))["method"] == "jacobi"


def test_the_decisions_sweeps_count_in_the_work():
    case = load_case(ROOT / "cases" / "2d_square.toml")
    problem = build_problem(case, 63)
    criterion = StoppingCriterion("discretization")
    options = dict(network=case.network, training=case.training)
    auto = solve(problem, "hybrid", criterion, hybrid=case.hybrid, **options)
    fixed = solve(problem, "hybrid", criterion, hybrid=dataclasses.replace(case.hybrid, fallback=False), **options)
    assert auto.info["decision"]["method"] == "multilevel" and not auto.info["boundary_lift"]
    extra = PLAIN_SWEEPS + (PRICE_SWEEPS if auto.info["decision"]["priced"].startswith("run_jacobi") else 0)
    assert auto.info["work_sweep_equivalents"] == fixed.info["work_sweep_equivalents"] + extra
