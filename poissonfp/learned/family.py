"""Families of right-hand sides for training operator networks.

``grf``: Gaussian random fields. A field is a sine series over the box with independent standard normal
coefficients scaled by the spectrum ``(1 + (|k| / k0)²)^(-decay)``, ``k`` the integer wavenumber vector
(``k_d = 1 .. n_d``): the orthonormal DST-I of a sample has expected magnitude proportional to that
spectrum, so ``decay`` sets how fast the high modes fade and ``k0`` where the fading starts.

``case``: the case's own source with random parameters. Every number written in the source formula
(coefficients, frequencies, shifts; not exponents, not ``pi`` or ``e``) is a parameter ``p1, p2, ...``
(:func:`source_parameters`); a sample draws each independently and uniformly in ``[v (1 - s), v (1 + s)]``
around its value ``v`` (``s`` the spread, ``0 < s < 1``: signs are kept). The formula is parsed by
:mod:`poissonfp.expressions` and never executed. Its spectrum is the source's: a source whose numbers
only scale it (a constant, a single term ``a sin(pi x)``) gives one right-hand side up to a factor and is
refused (:class:`FamilyError`), as is a source with no number at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft

from ..expressions import Expression, parse_expression
from ..grid import Grid

__all__ = [
    "DEFAULT_SPREAD",
    "FamilyError",
    "SourceParameters",
    "case_sources",
    "grf_sources",
    "grf_spectrum",
    "source_parameters",
]

#: Default spread of the ``case`` family: each number drawn within ±25% of its value.
DEFAULT_SPREAD = 0.25


class FamilyError(ValueError):
    """A family that cannot be drawn (a source with nothing to vary, a draw that is not finite); one line."""


def grf_spectrum(shape: tuple[int, ...], *, k0: float = 4.0, decay: float = 2.0) -> np.ndarray:
    """Amplitude ``(1 + (|k| / k0)²)^(-decay)`` of every sine mode of a grid of ``shape`` interior points.

    Index ``k - 1`` along each axis holds wavenumber ``k`` (the layout of
    :func:`poissonfp.spectral.dst_coefficients`).

    >>> grf_spectrum((3,), k0=1.0, decay=1.0).tolist()
    [0.5, 0.2, 0.1]
    """
    if k0 <= 0 or decay < 0:
        raise ValueError(f"need k0 > 0 and decay >= 0, got k0={k0}, decay={decay}")
    axes = np.meshgrid(*(np.arange(1, n + 1, dtype=float) for n in shape), indexing="ij", sparse=True)
    squared = sum(k**2 for k in axes)
    return np.asarray((1.0 + squared / k0**2) ** (-decay), dtype=float)


def grf_sources(grid: Grid, count: int, seed: int, *, mask: np.ndarray | None = None, k0: float = 4.0,
                decay: float = 2.0) -> np.ndarray:
    """``count`` Gaussian random fields on ``grid``, shape ``(count, *grid.shape)``, float64.

    Each field is the inverse orthonormal DST-I of standard normal coefficients times
    :func:`grf_spectrum` (``k0``, ``decay``), set to zero outside ``mask`` (a boolean array of
    ``grid.shape``, True inside the domain) and scaled to unit root-mean-square over the points inside.
    The draws come from ``numpy.random.default_rng(seed)`` alone: the same arguments give the same fields.

    Args:
        grid: the grid of interior points.
        count: number of fields (>= 1).
        seed: seed of the generator.
        mask: points of the domain; None means the whole box.
        k0: wavenumber where the spectrum starts to fall (default 4).
        decay: exponent of the fall; amplitudes decay like ``|k|^(-2 decay)`` far beyond ``k0`` (default 2).

    >>> f = grf_sources(Grid((0.0,), (1.0,), (15,)), 3, seed=1)
    >>> f.shape, bool(np.allclose(np.sqrt(np.mean(f**2, axis=1)), 1.0))
    ((3, 15), True)
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != grid.shape or not mask.any():
            raise ValueError(f"mask must be a non-empty boolean array of shape {grid.shape}, got {mask.shape}")
    spectrum = grf_spectrum(grid.shape, k0=k0, decay=decay)
    generator = np.random.default_rng(seed)
    coefficients = generator.standard_normal((count, *grid.shape)) * spectrum
    axes = tuple(range(1, grid.ndim + 1))
    fields = scipy.fft.idstn(coefficients, type=1, norm="ortho", axes=axes)
    if mask is not None:
        fields[:, ~mask] = 0.0
        inside = int(mask.sum())
    else:
        inside = grid.size
    rms = np.sqrt(np.sum(fields.reshape(count, -1) ** 2, axis=1) / inside)
    return np.asarray(fields / rms.reshape((count,) + (1,) * grid.ndim), dtype=np.float64)


@dataclass(frozen=True)
class SourceParameters:
    """A source formula with its numbers replaced by parameters ``p1 .. pm``.

    Attributes:
        text: the source as the case gives it (or as derived from its exact solution).
        template: the formula with ``p1 .. pm`` in place of its numbers.
        nominal: the numbers' values, in the order of ``p1 .. pm``.
        variables: the coordinate names.
    """

    text: str
    template: str
    nominal: tuple[float, ...]
    variables: tuple[str, ...]
    expr: Any = field(repr=False, compare=False)

    def evaluate(self, coordinates: tuple[np.ndarray, ...], values: np.ndarray) -> np.ndarray:
        """The formula at broadcast ``coordinates`` for parameter rows ``values`` (shape ``(K, m)``):
        shape ``(K, *broadcast shape)``, float64."""
        import sympy

        symbols = [sympy.Symbol(name, real=True) for name in self.variables]
        parameters = sympy.symbols(f"p1:{len(self.nominal) + 1}", real=True)
        function = sympy.lambdify([*symbols, *parameters], self.expr, modules="numpy")
        shape = np.broadcast_shapes(*(np.shape(c) for c in coordinates))
        columns = [values[:, j].reshape((-1,) + (1,) * len(shape)) for j in range(values.shape[1])]
        with np.errstate(all="ignore"):
            out = np.asarray(function(*coordinates, *columns), dtype=np.float64)
        return np.array(np.broadcast_to(out, (values.shape[0], *shape)))

    def describe(self, spread: float) -> dict[str, Any]:
        """The family's record for ``model.json``."""
        return {"source": self.text, "template": self.template, "spread": spread,
                "parameters": {f"p{j + 1}": v for j, v in enumerate(self.nominal)},
                "draw": f"each p_j uniform in [v_j (1 - {spread:g}), v_j (1 + {spread:g})], independent per "
                        "parameter and sample"}


def source_parameters(source: Expression | str, variables: tuple[str, ...] | None = None) -> SourceParameters:
    """The numbers of ``source`` (an :class:`~poissonfp.expressions.Expression`, or a formula in
    ``variables``) as parameters: every number of its expression tree except exponents.

    >>> source_parameters("sin(x) + 4*sin(4*x)", ("x",)).template
    'p1*sin(p2*x) + sin(x)'

    Raises:
        FamilyError: If the formula holds no number to vary.
    """
    import sympy

    from ..expressions import _text_printer

    expression = source if isinstance(source, Expression) else parse_expression(source, tuple(variables or ()))
    nominal: list[float] = []

    def rebuild(node: Any) -> Any:
        if node.is_Number and node != 0:
            nominal.append(float(node))
            return sympy.Symbol(f"p{len(nominal)}", real=True)
        if node.is_Pow:  # the exponent shapes the function (x**2 stays a square): kept
            return sympy.Pow(rebuild(node.base), node.exp)
        if not node.args:
            return node
        return node.func(*(rebuild(arg) for arg in node.args))

    template = rebuild(expression.expr)
    if not nominal:
        raise FamilyError(f"the source {expression.text!r} holds no number to vary (exponents, pi and e are "
                          "kept); give it coefficients or use --family grf")
    return SourceParameters(expression.text, _text_printer().doprint(template), tuple(nominal),
                            expression.variables, template)


def case_sources(parameters: SourceParameters, grid: Grid, count: int, seed: int, *, spread: float = DEFAULT_SPREAD,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` draws of the source with random parameters on ``grid``: ``(fields, values)``, fields of shape
    ``(count, *grid.shape)`` scaled to unit root-mean-square inside ``mask`` (zero outside), values
    ``(count, m)`` the drawn parameters. Seeded by ``numpy.random.default_rng(seed)`` alone.

    Raises:
        FamilyError: For a spread outside (0, 1), a draw that is not finite inside the domain or is zero
            there, or a family whose draws are all the same function up to a factor (nothing to learn).
    """
    if not 0.0 < spread < 1.0:
        raise FamilyError(f"spread {spread!r}: expected a number in (0, 1) (each number varies within ±spread of "
                          "its value, keeping its sign)")
    if count < 1:
        raise FamilyError(f"count must be at least 1, got {count}")
    nominal = np.asarray(parameters.nominal)
    generator = np.random.default_rng(seed)
    values = nominal * (1.0 + spread * generator.uniform(-1.0, 1.0, (count, nominal.size)))
    fields = parameters.evaluate(grid.coordinates(), values)
    inside = np.ones(grid.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    fields[:, ~inside] = 0.0
    bad = ~np.isfinite(fields).reshape(count, -1).all(axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        raise FamilyError(f"the source {parameters.text!r} is not finite on the grid for the drawn parameters "
                          f"{_show(values[k])} (sample {k}); lower the spread or use --family grf")
    rms = np.sqrt(np.sum(fields.reshape(count, -1) ** 2, axis=1) / inside.sum())
    if (rms == 0).any():
        k = int(np.argmax(rms == 0))
        raise FamilyError(f"the source {parameters.text!r} is zero on the grid for the drawn parameters "
                          f"{_show(values[k])}; use --family grf")
    fields /= rms.reshape((count,) + (1,) * grid.ndim)
    if count > 1 and _rank(fields) < 2:
        raise FamilyError(f"the numbers of the source {parameters.text!r} only scale it (template "
                          f"{parameters.template}): every draw is the same right-hand side up to a factor, nothing to "
                          "learn; use --family grf")
    return fields, values


def _rank(fields: np.ndarray) -> int:
    singular = np.linalg.svd(fields.reshape(fields.shape[0], -1)[:64], compute_uv=False)
    return int(np.sum(singular > 1e-9 * singular[0]))


def _show(values: np.ndarray) -> str:
    return "(" + ", ".join(f"p{j + 1}={v:.6g}" for j, v in enumerate(values)) + ")"
