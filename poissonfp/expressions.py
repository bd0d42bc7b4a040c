"""Safe math expressions: allow-listed Python syntax -> sympy -> numpy / torch callables.

Case files give the source f, the boundary values g and the exact solution u as formulas in the
coordinates ``x, y, z``. The text is parsed with :func:`ast.parse` and turned into a sympy expression
node by node from an allow-list (numbers, ``+ - * / **``, unary signs, parentheses, the constants
``pi`` and ``e`` and the functions in :data:`FUNCTIONS`); it is never executed or passed to
``sympify``. Sign convention: -Δu = f, so :meth:`Expression.negative_laplacian` of u is f.

>>> u = parse_expression("sin(pi*x)*sin(pi*y)", ("x", "y"))
>>> f = u.negative_laplacian()
>>> round(float(f.numpy(0.5, 0.5)), 12) == round(2 * 3.141592653589793**2, 12)
True
>>> parse_expression("x^2", ("x",))
Traceback (most recent call last):
...
poissonfp.expressions.ExpressionError: '^' is not a power; use '**'
"""
from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, reduce
from typing import TYPE_CHECKING, Any

import numpy as np

from poissonfp.expression_syntax import (
    CONSTANTS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_DERIVATIVE_SIZE,
    MAX_EXPONENT,
    MAX_LENGTH,
    ExpressionError,
    _Builder,
    _check_magnitudes,
    _depth,
    _symbol,
)

if TYPE_CHECKING:  # sympy and torch are imported where they are used: importing this module stays light
    import sympy
    import torch

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_DERIVATIVE_SIZE",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "Expression",
    "ExpressionError",
    "parse_expression",
]

#: sympy function name -> torch function name, including those sympy introduces when differentiating
#: (abs -> sign). Names, not objects: checking a derived formula must not import torch (seconds).
_TORCH_NAMES = {"sin": "sin", "cos": "cos", "tan": "tan", "exp": "exp", "log": "log", "tanh": "tanh",
                "sinh": "sinh", "cosh": "cosh", "Abs": "abs", "sign": "sign", "atan2": "atan2", "Min": "minimum",
                "Max": "maximum"}


@functools.cache
def _torch_functions() -> dict:
    """sympy function -> torch function (see :data:`_TORCH_NAMES`)."""
    import sympy
    import torch

    return {getattr(sympy, name): getattr(torch, function) for name, function in _TORCH_NAMES.items()}


def _tan_with_poles(angle: Any) -> np.ndarray:
    """``tan``, infinite at its poles: ``np.tan(pi/2)`` is 1.6e16, a finite number a grid point would pass
    as data; an angle whose cosine is within rounding of zero (4 ulp of the angle) is a pole.

    >>> float(_tan_with_poles(np.pi / 2)), float(_tan_with_poles(np.pi / 4))
    (inf, 0.9999999999999999)
    """
    angle = np.asarray(angle, dtype=np.float64)
    pole = np.abs(np.cos(angle)) <= 4 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(angle))
    return np.where(pole, np.inf, np.tan(angle))


@dataclass(frozen=True)
class Expression:
    """A parsed formula in the coordinates ``variables``.

    Attributes:
        text: The formula as written (for derived expressions: sympy's printing).
        expr: The sympy expression (symbols are real).
        variables: Coordinate names in order, e.g. ``("x", "y")``.
    """

    text: str
    expr: sympy.Expr = field(repr=False)
    variables: tuple[str, ...]

    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        return tuple(_symbol(name) for name in self.variables)

    @property
    def is_constant(self) -> bool:
        """True when the formula does not depend on the coordinates."""
        return not self.expr.free_symbols

    def numpy(self, *coords: Any) -> np.ndarray:
        """Evaluate at the (broadcast) coordinates; float64, always of the common broadcast shape.

        Non-finite values (``log(0)``) are returned as inf / nan without a warning; callers check them.

        >>> parse_expression("2", ("x", "y")).numpy(np.zeros(3), np.zeros((2, 1))).shape
        (2, 3)
        """
        arrays = self._check_coords(coords, np.asarray, dtype=np.float64)
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        with np.errstate(all="ignore"):
            values = np.asarray(self._numpy_function(*arrays), dtype=np.float64)
        return np.array(np.broadcast_to(values, shape))

    def torch(self, *coords: Any) -> torch.Tensor:
        """Evaluate with torch (differentiable); the result has the coordinates' broadcast shape.

        Coordinates that are not tensors become float64 tensors. The result is connected to every
        coordinate in the autograd graph, with zero derivative where the formula does not depend on it.
        """
        import torch

        tensors = self._check_coords(coords, torch.as_tensor, dtype=torch.float64)
        values = self._torch_function(tensors)
        for name, tensor in zip(self.variables, tensors):
            if _symbol(name) not in self.expr.free_symbols:
                values = values + 0 * tensor
        return values.broadcast_to(torch.broadcast_shapes(*(t.shape for t in tensors)))

    def negative_laplacian(self) -> Expression:
        """The source f = -Δu of this formula u, derived symbolically.

        Raises:
            ExpressionError: If -Δu is not an ordinary function (e.g. ``abs`` gives a delta function).
        """
        return self._negative_laplacian

    def _check_coords(self, coords: tuple, convert: Callable, dtype: Any) -> list:
        if len(coords) != len(self.variables):
            raise ValueError(f"expected {len(self.variables)} coordinate arrays "
                             f"({', '.join(self.variables)}), got {len(coords)}")
        if convert is not np.asarray:  # torch.as_tensor: keep tensors as they are
            return [c if hasattr(c, "requires_grad") else convert(c, dtype=dtype) for c in coords]
        return [convert(c, dtype=dtype) for c in coords]

    @cached_property
    def _numpy_function(self) -> Callable:
        import sympy

        # numpy's module object, not the name "numpy": the name makes lambdify run ``from numpy import *``,
        # which imports numpy.testing, numpy.f2py, numpy.ma and numpy.random (50-90 ms of a case's loading)
        return sympy.lambdify(self.symbols, self.expr, modules=[{"tan": _tan_with_poles}, np])

    @cached_property
    def _torch_function(self) -> Callable:
        index = {symbol: i for i, symbol in enumerate(self.symbols)}
        return _compile_torch(self.expr, index)

    @cached_property
    def _negative_laplacian(self) -> Expression:
        return self._negative_divergence(None)

    def negative_divergence(self, coefficient: Expression | None) -> Expression:
        """The source f = -∇·(k∇u) of this formula u for the coefficient k (None: k = 1, -Δu).

        Raises:
            ExpressionError: If f is not an ordinary function or deriving it is too much work.
        """
        return self._negative_laplacian if coefficient is None else self._negative_divergence(coefficient)

    def normal_derivative(self, dimension: int, outward: int) -> Expression:
        """``outward * ∂u/∂x_dimension``: the outward normal derivative on a box side."""
        import sympy

        result = outward * sympy.diff(self.expr, self.symbols[dimension])
        return Expression(_text_printer().doprint(result), result, self.variables)

    def _negative_divergence(self, coefficient: Expression | None) -> Expression:
        import sympy

        try:
            size = max((_derivative_sizes(self.expr, s)[2] for s in self.symbols), default=1) * len(self.symbols)
            if coefficient is not None:  # -∂(k ∂u): k, ∂k, ∂u and ∂²u all appear, per dimension
                size = max((sum(_derivative_sizes(coefficient.expr, s)[:2]) + sum(_derivative_sizes(self.expr, s))
                            for s in self.symbols), default=1) * len(self.symbols)
        except RecursionError:
            raise ExpressionError("the formula is nested too deeply to differentiate") from None
        if size > MAX_DERIVATIVE_SIZE:
            what = "-Δ" if coefficient is None else "-∇·(k∇u) with this coefficient"
            raise ExpressionError(f"deriving {what} of this formula is too much symbolic work (its estimated size is "
                                  f"{size:,} terms, at most {MAX_DERIVATIVE_SIZE:,} are allowed); simplify it "
                                  "or give the source explicitly")
        k = sympy.Integer(1) if coefficient is None else coefficient.expr
        try:
            if coefficient is None:
                result = -sum((sympy.diff(self.expr, s, 2) for s in self.symbols), sympy.Integer(0))
            else:
                result = -sum((sympy.diff(k * sympy.diff(self.expr, s), s) for s in self.symbols), sympy.Integer(0))
        except RecursionError:
            raise ExpressionError("the formula is nested too deeply to differentiate") from None
        what = "-Δ" if coefficient is None else "-∇·(k∇u)"
        unknown = {type(f).__name__ for f in result.atoms(sympy.Function) if f.func.__name__ not in _TORCH_NAMES}
        if unknown or result.has(sympy.Derivative):
            raise ExpressionError(f"{what} of {self.text!r} is not an ordinary function (it contains "
                                  f"{', '.join(sorted(unknown)) or 'derivatives'}); give the source explicitly")
        _check_magnitudes(result, f"{what} of the formula")
        return Expression(_text_printer().doprint(result), result, self.variables)

    def __getstate__(self) -> dict:  # drop the cached callables: they do not pickle
        return {"text": self.text, "expr": self.expr, "variables": self.variables}

    def __setstate__(self, state: dict) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)


def parse_expression(text: str, variables: tuple[str, ...]) -> Expression:
    """Parse a formula in the coordinates ``variables`` without executing it.

    Args:
        text: The formula, in Python syntax, e.g. ``"exp(x)*cos(y) + x*y"``.
        variables: The allowed coordinate names, e.g. ``("x", "y")``.

    Raises:
        ExpressionError: On anything outside the allow-list, with a message that says what is allowed.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected a formula as a string, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the formula has {len(text)} characters; at most {MAX_LENGTH} are allowed")
    if not text.strip():
        raise ExpressionError("expected a formula, got an empty string")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"invalid syntax at column {err.offset}: {err.msg}") from None
    except (ValueError, MemoryError, RecursionError) as err:
        raise ExpressionError(f"cannot parse the formula: {err}") from None
    try:
        expr = _Builder(text.strip(), tuple(variables)).build(tree.body)
        depth = _depth(expr)
    except RecursionError:
        depth = MAX_DEPTH + 1
    if depth > MAX_DEPTH:
        raise ExpressionError(f"the formula is nested too deeply (at most {MAX_DEPTH} levels are allowed)")
    _check_magnitudes(expr, "the formula")
    return Expression(text, expr, tuple(variables))


def _derivative_sizes(expr: sympy.Expr, symbol: sympy.Symbol) -> tuple[int, int, int]:
    """Estimated tree sizes of ``expr`` and of its first and second derivatives in ``symbol``.

    Sums add; the product rule turns k factors into k terms of k factors (and k² terms for the second
    derivative); the chain rule multiplies an outer function by the inner derivative. Counted without
    sympy's sharing of repeated subtrees, which printing, lambdify and evaluation do not share either.
    """
    if not expr.args or symbol not in expr.free_symbols:
        return 1, 1, 1
    parts = [_derivative_sizes(arg, symbol) for arg in expr.args]
    size = 1 + sum(p[0] for p in parts)
    if expr.is_Add:
        return size, 1 + sum(p[1] for p in parts), 1 + sum(p[2] for p in parts)
    if expr.is_Mul:
        first = 1 + sum(1 + p[1] + size - p[0] for p in parts)
        second = 1 + sum(1 + p[2] + size - p[0] for p in parts)
        second += sum(1 + p[1] + q[1] + size - p[0] - q[0]
                      for i, p in enumerate(parts) for j, q in enumerate(parts) if i != j)
        return size, first, second
    # f(g) or b**c: f'(g) g' and f''(g) g'^2 + f'(g) g'' (sizes of every argument and its derivatives)
    inner0, inner1, inner2 = size, sum(p[1] for p in parts), sum(p[2] for p in parts)
    return size, 2 + inner0 + inner1, 4 + 2 * inner0 + 2 * inner1 + inner2


def _compile_torch(expr: sympy.Expr, index: dict) -> Callable[[list], Any]:
    """Turn a sympy tree into a closure over a list of coordinate tensors (built once, then cached)."""
    import sympy
    import torch

    if not expr.free_symbols:
        try:
            value = float(expr)
        except TypeError:
            raise ExpressionError(f"the constant {expr} is not a real number") from None
        return lambda coords: value
    if expr.is_Symbol:
        i = index[expr]
        return lambda coords: coords[i]
    if expr.is_Add or expr.is_Mul:
        parts = [_compile_torch(arg, index) for arg in expr.args]
        combine = operator.add if expr.is_Add else operator.mul
        return lambda coords: reduce(combine, (part(coords) for part in parts))
    if expr.is_Pow:
        base, exponent = (_compile_torch(arg, index) for arg in expr.args)
        if expr.exp == sympy.Rational(1, 2):
            return lambda coords: torch.sqrt(base(coords))
        if expr.exp.is_Integer:
            power = int(expr.exp)
            return lambda coords: base(coords) ** power
        return lambda coords: base(coords) ** exponent(coords)
    if expr.func in _torch_functions():  # min and max take two or more arguments, folded pairwise
        function, arguments = _torch_functions()[expr.func], [_compile_torch(a, index) for a in expr.args]
        if len(arguments) == 1:
            return lambda coords: function(arguments[0](coords))
        return lambda coords: reduce(function, (torch.as_tensor(a(coords), dtype=torch.float64) for a in arguments))
    raise ExpressionError(f"cannot evaluate {type(expr).__name__} with torch")


@functools.cache
def _text_printer() -> Any:
    """A printer of sympy in the case-file syntax (``e``, ``abs``), so derived formulas read like inputs."""
    from sympy.printing.str import StrPrinter

    class TextPrinter(StrPrinter):
        def _print_Exp1(self, expr: Any) -> str:
            return "e"

        def _print_Abs(self, expr: Any) -> str:
            return f"abs({self._print(expr.args[0])})"

    return TextPrinter()
