"""Many right-hand sides for one case: read them from a file or draw them from a family, and turn each into a
problem that shares the case's operator.

A sources file is an ``.npz`` holding one array ``f`` of shape ``(K, *grid.shape)`` and dtype float64: K
**sources** f at the points of the case's grid (the grid ``poissonfp solve`` builds for the case at its
size, Neumann nodes included). They replace the case's own source; its boundary data (Dirichlet values,
Neumann fluxes) still apply, so ``b_k = b + W (f_k - f)`` with ``W`` the row weights of the assembled
operator (1 on the box; 1/2 per Neumann side a node lies on; 0 outside the domain, where values of ``f``
are ignored). Integers and float32 are refused rather than converted: a file in another precision is
more likely the wrong file than a wish to round.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from poissonfp.problem import Problem

__all__ = ["FAMILIES", "SourcesError", "case_family_sources", "family_sources", "load_sources", "problems_for",
           "source_weights"]

#: Families of right-hand sides ``--family`` draws from: Gaussian random fields (unit RMS,
#: :func:`~poissonfp.learned.family.grf_sources`) and the case's own source with random parameters (every number
#: of its formula drawn uniformly within ±:data:`~poissonfp.learned.family.DEFAULT_SPREAD` of its value, as
#: ``poissonfp train --family case`` draws them, but not rescaled: each draw is the formula's own values).
FAMILIES = ("grf", "case")


class SourcesError(ValueError):
    """A sources file or family request that cannot be used: the message names the file and what was
    expected (one line, exit 2 on the command line)."""


def load_sources(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """The array ``f`` of the ``.npz`` file ``path``, checked to be finite float64 of shape ``(K, *shape)``
    with K >= 1.

    Raises:
        SourcesError: For a missing or unreadable file, a file that is not an npz, a missing ``f``, another
            dtype, another shape, K = 0 or a NaN/inf value.
    """
    path = Path(path)
    expected = f"an .npz file with an array 'f' of float64, shape (K, {', '.join(map(str, shape))}), K >= 1"
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise SourcesError(f"{path}: not an .npz archive (a bare .npy array?); expected {expected}")
        with data:
            if "f" not in data.files:
                found = ", ".join(data.files) or "no arrays"
                raise SourcesError(f"{path}: no array 'f' (found {found}); expected {expected}")
            f = data["f"]
    except SourcesError:
        raise
    except FileNotFoundError:
        raise SourcesError(f"{path}: no such file; expected {expected}") from None
    except IsADirectoryError:
        raise SourcesError(f"{path}: is a folder; expected {expected}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise SourcesError(f"{path}: cannot be read as .npz ({type(err).__name__}: {err}); expected {expected}") from None
    return check_sources(f, shape, str(path), expected)


def check_sources(f: np.ndarray, shape: tuple[int, ...], where: str, expected: str = "") -> np.ndarray:
    """``f`` when it is finite float64 of shape ``(K, *shape)``, K >= 1; else :class:`SourcesError`."""
    expected = expected or f"float64 of shape (K, {', '.join(map(str, shape))}), K >= 1"
    if f.dtype != np.float64:
        raise SourcesError(f"{where}: 'f' has dtype {f.dtype}; expected {expected} (convert it yourself: "
                           "integers and float32 are not rounded silently)")
    if f.ndim != len(shape) + 1 or tuple(f.shape[1:]) != tuple(shape):
        raise SourcesError(f"{where}: 'f' has shape {tuple(f.shape)}; expected {expected}")
    if f.shape[0] < 1:
        raise SourcesError(f"{where}: 'f' holds no source (K = 0); expected {expected}")
    bad = ~np.isfinite(f)
    if bad.any():
        k, *index = (int(i) for i in np.argwhere(bad)[0])
        raise SourcesError(f"{where}: 'f' holds {int(bad.sum())} non-finite values (first: source {k} at point "
                           f"{tuple(index)} = {f[(k, *index)]}); expected {expected}")
    return f


def family_sources(family: str, problem: Problem, count: int, seed: int, source=None) -> np.ndarray:
    """``count`` sources of ``family`` on ``problem``'s grid (zero outside its domain), seeded.

    ``family = "case"`` needs ``source``, the case's source (an :class:`~poissonfp.expressions.Expression` or its
    formula): the draws are those of :func:`~poissonfp.learned.family.case_sources` with the same seed and the
    default spread, evaluated at the drawn parameters without the unit-RMS scaling training applies.

    Raises:
        SourcesError: For an unknown family, ``count`` < 1, or a case source the family cannot vary (no number
            in it, only a factor, not finite on the grid).
    """
    if family not in FAMILIES:
        raise SourcesError(f"--family: unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SourcesError(f"--count: {count!r} sources; expected a positive integer")
    mask = None if problem.general is None else problem.operator.inside
    if family == "grf":
        from poissonfp.learned.family import grf_sources

        return grf_sources(problem.grid, count, seed, mask=mask)
    return case_family_sources(problem, source, count, seed, mask)[0]


def case_family_sources(problem: Problem, source, count: int, seed: int,
                        mask: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """The ``case`` family's draws on ``problem``'s grid, unscaled, and the family's record (source, template,
    nominal values, spread, draw rule); :class:`SourcesError` when the source cannot be varied."""
    from poissonfp.learned.family import DEFAULT_SPREAD, FamilyError, case_sources, source_parameters

    if source is None:
        raise SourcesError("--family case: the case has no source formula to vary; use --family grf")
    variables = ("x", "y", "z")[: problem.grid.ndim]
    try:
        parameters = source_parameters(source, variables)
        _, values = case_sources(parameters, problem.grid, count, seed, spread=DEFAULT_SPREAD, mask=mask)
    except FamilyError as err:
        raise SourcesError(f"--family case: {err}") from None
    fields = parameters.evaluate(problem.grid.coordinates(), values)
    if mask is not None:
        fields[:, ~np.asarray(mask, dtype=bool)] = 0.0
    return np.ascontiguousarray(fields, dtype=np.float64), parameters.describe(DEFAULT_SPREAD)


def source_weights(problem: Problem) -> np.ndarray:
    """``W``: how the source at each grid point enters the right-hand side (see the module docstring)."""
    operator = problem.operator
    weight = np.where(operator.inside, 1.0, 0.0)
    for d, (lower, upper) in enumerate(operator.sides):
        for side, index in ((lower, 0), (upper, -1)):
            if side == "neumann":
                face: list[int | slice] = [slice(None)] * problem.grid.ndim
                face[d] = index
                weight[tuple(face)] *= 0.5
    return weight


def problems_for(problem: Problem, sources: np.ndarray) -> list[Problem]:
    """One problem per source: ``problem``'s grid, operator and boundary data, the source replaced (exact
    solution unknown; all-Neumann right-hand sides made compatible as the assembly does)."""
    weight = source_weights(problem)
    functions = {key: value for key, value in problem.functions.items() if key not in ("source", "exact")}
    out = []
    for k, f in enumerate(sources):
        f = np.where(weight > 0, f, 0.0)
        rhs = problem.rhs + weight * (f - problem.source)
        if problem.operator.singular:
            rhs = np.where(weight > 0, rhs - rhs[weight > 0].sum() / weight.sum() * weight, 0.0)
        out.append(Problem(problem.grid, f, rhs, None, f"{problem.name}[{k}]", functions, problem.general))
    return out
