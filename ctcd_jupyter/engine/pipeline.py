"""Pipelines: named lists of steps whose order comes from the data flow between them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from ..errors import ParameterError, PipelineDefinitionError, advice, unknown_name
from ..views.pipelines import pipeline_text
from .context import Context, Scheduled, default_context
from .executor import execute
from .steps import Step, check_name

if TYPE_CHECKING:
    from .run import Run

__all__ = ["Graph", "Pipeline", "build_graph"]


@dataclass(frozen=True)
class Graph:
    """The DAG of a pipeline: steps in run order, edges (producer, consumer, name), and the
    names no step produces (`external`: name -> steps that read it). A step that needs a run
    metric another step logs has an edge too, named `metric NAME` (no value passes on it)."""

    steps: tuple[Step, ...]
    edges: tuple[tuple[str, str, str], ...]
    external: Mapping[str, tuple[str, ...]]
    producers: Mapping[str, str]

    def upstream(self, step: str) -> set[str]:
        return {p for p, c, _ in self.edges if c == step}

    def consumers(self, step: str, name: str) -> list[str]:
        return [c for p, c, n in self.edges if p == step and n == name]


METRIC_EDGE = "metric "  # the name of an edge that orders a metric's reader after its logger


def build_graph(name: str, steps: Sequence[Step]) -> Graph:
    """Order `steps` by their data flow and the metrics they log and read;
    PipelineDefinitionError on two writers or a cycle."""
    producers: dict[str, str] = {}
    for step in steps:
        for output in step.outputs:
            other = producers.setdefault(output, step.name)
            if other != step.name:
                raise PipelineDefinitionError(
                    f"pipeline {name!r}: steps {other!r} and {step.name!r} both write {output!r}; "
                    f"a name must have one producer (rename one, e.g. {output}_{step.name})",
                    pipeline=name)
    edges: list[tuple[str, str, str]] = []
    external: dict[str, list[str]] = {}
    for step in steps:
        for needed in step.inputs:
            producer = producers.get(needed)
            if producer is None or producer == step.name:
                external.setdefault(needed, []).append(step.name)
            else:
                edges.append((producer, step.name, needed))
    names = [s.name for s in steps]
    _toposort(name, names, edges)  # a cycle of values is named as such, before metrics
    linked = {(p, c) for p, c, _ in edges}  # a value already orders them: no second edge
    metric_edges = [(writer.name, reader.name, f"{METRIC_EDGE}{metric}")
                    for reader in steps for metric in reader.metrics_read
                    for writer in steps
                    if writer is not reader and metric in writer.metrics_written
                    and (writer.name, reader.name) not in linked]
    order = _toposort(name, names, edges + metric_edges)
    by_name = {s.name: s for s in steps}
    return Graph(steps=tuple(by_name[n] for n in order), edges=tuple(edges + metric_edges),
                 external={k: tuple(v) for k, v in external.items()}, producers=producers)


def _toposort(pipeline: str, names: list[str], edges: list[tuple[str, str, str]]) -> list[str]:
    # Kahn's algorithm; ties keep the order the user listed the steps in.
    parents: dict[str, set[str]] = {n: set() for n in names}
    for producer, consumer, _ in edges:
        parents[consumer].add(producer)
    order: list[str] = []
    remaining = list(names)
    while remaining:
        ready = next((n for n in remaining if not parents[n] - set(order)), None)
        if ready is None:
            raise PipelineDefinitionError(
                f"pipeline {pipeline!r}: {_cycle_text(remaining, edges)}", pipeline=pipeline)
        order.append(ready)
        remaining.remove(ready)
    return order


def _cycle_text(names: list[str], edges: list[tuple[str, str, str]]) -> str:
    cycle = _find_cycle(names, edges)
    drawn = " ".join([cycle[0][0], *(f"-({value})-> {step}" for step, value in cycle[1:])]) \
        if cycle else ", ".join(names)
    metric = next(((cycle[i - 1][0], step, value) for i, (step, value) in enumerate(cycle)
                   if i and value.startswith(METRIC_EDGE)), None)
    if metric is None:
        return f"has a cycle: {drawn}"
    writer, reader, value = metric
    return (f"{reader} needs {value[len(METRIC_EDGE):]!r}, logged by {writer}, which runs after "
            f"it (cycle: {drawn}); log the metric in a step that does not need {reader}")


def _find_cycle(names: list[str], edges: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """[(a, _), (b, v1), ..., (a, vn)]: a -(v1)-> b -> ... -(vn)-> a; [] if there is none."""
    children: dict[str, list[tuple[str, str]]] = {n: [] for n in names}
    for producer, consumer, value in edges:
        if producer in children and consumer in children:
            children[producer].append((consumer, value))
    path: list[tuple[str, str]] = []
    on_path: set[str] = set()
    seen: set[str] = set()

    def visit(node: str) -> list[tuple[str, str]] | None:
        on_path.add(node)
        for child, value in children[node]:
            path.append((child, value))
            if child in on_path:
                start = next(i for i, (n, _) in enumerate(path) if n == child)
                return path[start:]
            if child not in seen:
                found = visit(child)
                if found:
                    return found
            path.pop()
        on_path.discard(node)
        seen.add(node)
        return None

    for node in names:
        path[:] = [(node, "")]
        found = visit(node)
        if found:
            return found
    return []


class Pipeline:
    """A named list of steps. Steps are looked up by name in the workspace each time the
    pipeline is used, so re-running a `%%step` cell changes the pipeline too."""

    def __init__(self, name: str, steps: Sequence[Step | str], *,
                 workspace: Context | None = None):
        check_name("pipeline", name)
        if not steps:
            raise PipelineDefinitionError(f"pipeline {name!r} needs at least one step",
                                          pipeline=name)
        self.name = name
        # `workspace=` names the Context the pipeline lives in (a ctcd.Workspace, usually).
        self.context: Context = workspace or default_context()
        names = []
        for step in steps:
            if isinstance(step, Step):
                self.context.add_step(step)
                step = step.name
            names.append(step)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PipelineDefinitionError(
                f"pipeline {name!r} lists step(s) twice: {', '.join(duplicates)}", pipeline=name)
        self.step_names = tuple(names)
        self.graph()  # fail now, not at the first run, on unknown steps, cycles, two writers
        self.context.add_pipeline(self)

    @property
    def workspace(self) -> Context:
        """The context (a ctcd.Workspace, usually) this pipeline lives in."""
        return self.context

    @property
    def steps(self) -> list[Step]:
        known = self.context.steps
        missing = [n for n in self.step_names if n not in known]
        if missing:
            also = f"; also unknown: {', '.join(missing[1:])}" if missing[1:] else ""
            define = advice(python="ctcd.Step(NAME, source)", magic="a %%step NAME cell")
            raise PipelineDefinitionError(
                f"pipeline {self.name!r}: {unknown_name('step', missing[0], known)}{also}; "
                f"define it with {define} first", pipeline=self.name)
        return [known[n] for n in self.step_names]

    def graph(self) -> Graph:
        return build_graph(self.name, self.steps)

    def check_params(self, params: Mapping[str, Any], graph: Graph | None = None) -> None:
        graph = graph or self.graph()
        unknown = [k for k in params if k not in graph.external]
        if unknown:
            also = f"; also unknown: {', '.join(unknown[1:])}" if unknown[1:] else ""
            raise ParameterError(
                f"pipeline {self.name!r}: {unknown_name('parameter', unknown[0], graph.external)}"
                f"{also} (a parameter is a name its steps read from outside)", names=unknown)

    @overload
    def run(self, params: Mapping[str, Any] | None = None, schedule: None = None, *,
            cache: bool | None = None, namespace: Mapping[str, Any] | None = None,
            trigger: str = "manual", on_wait: Callable[[str], None] | None = None) -> Run: ...

    @overload
    def run(self, params: Mapping[str, Any] | None, schedule: Any, *,
            cache: bool | None = None, namespace: Mapping[str, Any] | None = None,
            trigger: str = "manual", on_wait: Callable[[str], None] | None = None,
            ) -> Scheduled: ...

    @overload
    def run(self, params: Mapping[str, Any] | None = None, *, schedule: Any,
            cache: bool | None = None, namespace: Mapping[str, Any] | None = None,
            trigger: str = "manual", on_wait: Callable[[str], None] | None = None,
            ) -> Scheduled: ...

    def run(self, params: Mapping[str, Any] | None = None, schedule: Any = None, *,
            cache: bool | None = None, namespace: Mapping[str, Any] | None = None,
            trigger: str = "manual", on_wait: Callable[[str], None] | None = None,
            ) -> Run | Scheduled:
        """Run now and return the finished `Run`; with `schedule` (a ctcd.Schedule), register
        it with the context's scheduler instead and return the schedule's record (a
        `ScheduleRecord`; the engine does not know schedules: `Workspace.schedule` does).

        `cache=None` means: use the cache for manual runs, never for scheduled ones (continuous
        training exists to see fresh data)."""
        if schedule is not None:
            return self.context.schedule(self, schedule, params=params)
        return execute(self, params=dict(params or {}), namespace=namespace,
                       cache=True if cache is None else cache, trigger=trigger, on_wait=on_wait)

    def to_dict(self) -> dict:
        """The definition with its steps' sources, so it can be restored in a new kernel."""
        return {"name": self.name, "steps": [s.to_dict() for s in self.steps]}

    def describe(self) -> str:
        """Text for `%pipeline show`: steps in run order with what they read and write."""
        return pipeline_text(self, self.context.user_namespace())

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={list(self.step_names)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.describe())
