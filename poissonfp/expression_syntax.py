"""The grammar of a case-file formula: an allow-list walk over Python's ``ast`` that builds a sympy
expression (numbers, ``+ - * / **``, the names of :data:`FUNCTIONS` and :data:`CONSTANTS`, the coordinate
variables) and refuses everything else in one line (:class:`ExpressionError`); the limits that bound its
symbolic work. No case text is ever executed. :mod:`poissonfp.expressions` wraps the result."""
from __future__ import annotations

import ast
import math
import operator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sympy is imported where it is used: importing this module stays light
    import sympy

__all__ = ["CONSTANTS", "FUNCTIONS", "MAX_DEPTH", "MAX_DERIVATIVE_SIZE", "MAX_EXPONENT", "MAX_LENGTH", "MAX_MAGNITUDE",
           "ExpressionError"]

#: Allowed function names -> (name of the sympy function, number of arguments).
FUNCTIONS: dict[str, tuple[str, int]] = {
    "sin": ("sin", 1), "cos": ("cos", 1), "tan": ("tan", 1), "exp": ("exp", 1), "log": ("log", 1),
    "sqrt": ("sqrt", 1), "tanh": ("tanh", 1), "sinh": ("sinh", 1), "cosh": ("cosh", 1), "abs": ("Abs", 1),
    "atan2": ("atan2", 2), "min": ("Min", 2), "max": ("Max", 2),
}
#: Allowed constant names -> name of the sympy constant.
CONSTANTS: dict[str, str] = {"pi": "pi", "e": "E"}
#: Longest accepted expression text, in characters.
MAX_LENGTH = 2000
#: Largest accepted absolute value of a numeric exponent (keeps sympy from building huge numbers).
MAX_EXPONENT = 100
#: Deepest accepted nesting of operations in a formula (sympy and numpy recurse over the tree).
MAX_DEPTH = 60
#: Largest accepted estimated size (tree nodes) of a derived -Δu: bounds the symbolic work. Measured on a
#: loaded 2-core CPU (sympy's diff, then one evaluation): estimates of 9,000-30,000 took 0.3-3.3 s, a
#: product of 30 factors (estimate 339,000) 8.7 s; 2d_square's exact solution is 1,154.
MAX_DERIVATIVE_SIZE = 20_000
#: Largest magnitude of a number in a formula (larger ones overflow float64 when evaluated).
MAX_MAGNITUDE = 1e300

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_OPERATOR_SYMBOLS = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
                     ast.BitOr: "|", ast.BitAnd: "&", ast.Invert: "~", ast.Not: "not"}
_NOT_ALLOWED = {ast.Compare: "comparisons are", ast.BoolOp: "'and' / 'or' are", ast.Attribute: "attribute access is",
                ast.Subscript: "subscripts are", ast.Lambda: "lambda expressions are", ast.IfExp: "'if' expressions are",
                ast.List: "lists are", ast.Tuple: "tuples are", ast.Dict: "dicts are", ast.Set: "sets are",
                ast.ListComp: "comprehensions are", ast.GeneratorExp: "comprehensions are", ast.NamedExpr: "':=' is",
                ast.JoinedStr: "strings are", ast.Starred: "'*' unpacking is", ast.Slice: "slices are"}



class ExpressionError(ValueError):
    """A formula is not an allowed expression; the message says what was expected."""

    __module__ = "poissonfp.expressions"  # its public home (re-exported there), as tracebacks name it



def _depth(expr: sympy.Expr) -> int:
    """Nesting depth of a sympy tree (an atom has depth 1)."""
    return 1 + max((_depth(arg) for arg in expr.args), default=0)


def _check_magnitudes(expr: sympy.Expr, what: str) -> None:
    """Refuse numbers that overflow float64 when the formula is evaluated (``1e300*1e300*x``)."""
    import sympy

    for number in expr.atoms(sympy.Rational):
        if abs(number) > MAX_MAGNITUDE:
            raise ExpressionError(f"{what} holds the number {sympy.Float(number, 3)}, too large for float64 "
                                  f"(|number| <= {MAX_MAGNITUDE:.0e} allowed)")


class _Builder:
    """Walks an AST over the allow-list and builds the sympy expression."""

    def __init__(self, text: str, variables: tuple[str, ...]) -> None:
        self.text = text
        self.variables = variables
        import sympy

        self.names = {name: _symbol(name) for name in variables} | {
            name: getattr(sympy, attribute) for name, attribute in CONSTANTS.items()}

    def build(self, node: ast.AST) -> sympy.Expr:
        if isinstance(node, ast.Constant):
            return self._number(node)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            operand = self.build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            self.build(node.value)  # report what is wrong inside first: __import__('os').system
        raise ExpressionError(self._not_allowed(node))

    def _number(self, node: ast.Constant) -> sympy.Expr:
        import sympy

        value = node.value
        if isinstance(value, bool) or value is None:
            raise ExpressionError(f"{value!r} is not a number; {self._allowed()}")
        if isinstance(value, (str, bytes)):
            raise ExpressionError(f"strings are not allowed; {self._allowed()}")
        if isinstance(value, complex):
            raise ExpressionError(f"complex numbers like {self._segment(node)} are not allowed")
        if not isinstance(value, (int, float)):  # '...' (Ellipsis)
            raise ExpressionError(f"{self._segment(node)!r} is not a number; {self._allowed()}")
        if isinstance(value, int):
            if abs(value) > 1e300:
                raise ExpressionError(f"the number {self._segment(node)[:20]}... is too large")
            return sympy.Integer(value)
        if not math.isfinite(value):
            raise ExpressionError(f"the number {self._segment(node)} is not finite")
        return sympy.Rational(repr(value))  # exact decimal: 0.02 stays 1/50 through differentiation

    def _name(self, name: str) -> sympy.Expr:
        if name in self.names:
            return self.names[name]
        if name in FUNCTIONS:
            raise ExpressionError(f"'{name}' is a function; call it, e.g. {name}(x)")
        raise ExpressionError(f"unknown name '{name}' ({self._allowed_names()})")

    def _binary(self, node: ast.BinOp) -> sympy.Expr:
        if isinstance(node.op, ast.BitXor):
            raise ExpressionError("'^' is not a power; use '**'")
        if type(node.op) not in _BINARY:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise ExpressionError(f"operator '{symbol}' is not allowed (allowed: + - * / **)")
        left, right = self.build(node.left), self.build(node.right)
        if isinstance(node.op, ast.Pow):
            self._check_power(left, right, node)
        return self._checked(_BINARY[type(node.op)](left, right), node)

    def _checked(self, result: sympy.Expr, node: ast.AST) -> sympy.Expr:
        import sympy

        if result.has(sympy.zoo, sympy.nan, sympy.oo):
            raise ExpressionError(f"{self._segment(node)!r} is undefined (infinite or not a number)")
        if result.is_number and result.is_real is False:
            raise ExpressionError(f"{self._segment(node)!r} is not a real number")
        return result

    def _check_power(self, base: sympy.Expr, exponent: sympy.Expr, node: ast.BinOp) -> None:
        if not exponent.is_number:
            return
        size = abs(complex(exponent))
        if size > MAX_EXPONENT:
            raise ExpressionError(f"the exponent in {self._segment(node)!r} is too large "
                                  f"(|exponent| <= {MAX_EXPONENT} allowed)")
        if base.is_number and size > 0:
            magnitude = abs(complex(base))
            if magnitude > 0 and abs(math.log10(magnitude)) * size > 300:
                raise ExpressionError(f"{self._segment(node)!r} is too large a number")

    def _call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            self.build(node.func)
            raise ExpressionError(f"only the functions {', '.join(FUNCTIONS)} can be called")
        name = node.func.id
        if name not in FUNCTIONS:
            what = f"'{name}' is not a function" if name in self.names else f"unknown name '{name}'"
            raise ExpressionError(f"{what} (allowed functions: {', '.join(FUNCTIONS)})")
        if node.keywords:
            raise ExpressionError(f"keyword arguments are not allowed in {name}(...)")
        import sympy

        attribute, arity = FUNCTIONS[name]
        if len(node.args) != arity:
            plural = "" if arity == 1 else "s"
            raise ExpressionError(f"{name}() takes {arity} argument{plural}, got {len(node.args)}")
        return self._checked(getattr(sympy, attribute)(*(self.build(arg) for arg in node.args)), node)

    def _segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def _not_allowed(self, node: ast.AST) -> str:
        if isinstance(node, ast.UnaryOp):
            what = f"operator '{_OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)}' is"
        else:
            what = _NOT_ALLOWED.get(type(node), f"'{type(node).__name__}' is")
        return f"{what} not allowed; {self._allowed()}"

    def _allowed(self) -> str:
        return f"expected a formula of numbers, + - * / **, parentheses, {self._allowed_names()}"

    def _allowed_names(self) -> str:
        return f"allowed: {', '.join([*self.variables, *CONSTANTS, *FUNCTIONS])}"


def _symbol(name: str) -> sympy.Symbol:
    import sympy

    return sympy.Symbol(name, real=True)
