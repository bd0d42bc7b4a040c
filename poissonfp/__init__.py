"""poissonfp: Poisson solvers pairing a DNN with Jacobi iteration, and F-Principle diagnostics.

Sign convention, used everywhere: -Δu = f in the box, u = g on its boundary.

The public API: :func:`load_case` reads a TOML case, :func:`build_problem` discretises it,
:func:`solve` runs one method on a problem and :func:`solve_case` does both for a case;
:func:`load_result` reads an output set of ``poissonfp solve`` back.
"""
from poissonfp.api import solve_case
from poissonfp.case import Case, CaseError, load_case
from poissonfp.outputs import load_result
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import SolveResult, StoppingCriterion, solve

__version__ = "0.1.0"
__all__ = ["Case", "CaseError", "Problem", "SolveResult", "StoppingCriterion", "build_problem", "load_case", "load_result",
           "solve", "solve_case", "__version__"]
