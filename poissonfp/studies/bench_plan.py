"""What a benchmark runs: the problems and sizes (:class:`ProblemPlan`, :data:`FULL_PLAN`, :data:`QUICK_PLAN`)
and the run's settings (:class:`BenchConfig`); :mod:`poissonfp.studies.bench` runs them."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poissonfp.methods import BENCH_METHODS as METHODS

__all__ = ["CASES_DIR", "FULL_PLAN", "QUICK_PLAN", "BenchConfig", "ProblemPlan", "quick_config"]

#: Where the case files are looked up; None: the shipped cases (:func:`poissonfp.catalog.find_case`).
CASES_DIR: Path | None = None


@dataclass(frozen=True)
class ProblemPlan:
    """One problem of the matrix: a case file name (without ``.toml``), its sizes in the case's grid
    unit (intervals for ``1d_article``, points per dimension otherwise; a tuple gives every axis its own
    count), settings overrides, and optionally the only methods to run on it."""

    case: str
    sizes: tuple[int | tuple[int, ...], ...]
    overrides: tuple[tuple[str, Any], ...] = ()
    methods: tuple[str, ...] = ()


_BUMP = (("criterion", "discrete"), ("tol", 1e-4))
#: Methods of the rows a new user would write (not the shipped cases): the solvers that scale.
_NEW = ("jacobi", "hybrid", "hybrid-exact", "hybrid-none", "multigrid", "dst")
#: Methods of the rows off the box: the box-only ones stay in the list so that their rows say why not.
_OFF_BOX = (*_NEW, "direct")
FULL_PLAN = (
    ProblemPlan("1d_article", (1000, 4000, 16000)),
    ProblemPlan("2d_square", (255, 511, 1023)),
    ProblemPlan("2d_bump", (255, 511), _BUMP),
    ProblemPlan("2d_rectangle", ((511, 255), (1023, 511)), (), _NEW),
    ProblemPlan("2d_high_frequency", (255, 511), (), _NEW),
    ProblemPlan("2d_boundary", (255, 511), (), _NEW),
    ProblemPlan("3d_cube", (31, 63, 127), (), (*_NEW, "dnn")),
    ProblemPlan("2d_lshape", (127, 255), (), _OFF_BOX),
    ProblemPlan("2d_disk", (127, 255), (), _OFF_BOX),
)
QUICK_PLAN = (ProblemPlan("1d_article", (64, 128)), ProblemPlan("2d_bump", (16, 24), _BUMP))


@dataclass(frozen=True)
class BenchConfig:
    """What to run and the time budgets.

    Attributes:
        plan: the problems and sizes.
        methods: the methods, baseline (``jacobi``) first.
        cases_dir: a folder of case files; None: the shipped cases (found by name).
        jacobi_real_budget_s: pure Jacobi runs for real up to this estimated time, computed beyond.
        method_budget_s: other methods are skipped where their extrapolated time exceeds this.
        repeat_below_s: solves faster than this are repeated, the fastest counts.
        max_repeats: at most this many solves per entry.
        warm_repeat_below_s: a first solve faster than this is repeated at least once (the first solve at
            a new size pays first-touch page faults and caches; the fastest counts).
        kernel_min_time_s: minimum duration of one timed batch of sweeps or copies.
        check_tolerance: allowed relative difference of predicted and real sweep counts.
        case_overrides: settings overrides applied to every case (e.g. shorter training for ``--quick``).
    """

    plan: tuple[ProblemPlan, ...] = FULL_PLAN
    methods: tuple[str, ...] = METHODS
    cases_dir: Path | None = CASES_DIR
    jacobi_real_budget_s: float = 30.0
    method_budget_s: float = 150.0
    repeat_below_s: float = 1.0
    max_repeats: int = 3
    warm_repeat_below_s: float = 10.0
    kernel_min_time_s: float = 0.1
    check_tolerance: float = 0.01
    case_overrides: tuple[tuple[str, Any], ...] = ()


def quick_config(**changes: Any) -> BenchConfig:
    """A tiny benchmark that keeps the harness working: two problems, two small sizes each, the second
    size's Jacobi time computed (budget 0), short network training. Jacobi checks its criterion in its
    usual batches, so real and computed times share one per-sweep cost (the predictor check confirms
    tiny counts sweep by sweep)."""
    quick = BenchConfig(plan=QUICK_PLAN, jacobi_real_budget_s=0.0, method_budget_s=30.0, repeat_below_s=0.0,
                        max_repeats=2, kernel_min_time_s=0.01, warm_repeat_below_s=1.0,
                        case_overrides=(("adam_steps", 10), ("lbfgs_steps", 0)))
    return dataclasses.replace(quick, **changes)
