"""A step: cell source with a name, and the names it reads (inputs) and writes (outputs)."""

from __future__ import annotations

import hashlib
import linecache
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import CodeType

from ..errors import StepDefinitionError
from .dataflow import analyze

__all__ = ["Step"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise StepDefinitionError(
            f"invalid {kind} name {name!r}: use letters, digits, '_' or '-', not starting "
            f"with a digit")
    return name


@dataclass(frozen=True)
class Step:
    """Build one with `Step(name, source)`; inputs/outputs are inferred unless given.

    `cache=False` makes the step run every time (for steps that read the outside world when
    you want that even in manual runs; scheduled runs never use the cache).
    """

    name: str
    source: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    cache: bool = True
    declared: tuple[str, ...] = field(default=(), compare=False)  # "inputs"/"outputs" if given
    # run metrics the source logs / needs logged first (by literal name): they order steps too
    metrics_written: tuple[str, ...] = field(default=(), compare=False)
    metrics_read: tuple[str, ...] = field(default=(), compare=False)

    def __init__(self, name: str, source: str, inputs: Iterable[str] | str | None = None,
                 outputs: Iterable[str] | str | None = None, cache: bool = True):
        check_name("step", name)
        if not isinstance(source, str):
            raise StepDefinitionError(f"step {name!r}: source must be a string of Python code",
                                      step=name)
        try:
            flow = analyze(source, filename=_filename(name))
        except SyntaxError as exc:
            where = f"line {exc.lineno}" if exc.lineno else "somewhere"
            raise StepDefinitionError(
                f"step {name!r} has a syntax error at {where}: {exc.msg}",
                step=name, lineno=exc.lineno) from None
        declared = []
        if inputs is not None:
            declared.append("inputs")
        if outputs is not None:
            declared.append("outputs")
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "source", source)
        set_(self, "inputs", _names(inputs, "inputs", name) if inputs is not None
             else flow.inputs)
        set_(self, "outputs", _names(outputs, "outputs", name) if outputs is not None
             else flow.outputs)
        set_(self, "cache", bool(cache))
        set_(self, "declared", tuple(declared))
        set_(self, "metrics_written", flow.metrics_written)
        # a step that logs a metric and then checks it reads its own value: no edge
        set_(self, "metrics_read", tuple(m for m in flow.metrics_read
                                         if m not in flow.metrics_written))

    @property
    def filename(self) -> str:
        return _filename(self.name)

    @property
    def source_hash(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def compile(self) -> CodeType:
        # Registering the source with linecache lets tracebacks show the failing line.
        lines = self.source.splitlines(keepends=True)
        linecache.cache[self.filename] = (len(self.source), None, lines, self.filename)
        return compile(self.source, self.filename, "exec")

    def to_dict(self) -> dict:
        data = {"name": self.name, "source": self.source, "cache": self.cache}
        if "inputs" in self.declared:
            data["inputs"] = list(self.inputs)
        if "outputs" in self.declared:
            data["outputs"] = list(self.outputs)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> Step:
        return cls(data["name"], data["source"], inputs=data.get("inputs"),
                   outputs=data.get("outputs"), cache=data.get("cache", True))

    def __repr__(self) -> str:
        return (f"Step({self.name!r}, inputs={list(self.inputs)}, outputs={list(self.outputs)}"
                + ("" if self.cache else ", cache=False") + ")")


def _filename(name: str) -> str:
    return f"<step {name}>"


def _names(value: Iterable[str] | str, what: str, step: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(dict.fromkeys(n.strip() for n in items if n and n.strip()))
    for item in names:
        if not item.isidentifier():
            raise StepDefinitionError(f"step {step!r}: {what} entry {item!r} is not a Python name",
                                      step=step)
    return names
