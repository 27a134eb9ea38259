"""Infer a step's inputs and outputs from its source: names read before being bound are inputs,
names bound at top level are outputs; and the run metrics it logs and the ones it reads (a
criterion, a deployment). Pure AST work, no execution.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

__all__ = ["DataFlow", "analyze", "metric_flow"]

_BUILTINS = frozenset(dir(builtins)) | {"get_ipython", "display", "__file__", "__name__"}


@dataclass(frozen=True)
class DataFlow:
    """What a cell reads from outside (`inputs`) and what it leaves behind (`outputs`).

    `imports` are names bound by import statements: available to the cell, never outputs (a
    module is not data), unless a caller asks for them explicitly.
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    imports: tuple[str, ...] = field(default=())
    # run metrics the cell logs (`ctcd.log_metric("accuracy", ...)`) and the ones it needs
    # logged before it runs (`ctcd.threshold("accuracy", 0.9)`, `mlflow_deploy(metric=accuracy)`)
    metrics_written: tuple[str, ...] = field(default=())
    metrics_read: tuple[str, ...] = field(default=())


def analyze(source: str, filename: str = "<step>") -> DataFlow:
    """Analyze `source`; raises SyntaxError (with lineno) when it does not parse."""
    tree = ast.parse(source, filename=filename, mode="exec")
    walker = _Walker()
    walker.block(tree.body)
    # Reads inside function/class bodies happen when they are called, later: they are inputs
    # only if the cell never binds the name at top level.
    deferred = [n for n in walker.deferred if n not in walker.bound_anywhere]
    inputs = _unique(walker.inputs + deferred)
    inputs = tuple(n for n in inputs if n not in _BUILTINS)
    outputs = tuple(n for n in _unique(walker.bound_order)
                    if n not in walker.import_names and not n.startswith("_"))
    written, read = metric_flow(tree)
    return DataFlow(inputs=inputs, outputs=outputs, imports=tuple(sorted(walker.import_names)),
                    metrics_written=written, metrics_read=read)


# The calls that log a run metric, and those that read one: (function name, positional index
# of the metric name, its keyword). Only literal names count: a name computed at run time
# cannot order steps before the run.
_WRITES = {"log_metric": (0, "name")}
_READS = {"threshold": (0, "metric"), "better_than_champion": (0, "metric")}


def metric_flow(tree: ast.AST) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(metrics written, metrics read) by the calls in `tree`, in source order."""
    written: list[str] = []
    read: list[str] = []
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)),
                   key=lambda n: (n.lineno, n.col_offset))
    for node in calls:
        func = node.func
        owner = func.value if isinstance(func, ast.Attribute) else None
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in _WRITES and not (isinstance(owner, ast.Name) and owner.id == "mlflow"):
            # mlflow.log_metric goes to MLflow only; ctcd's log_metric feeds the run's metrics
            written += _literal_arg(node, *_WRITES[name])
        elif name in _READS:
            read += _literal_arg(node, *_READS[name])
        elif name == "mlflow_deploy":
            # metric=accuracy: the value of the criterion's metric, named as the variable is
            read += [k.value.id for k in node.keywords
                     if k.arg == "metric" and isinstance(k.value, ast.Name)]
    return tuple(_unique(written)), tuple(_unique(read))


def _literal_arg(call: ast.Call, index: int, keyword: str) -> list[str]:
    value: ast.AST | None = call.args[index] if len(call.args) > index else next(
        (k.value for k in call.keywords if k.arg == keyword), None)
    if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value:
        return [value.value]
    return []


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


class _Walker:
    """Walks top-level statements in execution order, tracking which names are bound so far."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.bound_anywhere: set[str] = set()
        self.bound_order: list[str] = []
        self.import_names: set[str] = set()
        self.inputs: list[str] = []
        self.deferred: list[str] = []

    # -- names -------------------------------------------------------------------------------
    def read(self, name: str) -> None:
        if name not in self.bound:
            self.inputs.append(name)

    def bind(self, name: str, *, is_import: bool = False) -> None:
        self.bound.add(name)
        self.bound_anywhere.add(name)
        self.bound_order.append(name)
        if is_import:
            self.import_names.add(name)
        else:
            self.import_names.discard(name)

    def unbind(self, name: str) -> None:
        # `del x` and the end of `except E as x:` remove the binding: x is no output.
        self.bound.discard(name)
        self.bound_order = [n for n in self.bound_order if n != name]

    def bind_target(self, target: ast.AST) -> None:
        # `a[i] = v` and `obj.attr = v` read a, i and obj (they mutate what must exist).
        for node in ast.walk(target):
            if isinstance(node, (ast.Attribute, ast.Subscript)):
                self.expr(node.value)
                if isinstance(node, ast.Subscript):
                    self.expr(node.slice)
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.bind(node.id)

    # -- statements --------------------------------------------------------------------------
    def block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.stmt(stmt)

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            self.expr(node.value)
            for target in node.targets:
                self.bind_target(target)
        elif isinstance(node, ast.AugAssign):
            self.expr(node.value)
            if isinstance(node.target, ast.Name):
                self.read(node.target.id)
            self.bind_target(node.target)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expr(node.value)
                self.bind_target(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._definition(node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                self.bind(alias.asname or alias.name.split(".")[0], is_import=True)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    self.bind(alias.asname or alias.name, is_import=True)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.expr(node.iter)
            self.bind_target(node.target)
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, (ast.While, ast.If)):
            self.expr(node.test)
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.bind_target(item.optional_vars)
            self.block(node.body)
        elif isinstance(node, _TRY_TYPES):
            self.block(node.body)
            for handler in node.handlers:
                if handler.type is not None:
                    self.expr(handler.type)
                if handler.name:
                    self.bind(handler.name)
                self.block(handler.body)
                if handler.name:
                    self.unbind(handler.name)
            self.block(node.orelse)
            self.block(node.finalbody)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.expr(target)
                if isinstance(target, ast.Name):
                    self.unbind(target.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)):
            pass
        elif _MATCH is not None and isinstance(node, _MATCH):
            self.expr(node.subject)
            for case in node.cases:
                for sub in ast.walk(case.pattern):
                    for attr in ("name", "rest"):
                        bound = getattr(sub, attr, None)
                        if isinstance(bound, str):
                            self.bind(bound)
                    if isinstance(sub, ast.MatchValue):
                        self.expr(sub.value)
                if case.guard is not None:
                    self.expr(case.guard)
                self.block(case.body)
        else:  # Expr, Return, Raise, Assert, ...
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)

    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.expr(decorator)
        if isinstance(node, ast.ClassDef):
            for base in [*node.bases, *(k.value for k in node.keywords)]:
                self.expr(base)
            self.deferred.extend(_free_names(node.body, set()))
        else:
            args = node.args
            for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
                self.expr(default)
            self.deferred.extend(_free_names(node.body, _arg_names(args)))
        self.bind(node.name)

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, (ast.Load, ast.Del)):
                self.read(node.id)
        elif isinstance(node, ast.NamedExpr):
            self.expr(node.value)
            self.bind_target(node.target)
        elif isinstance(node, ast.Lambda):
            self.deferred.extend(_free_names([node.body], _arg_names(node.args)))
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            # A comprehension runs now, in its own scope: its free names are read immediately.
            for name in _free_names([node], set()):
                self.read(name)
        else:
            for child in ast.iter_child_nodes(node):
                self.expr(child)


_TRY_TYPES: tuple[type, ...] = (ast.Try,) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
_MATCH = getattr(ast, "Match", None)


def _arg_names(args: ast.arguments) -> set[str]:
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    return names


def _free_names(body: list[ast.AST], local: set[str]) -> list[str]:
    """Names a nested scope reads that it does not bind itself (an over-approximation of
    Python's rule: a name assigned anywhere in a scope is local to it)."""
    bound = set(local)
    loads: list[str] = []
    for root in body:
        for node in ast.walk(root):
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    loads.append(node.id)
                else:
                    bound.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
                if not isinstance(node, ast.ClassDef):
                    bound |= _arg_names(node.args)
            elif isinstance(node, ast.Lambda):
                bound |= _arg_names(node.args)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound |= {a.asname or a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                # Explicitly global names refer to the cell's scope.
                loads.extend(node.names)
    return [n for n in _unique(loads) if n not in bound]
