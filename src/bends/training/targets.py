"""Target functions given as NumPy expressions in x, parsed safely (no ``eval`` of code).

An expression may use numbers, ``x``, ``pi`` and ``e``, the operators ``+ - * / ** %``, and
the functions in :data:`FUNCTIONS`; anything else (attributes, names, subscripts, lambdas,
keyword arguments, ...) is rejected with a :class:`~bends.errors.BendsError` naming it.

Example:
    >>> import numpy as np
    >>> f = target("sin(pi * x / 2)")
    >>> float(f(np.array([1.0]))[0])
    1.0
    >>> try:
    ...     target("__import__('os').system('ls')")
    ... except BendsError as err:
    ...     print(str(err).split(" (use")[0])
    target "__import__('os').system('ls')": "__import__('os').system('ls')" is not allowed
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

import numpy as np

from bends.errors import BendsError

FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    name: getattr(np, name)
    for name in (
        "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
        "exp", "log", "log1p", "expm1", "sqrt", "abs", "sign", "floor", "ceil",
        "minimum", "maximum", "where", "clip",
    )
}  # fmt: skip
CONSTANTS = {"pi": np.pi, "e": np.e}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal}


def target(
    expression: str, variable: str = "x", constants: dict[str, float] | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """The function variable ↦ expression (float64 arrays in, float64 arrays out); names in
    ``constants`` (besides pi and e) may appear as numbers."""
    known = {**CONSTANTS, **(constants or {})}
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise BendsError(f"target {expression!r} is not a valid expression") from None
    _check(tree.body, expression, variable, known)

    def evaluate(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            value = np.broadcast_to(_eval(tree.body, x, variable, known), x.shape).astype(
                np.float64
            )
        if not np.all(np.isfinite(value)):
            raise BendsError(f"target {expression!r} is not finite on the data")
        return value

    return evaluate


def _check(node: ast.AST, expression: str, variable: str, known: dict) -> None:
    allowed = (
        (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
        and not isinstance(node.value, bool))
        or (isinstance(node, ast.Name) and (node.id == variable or node.id in known))
        or (isinstance(node, ast.BinOp) and type(node.op) in _BINARY)
        or (isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY)
        or (isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE)
        or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS and not node.keywords)
    )  # fmt: skip
    if not allowed:
        what = ast.get_source_segment(expression.strip(), node) or type(node).__name__
        raise BendsError(
            f"target {expression!r}: {what!r} is not allowed (use {variable}, numbers, "
            f"{', '.join(known)}, "
            f"+ - * / ** %, and {', '.join(FUNCTIONS)})"
        )
    children = node.args if isinstance(node, ast.Call) else list(ast.iter_child_nodes(node))
    for child in children:
        if not isinstance(child, ast.operator | ast.unaryop | ast.cmpop | ast.expr_context):
            _check(child, expression, variable, known)


def _eval(node: ast.AST, x: np.ndarray, variable: str, known: dict):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return x if node.id == variable else known[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](
            _eval(node.left, x, variable, known), _eval(node.right, x, variable, known)
        )
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, x, variable, known))
    if isinstance(node, ast.Compare):
        return _COMPARE[type(node.ops[0])](
            _eval(node.left, x, variable, known), _eval(node.comparators[0], x, variable, known)
        )
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return FUNCTIONS[node.func.id](*(_eval(arg, x, variable, known) for arg in node.args))
