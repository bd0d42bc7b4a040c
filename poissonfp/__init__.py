"""poissonfp: Poisson solvers pairing a DNN with Jacobi iteration, and F-Principle diagnostics.

Sign convention, used everywhere: -Δu = f in the box, u = g on its boundary.

The public API: :func:`load_case` reads a TOML case (a path or a shipped case's name, see
:func:`find_case`), :func:`build_problem` discretises it, :func:`solve` runs one method on a problem
(or on a matrix: ``solve(A, b)``), :func:`solve_case` does both for a case, :func:`solve_grid` solves data
given as arrays or callables on a :class:`Grid`, and :func:`load_result` reads an output set of
``poissonfp solve`` back. A callback raising :class:`StopSolve` ends a solve; ``result.plot()`` draws it. The names are imported on first use, so that
``import poissonfp`` (and the command line's start-up) stays light.
"""
from __future__ import annotations

import importlib

#: ``typing`` costs ~30 ms on a busy machine, paid before the command line can take Ctrl-C: not imported
#: here (mypy reads this constant as ``typing.TYPE_CHECKING``).
TYPE_CHECKING = False

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "solve_case": "poissonfp.api",
    "Case": "poissonfp.case", "CaseError": "poissonfp.case", "load_case": "poissonfp.case",
    "find_case": "poissonfp.catalog", "load_result": "poissonfp.loading",
    "Problem": "poissonfp.problem", "build_problem": "poissonfp.problem",
    "SolveResult": "poissonfp.solvers", "StoppingCriterion": "poissonfp.solvers", "solve": "poissonfp.arrays",
    "solve_grid": "poissonfp.arrays", "solve_matrix": "poissonfp.arrays", "Grid": "poissonfp.grid",
    "StopSolve": "poissonfp.solvers.base", "ResultError": "poissonfp.loading",
}
__all__ = [
    "Case",
    "CaseError",
    "Grid",
    "Problem",
    "ResultError",
    "SolveResult",
    "StopSolve",
    "StoppingCriterion",
    "__version__",
    "build_problem",
    "find_case",
    "load_case",
    "load_result",
    "solve",
    "solve_case",
    "solve_grid",
    "solve_matrix",
]

if TYPE_CHECKING:
    from poissonfp.api import solve_case
    from poissonfp.arrays import solve, solve_grid, solve_matrix
    from poissonfp.case import Case, CaseError, load_case
    from poissonfp.catalog import find_case
    from poissonfp.grid import Grid
    from poissonfp.loading import ResultError, load_result
    from poissonfp.problem import Problem, build_problem
    from poissonfp.solvers import SolveResult, StoppingCriterion
    from poissonfp.solvers.base import StopSolve


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'poissonfp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
