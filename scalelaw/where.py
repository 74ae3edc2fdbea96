"""``--where``: a filter over a table's columns, parsed, never run as code.

``rows(frame, expression)`` returns the boolean mask of the rows an expression such as
``"dataset == 'c4' and tokens_per_param >= 20"`` keeps. The expression is parsed with Python's
``ast`` and evaluated by walking the tree over these nodes only:

- column names (a name with spaces or symbols in backticks: `` `Seen Examples` > 1e9 ``),
  and literals: numbers, strings, True, False, and lists or tuples of them (for ``in``);
- comparisons ``== != < <= > >=`` (chained, as ``1e6 < N <= 1e9``), ``in`` and ``not in``;
- ``and``, ``or``, ``not`` and their element-wise spellings ``&``, ``|``, ``~``;
- arithmetic ``+ - * / // % **`` and unary ``-``/``+``, on numbers only (numeric columns, and
  literals as floats, so that no power or product can grow without bound: ``_number``).

Anything else (a call, an attribute, ``@name``, an index, a lambda, ...) is refused with an
``InputError`` naming it, before any row is looked at. pandas' own ``DataFrame.query`` is not
used: it resolves ``@name`` against the caller's variables and can call methods, so a filter
string could run code.
"""
from __future__ import annotations

import ast
import io
import operator
import re
import tokenize

import numpy as np
import pandas as pd

from .errors import InputError

_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
               ast.BitAnd: operator.and_, ast.BitOr: operator.or_}
_BACKTICKS = re.compile(r"`([^`]*)`")
MAX_LENGTH = 10_000  # characters of an expression: the parser and the walk stay fast and shallow


def rows(frame: pd.DataFrame, expression: str) -> np.ndarray:
    """Boolean mask (one per row of ``frame``) of the rows ``expression`` keeps.

    Raises:
        InputError: one line naming what is not allowed or not found (a column, a token).
    """
    if not isinstance(expression, str) or not expression.strip():
        raise InputError("--where: give a condition on the columns, e.g. \"dataset == 'c4'\"")
    if len(expression) > MAX_LENGTH:
        raise InputError(f"--where: the condition is {len(expression):,} characters long; at most {MAX_LENGTH:,}")
    try:
        return _rows(frame, expression)
    except (RecursionError, MemoryError):  # the parser's and the walk's own limits
        raise InputError(f"--where {expression[:60]!r}...: nested too deeply") from None


def _rows(frame: pd.DataFrame, expression: str) -> np.ndarray:
    names: dict[str, str] = {}

    def placeholder(match: re.Match) -> str:  # `any name` -> an identifier that stands for it
        key = f"__column_{len(names)}__"
        names[key] = match.group(1)
        return key

    text = _BACKTICKS.sub(placeholder, expression)
    at = _at_names(text)
    if at:
        raise InputError(f"--where {expression!r}: {at!r} is not allowed: '@' would name a variable of the program; "
                         "only column names, literals, comparisons, and/or/not, in and arithmetic")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        near = f" near '{exc.text.strip()[max(0, (exc.offset or 1) - 1):][:20]}'" if exc.text else ""
        raise InputError(f"--where {expression!r}: not a condition on the columns ({exc.msg}{near})") from None
    _check(tree.body, expression)
    value = _evaluate(tree.body, frame, names, expression)
    mask = np.asarray(value)
    if mask.shape != (len(frame),) or mask.dtype != bool:
        if mask.ndim == 0 and mask.dtype == bool:
            return np.full(len(frame), bool(mask))
        raise InputError(f"--where {expression!r}: the condition does not give true or false for each row")
    return mask


_ALLOWED = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Invert, ast.Compare,
            ast.In, ast.NotIn, ast.BinOp, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple,
            *_COMPARE, *_ARITHMETIC)


def _check(node: ast.AST, expression: str) -> None:
    """Refuse, before evaluating anything, any node outside ``_ALLOWED``."""
    for child in ast.walk(node):
        if not isinstance(child, _ALLOWED):
            what = {ast.Call: "a call", ast.Attribute: "an attribute", ast.Subscript: "an index",
                    ast.MatMult: "'@'", ast.Lambda: "a lambda"}.get(type(child), type(child).__name__)
            token = ast.get_source_segment(expression, child) if hasattr(child, "lineno") else None
            raise InputError(f"--where {expression!r}: {what}{f' ({token!r})' if token else ''} is not allowed: "
                             "only column names, literals, comparisons, and/or/not, in and arithmetic")
        if isinstance(child, ast.Constant) and not isinstance(child.value, (int, float, str, bool)):
            raise InputError(f"--where {expression!r}: the literal {child.value!r} is not allowed")


def _at_names(text: str) -> str | None:
    """The first ``@name`` outside string literals (pandas' reference to a program variable)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string == "@":
            after = tokens[i + 1].string if i + 1 < len(tokens) else ""
            return "@" + after
    return None


def _evaluate(node: ast.AST, frame: pd.DataFrame, names: dict, expression: str):
    def ev(n):
        return _evaluate(n, frame, names, expression)

    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [ev(e) for e in node.elts]
    if isinstance(node, ast.Name):
        column = names.get(node.id, node.id)
        if node.id in ("True", "False"):
            return node.id == "True"
        if column not in frame.columns:
            raise InputError(f"--where {expression!r}: no column '{column}' (columns: "
                             f"{', '.join(map(str, frame.columns))})")
        return frame[column]
    if isinstance(node, ast.BoolOp):
        values = [_as_bool(ev(v), expression) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out
    if isinstance(node, ast.UnaryOp):
        value = ev(node.operand)
        if isinstance(node.op, (ast.Not, ast.Invert)):
            return np.logical_not(_as_bool(value, expression))
        value = _number(value, expression)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp):
        left, right = ev(node.left), ev(node.right)
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            left, right = _as_bool(left, expression), _as_bool(right, expression)
        else:
            left, right = _number(left, expression), _number(right, expression)
        try:
            with np.errstate(all="ignore"):  # a column's overflow is inf, as in pandas
                return _ARITHMETIC[type(node.op)](left, right)
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise InputError(f"--where {expression!r}: {exc}") from None
        except OverflowError:
            raise InputError(f"--where {expression!r}: a number in it is too large (beyond 1e308)") from None
    if isinstance(node, ast.Compare):
        out, left = None, ev(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = ev(comparator)
            try:
                if isinstance(op, (ast.In, ast.NotIn)):
                    if not isinstance(right, list):
                        raise InputError(f"--where {expression!r}: 'in' takes a list, e.g. x in ['a', 'b']")
                    result = pd.Series(left).isin(right).to_numpy() if not np.isscalar(left) else left in right
                    result = np.logical_not(result) if isinstance(op, ast.NotIn) else result
                else:
                    result = _COMPARE[type(op)](left, right)
            except TypeError as exc:
                raise InputError(f"--where {expression!r}: cannot compare ({exc})") from None
            result = np.asarray(result, dtype=bool)
            out = result if out is None else np.logical_and(out, result)
            left = right
        return out
    raise InputError(f"--where {expression!r}: {type(node).__name__} is not allowed")  # unreachable after _check


def _number(value, expression: str):
    """An operand of arithmetic: a numeric column, or a number as a float. Python's whole numbers
    are unbounded, so ``9**9**9`` would take minutes and gigabytes; as floats it overflows at
    once. Text (``'a' * 10**9``, ``'%09999999d' % 1``) is refused: arithmetic takes numbers."""
    if isinstance(value, pd.Series) and pd.api.types.is_numeric_dtype(value):
        return value
    if isinstance(value, (bool, int, float)):
        try:
            return float(value)
        except OverflowError:
            raise InputError(f"--where {expression!r}: a number in it is too large (beyond 1e308)") from None
    what = f"column '{value.name}' holds text" if isinstance(value, pd.Series) else f"{value!r} is not a number"
    raise InputError(f"--where {expression!r}: arithmetic takes numbers; {what}")


def _as_bool(value, expression: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype != bool:
        raise InputError(f"--where {expression!r}: and/or/not join conditions (true or false), not values")
    return array
