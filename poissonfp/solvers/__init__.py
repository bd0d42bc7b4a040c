"""All solvers behind one call: ``solve(problem, method, criterion, ...) -> SolveResult``.

The solver modules (numba, torch, scipy) are imported when a method is first used, so importing this
package stays light.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from poissonfp.methods import REGISTRY
from poissonfp.solvers.base import HISTORY_KEYS, DivergenceError, Monitor, SolveResult, StoppingCriterion

if TYPE_CHECKING:
    from poissonfp.problem import Problem

__all__ = [
    "BOX_ONLY",
    "HISTORY_KEYS",
    "SOLVERS",
    "DivergenceError",
    "Monitor",
    "SolveResult",
    "StoppingCriterion",
    "applicable_methods",
    "method_options",
    "solve",
]

class _Registry(MutableMapping[str, Callable[..., SolveResult]]):
    """method -> solver function, importing a solver's module on first access; a solver function can
    also be registered directly (``SOLVERS["mine"] = solve_mine``)."""

    def __init__(self, locations: Mapping[str, str]) -> None:
        self._entries: dict[str, str | Callable[..., SolveResult]] = dict(locations)

    def __getitem__(self, method: str) -> Callable[..., SolveResult]:
        entry = self._entries[method]
        if isinstance(entry, str):
            module, _, name = entry.partition(":")
            entry = getattr(importlib.import_module(module), name)
        return entry

    def __setitem__(self, method: str, solver: Callable[..., SolveResult]) -> None:
        self._entries[method] = solver

    def __delitem__(self, method: str) -> None:
        del self._entries[method]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


#: method -> solver function; starts with every method of :data:`poissonfp.methods.REGISTRY`.
SOLVERS: MutableMapping[str, Callable[..., SolveResult]] = _Registry({m.name: m.solver for m in REGISTRY.values()})

#: Methods that solve only the constant-coefficient Dirichlet box: they refuse any other problem in one
#: line (a CaseError keyed ``method``).
BOX_ONLY = ("dst",)


def applicable_methods(problem: Problem, methods: Sequence[str] | None = None) -> tuple[str, ...]:
    """The methods of ``methods`` (default: every registered one) that apply to ``problem``."""
    return tuple(m for m in (methods or SOLVERS) if problem.on_box or m not in BOX_ONLY)


def method_options(method: str) -> tuple[str, ...]:
    """The keyword options ``method``'s solver takes (besides the problem and the monitor)."""
    parameters = inspect.signature(SOLVERS[method]).parameters.values()
    return tuple(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)


def solve(
    problem: Problem,
    method: str = "jacobi",
    criterion: StoppingCriterion | None = None,
    *,
    callback: Callable[[dict], None] | None = None,
    modes: Sequence[tuple[int, ...]] | None = None,
    **options: Any,
) -> SolveResult:
    """Solve ``problem`` with ``method``.

    Args:
        problem: the discrete problem.
        method: one of :data:`SOLVERS`.
        criterion: when to stop (default: relative residual 1e-8).
        callback: receives every history record (progress, live plots).
        modes: sine modes whose error against the discrete solution is recorded over time.
        **options: the method's settings (:func:`method_options`), e.g. ``omega`` and ``initial_guess``
            for Jacobi.

    Raises:
        ValueError: For an unknown method.
        TypeError: For an option the method does not take (a misspelling such as ``omgea``).

    Example:
        >>> import numpy as np
        >>> from poissonfp.grid import Grid
        >>> from poissonfp.problem import Problem
        >>> grid = Grid((0.0,), (1.0,), (31,))
        >>> problem = Problem.from_functions(grid, lambda x: np.pi**2 * np.sin(np.pi * x),
        ...                                  exact=lambda x: np.sin(np.pi * x))
        >>> result = solve(problem, "dst", StoppingCriterion("discretization"))
        >>> result.converged, result.final["error_vs_exact_inf"] < 1e-3
        (True, True)
    """
    if method not in SOLVERS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(SOLVERS)}")
    _check_options(method, options)
    monitor = Monitor(problem, criterion or StoppingCriterion(), callback, modes)
    return SOLVERS[method](problem, monitor, **options)


def _check_options(method: str, options: Mapping[str, Any]) -> None:
    own = method_options(method)
    unknown = sorted(set(options) - set(own))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], own, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"solve() got an unknown option {unknown[0]!r} for method {method!r}{hint}; "
                        f"{method} takes {', '.join(own) or 'no options'}")
