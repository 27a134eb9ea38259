"""Resolve the names a pipeline reads from the notebook into code that travels: import lines,
the source of notebook-defined functions and classes, and JSON constants (parameter defaults).

Used by `ctcd_jupyter.export`; whatever cannot travel is collected, never guessed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engine.dataflow import analyze

__all__ = ["Resolution", "Unportable", "resolve_names"]

_NOTEBOOK_MODULES = {"__main__", "builtins", None}


@dataclass(frozen=True)
class Unportable:
    """A name that cannot be written into the exported file, why, and what to do instead."""

    name: str
    why: str
    fix: str
    read_by: str = ""

    def __str__(self) -> str:
        by = f" (read by {self.read_by})" if self.read_by else ""
        return f"{self.name}{by}: {self.why}; {self.fix}"


@dataclass
class Resolution:
    """What the exported file needs: `imports` (lines), `definitions` (name -> source, in an
    order where what a definition uses at definition time comes first), `constants`
    (name -> JSON value), and `problems` (every name that cannot travel)."""

    imports: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    problems: list[Unportable] = field(default_factory=list)


def resolve_names(names: Mapping[str, str], namespace: Mapping[str, Any]) -> Resolution:
    """Resolve each of `names` (name -> who reads it, for messages) from `namespace`; the names
    notebook functions read are resolved too."""
    resolver = _Resolver(namespace)
    for name, reader in names.items():
        resolver.resolve(name, reader)
    return resolver.result


class _Resolver:
    def __init__(self, namespace: Mapping[str, Any]):
        self.namespace = namespace
        self.result = Resolution()
        self.seen: set[str] = set()

    def resolve(self, name: str, reader: str) -> None:
        if name in self.seen:
            return
        self.seen.add(name)
        if name not in self.namespace:
            self._problem(name, "not defined in the notebook",
                          "define it in a cell, or give it as a parameter (--param "
                          f"{name}=VALUE)", reader)
            return
        value = self.namespace[name]
        for kind in _KINDS:
            if kind(self, name, value, reader):
                return

    def _problem(self, name: str, why: str, fix: str, reader: str) -> None:
        self.result.problems.append(Unportable(name, why, fix, reader))

    # -- the kinds, tried in order (each returns True when it handled the value) ------------
    def module(self, name: str, value: Any, reader: str) -> bool:
        if not isinstance(value, types.ModuleType):
            return False
        module = value.__name__
        if module == "__main__" or getattr(value, "__spec__", None) is None:
            self._problem(name, "a module that is not importable by name",
                          "install it as a package, or copy what the steps use into a cell",
                          reader)
        elif module == name:
            self.result.imports[name] = f"import {module}"
        elif "." not in module or module.rsplit(".", 1)[1] != name:
            self.result.imports[name] = f"import {module} as {name}"
        else:
            parent, child = module.rsplit(".", 1)
            self.result.imports[name] = f"from {parent} import {child}"
        return True

    def importable(self, name: str, value: Any, reader: str) -> bool:
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(qualname, str) \
                or module in _NOTEBOOK_MODULES or not callable(value):
            return False
        if "<locals>" in qualname or "<lambda>" in qualname:
            return False
        if _import_attr(module, qualname) is not value:
            return False
        module = _public_module(module, qualname, value)
        if "." in qualname:  # a method or nested class: import the outer object, then assign
            outer = qualname.split(".")[0]
            self.result.imports[name] = (f"from {module} import {outer}\n"
                                         f"{name} = {qualname}")
        else:
            alias = "" if qualname == name else f" as {name}"
            self.result.imports[name] = f"from {module} import {qualname}{alias}"
        return True

    def notebook_code(self, name: str, value: Any, reader: str) -> bool:
        if not isinstance(value, (types.FunctionType, type)):
            return False
        what = "a class" if isinstance(value, type) else "a function"
        closure = getattr(value, "__closure__", None)
        if closure:
            free = ", ".join(value.__code__.co_freevars)
            self._problem(name, f"{what} that closes over local values ({free})",
                          "define it at the top level of a cell and pass the values as "
                          "arguments", reader)
            return True
        if getattr(value, "__name__", "") == "<lambda>":
            reads = [n for n in value.__code__.co_names if n in self.namespace]
            self._problem(name, "a lambda" + (f" reading {', '.join(reads)} from the notebook"
                                              if reads else ""),
                          "define it with def in a cell (and read data inside a step)", reader)
            return True
        if getattr(value, "__module__", None) not in _NOTEBOOK_MODULES:
            qual = getattr(value, "__qualname__", name)
            self._problem(name, f"{qual} of module {value.__module__} cannot be imported by name",
                          "define it at the top level of a module or of a cell", reader)
            return True
        source, why = _definition_source(name, value, self.namespace)
        if source is None:
            self._problem(name, f"{what} whose source cannot be found ({why})",
                          "define it with def/class in a cell of this notebook and run the cell",
                          reader)
            return True
        try:
            needs = analyze(source).inputs
        except SyntaxError:
            needs = ()
        for needed in needs:
            if needed != name:
                self.resolve(needed, f"{name}()")
        self.result.definitions[name] = source
        return True

    def constant(self, name: str, value: Any, reader: str) -> bool:
        if not _is_json(value):
            return False
        self.result.constants[name] = value
        return True

    def other(self, name: str, value: Any, reader: str) -> bool:
        why, fix = _why_not(name, value)
        self._problem(name, why, fix, reader)
        return True


_KINDS = (_Resolver.module, _Resolver.importable, _Resolver.notebook_code, _Resolver.constant,
          _Resolver.other)


def _import_attr(module: str, qualname: str) -> Any:
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    except Exception:  # not importable here: not importable anywhere, as far as we can tell
        return None


def _public_module(module: str, qualname: str, value: Any) -> str:
    """The shortest public module that exports the object: `sklearn.linear_model`, not
    `sklearn.linear_model._logistic` (private modules move between releases)."""
    parts = module.split(".")
    for end in range(1, len(parts)):
        candidate = ".".join(parts[:end])
        if any(p.startswith("_") for p in parts[:end]):
            break
        if _import_attr(candidate, qualname) is value:
            return candidate
    return module


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        try:
            return json.loads(json.dumps(value)) == value
        except (TypeError, ValueError):
            return False
    if type(value) in (list, dict):
        try:
            return json.loads(json.dumps(value, allow_nan=False)) == value
        except (TypeError, ValueError):
            return False
    return False


def _why_not(name: str, value: Any) -> tuple[str, str]:
    """Why a value cannot travel and what to do, by the kind of value."""
    kind = type(value)
    qual = f"{kind.__module__}.{kind.__qualname__}"
    if qual.startswith("pandas.") and kind.__name__ in ("DataFrame", "Series"):
        return (f"a {kind.__name__} in the notebook",
                f"read it inside a step, or pass its path or URL with --param {name}=...")
    if qual.startswith("numpy.") and kind.__name__ == "ndarray":
        return ("a numpy array in the notebook",
                f"compute or load it inside a step, or pass it with --param {name}=[...]")
    if isinstance(value, types.FunctionType) and value.__name__ == "<lambda>":
        return ("a lambda", "define it with def in a cell")
    if _is_connection(value):
        return (f"an open {kind.__name__} (a connection or file handle)",
                "open it inside the step that uses it")
    if isinstance(value, (types.GeneratorType, types.CoroutineType)):
        return (f"a running {kind.__name__}", "create it inside the step that uses it")
    if isinstance(value, (tuple, set, frozenset, float)):
        return (f"a {kind.__name__} that JSON cannot hold exactly",
                "use a list or a finite number, or build it inside a step")
    return (f"a {kind.__name__} object in the notebook (only modules, importable or "
            "notebook-defined functions and classes, and JSON values travel)",
            "create it inside a step, or in a function defined in a cell")


def _is_connection(value: Any) -> bool:
    import io
    import socket

    if isinstance(value, (io.IOBase, socket.socket)):
        return True
    return callable(getattr(value, "cursor", None)) or callable(getattr(value, "recv", None))


def _definition_source(name: str, value: Any, namespace: Mapping[str, Any]
                       ) -> tuple[str | None, str]:
    """The `def`/`class` source of a notebook object, from inspect (IPython keeps each cell in
    linecache), else from the notebook's input history (`In`), newest cell first."""
    own_name = value.__name__
    if own_name == "<lambda>":
        return None, "a lambda has no definition of its own"
    try:
        source = inspect.getsource(value)
        if _defines(source, own_name):
            return _renamed(source, own_name, name), ""
    except (OSError, TypeError):
        pass
    history = namespace.get("In") or namespace.get("_ih") or []
    for cell in reversed(list(history)):
        source = _definition_in(cell, own_name)
        if source is not None:
            return _renamed(source, own_name, name), ""
    return None, "not in linecache nor in the notebook's history"


def _defines(source: str, name: str) -> bool:
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               and n.name == name for n in tree.body)


def _definition_in(cell: str, name: str) -> str | None:
    lines = cell.splitlines()
    if lines and lines[0].startswith("%%"):
        lines = lines[1:]  # a %%step cell: the body is Python
    text = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.name == name:
            found = node  # the last definition in the cell wins, as when it ran
    if found is None:
        return None
    start = min([found.lineno, *(d.lineno for d in found.decorator_list)])
    return "\n".join(text.splitlines()[start - 1:found.end_lineno]) + "\n"


def _renamed(source: str, own_name: str, name: str) -> str:
    import textwrap

    source = textwrap.dedent(source)
    if not source.endswith("\n"):
        source += "\n"
    if own_name != name:  # bound under another name in the notebook (g = f)
        source += f"{name} = {own_name}\n"
    return source
