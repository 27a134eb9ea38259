"""A pipeline's DAG as text (`%pipeline show` in a terminal) and as Mermaid (`text/vnd.mermaid`,
which JupyterLab draws), with what its steps read from the notebook."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import Any

__all__ = ["external_names", "pipeline_bundle", "pipeline_mermaid", "pipeline_text"]


def external_names(graph: Any, namespace: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(values read from the notebook, parameters): names no step writes, split by whether
    the notebook defines them. Modules and classes are left out: they are the code's tools,
    not its data (`np`, `LogisticRegression`)."""
    found = sorted(n for n in graph.external if n in namespace
                   and not isinstance(namespace[n], (types.ModuleType, type)))
    params = sorted(n for n in graph.external if n not in namespace)
    return found, params


def pipeline_text(pipeline: Any, namespace: Mapping[str, Any]) -> str:
    """Steps in run order with what they read and write, the edges, and the outside names."""
    graph = pipeline.graph()
    lines = [f"pipeline {pipeline.name}: {len(graph.steps)} steps"]
    for index, step in enumerate(graph.steps, 1):
        upstream = {n: p for p, c, n in graph.edges if c == step.name}
        reads = [f"{n}<-{upstream[n]}" if n in upstream else n for n in step.inputs]
        lines.append(f"  {index}. {step.name}" + ("" if step.cache else "  [no cache]"))
        lines.append(f"       reads:  {', '.join(reads) or '-'}")
        lines.append(f"       writes: {', '.join(step.outputs) or '-'}")
        if step.metrics_read or step.metrics_written:
            lines.append(f"       metrics: logs {', '.join(step.metrics_written) or '-'}; "
                         f"needs {', '.join(step.metrics_read) or '-'}")
    if graph.edges:
        lines.append("edges:")
        lines += [f"  {p} -> {c}  ({n})" for p, c, n in graph.edges]
    found, params = external_names(graph, namespace)
    lines.append("from the notebook: " + (", ".join(found) or "-"))
    lines.append("parameters (give with --param, or define them): " + (", ".join(params) or "-"))
    return "\n".join(lines)


def _node(name: str, kind: str = "s") -> str:
    return f"{kind}_" + re.sub(r"\W", "_", name)


def pipeline_mermaid(pipeline: Any, namespace: Mapping[str, Any]) -> str:
    """`flowchart LR`: a node per step, an edge per name passed on (labelled with the names),
    parameters and notebook values as rounded inputs."""
    graph = pipeline.graph()
    lines = ["flowchart LR"]
    for step in graph.steps:
        label = step.name + ("" if step.cache else " (no cache)")
        lines.append(f'  {_node(step.name)}["{label}"]')
    merged: dict[tuple[str, str], list[str]] = {}
    for producer, consumer, name in graph.edges:
        merged.setdefault((producer, consumer), []).append(name)
    for (producer, consumer), names in merged.items():
        lines.append(f'  {_node(producer)} -->|"{", ".join(names)}"| {_node(consumer)}')
    found, params = external_names(graph, namespace)
    # helper functions are the code's tools too: the drawing shows the data coming in
    found = [n for n in found if not callable(namespace[n])]
    for kind, names in (("notebook", found), ("param", params)):
        for name in names:
            node = _node(name, kind)
            lines.append(f'  {node}(["{name}"])')
            lines += [f"  {node} -.-> {_node(reader)}" for reader in graph.external[name]]
    return "\n".join(lines)


def pipeline_bundle(pipeline: Any, namespace: Mapping[str, Any]) -> dict[str, str]:
    """The mime bundle of `%pipeline show`: Mermaid where the front end draws it, text else."""
    return {"text/vnd.mermaid": pipeline_mermaid(pipeline, namespace),
            "text/plain": pipeline_text(pipeline, namespace)}
