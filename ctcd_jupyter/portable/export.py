"""Export a notebook pipeline as one readable, self-contained Python file that runs anywhere:
`python FILE`, `ctcd run FILE`, or as a Prefect flow (`ctcd prefect serve|deploy FILE`).

The file holds the steps' sources in run order, the names they read from the notebook resolved
(`portable.resolve`), the parameters and the schedule; `portable.runfile` runs it.
"""

from __future__ import annotations

import json
import os
import pprint
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExportError
from .resolve import Resolution, Unportable, resolve_names

if TYPE_CHECKING:
    from ..engine.pipeline import Pipeline

__all__ = ["MARKER", "ExportError", "export_pipeline", "export_source"]

# The first line of every file ctcd writes: re-exporting overwrites only such files.
MARKER = "# ctcd-export:"


def export_pipeline(pipeline: Pipeline | str, path: str | os.PathLike | None = None, *,
                    params: Mapping[str, Any] | None = None,
                    namespace: Mapping[str, Any] | None = None) -> Path:
    """Write `pipeline` as one Python file (default `NAME_pipeline.py` in the working directory,
    i.e. beside the notebook) and return its path.

    `params` are defaults for the pipeline's parameters (names no step writes and the notebook
    does not define). Raises ExportError listing every name that cannot travel, and refuses to
    overwrite a file that ctcd did not write; in both cases nothing is written."""
    pipeline = _pipeline(pipeline)
    target = Path(path) if path is not None else Path.cwd() / f"{pipeline.name}_pipeline.py"
    if target.is_dir():
        target = target / f"{pipeline.name}_pipeline.py"
    if target.exists():
        first = target.read_text(errors="replace").split("\n", 1)[0]
        if not first.startswith(MARKER):
            raise ExportError(
                f"{target.name} exists and was not written by ctcd; choose another path or "
                f"move that file away", pipeline=pipeline.name, path=str(target))
    text = export_source(pipeline, params=params, namespace=namespace)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, target)
    return target


def export_source(pipeline: Pipeline | str, *, params: Mapping[str, Any] | None = None,
                  namespace: Mapping[str, Any] | None = None) -> str:
    """The text `export_pipeline` writes (raises ExportError the same way)."""
    from ..errors import ParameterError, PipelineDefinitionError

    pipeline = _pipeline(pipeline)
    params = dict(params or {})
    try:
        graph = pipeline.graph()
        pipeline.check_params(params, graph)
    except (PipelineDefinitionError, ParameterError) as exc:
        raise ExportError(f"cannot export pipeline {pipeline.name!r}: {exc}",
                          pipeline=pipeline.name) from None
    namespace = namespace if namespace is not None else pipeline.context.user_namespace()
    both = [k for k in params if k in namespace]
    if both:
        listing = ", ".join(f"{k} (notebook: {_short(namespace[k])}, param: {params[k]!r})"
                            for k in both)
        raise ExportError(
            f"cannot export pipeline {pipeline.name!r}: {listing} is both a parameter and a "
            "notebook variable; drop the parameter or `del` the variable, so the file has "
            "one value", pipeline=pipeline.name)
    schedule, schedule_params = _stored_schedule(pipeline)
    for key, value in schedule_params.items():
        params.setdefault(key, value)
    wanted = {n: ", ".join(r) for n, r in graph.external.items() if n not in params}
    resolution = resolve_names(wanted, namespace)
    # Names nobody defined are the pipeline's parameters: required unless given a default.
    required = [p.name for p in resolution.problems if p.why == "not defined in the notebook"
                and p.name in graph.external]
    problems = [p for p in resolution.problems if p.name not in required]
    bad_params = [k for k, v in params.items() if not _jsonable(v)]
    problems += [Unportable(k, f"parameter default {_short(params[k])} is not a JSON value",
                            "give a number, string, bool, list or dict") for k in bad_params]
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise ExportError(
            f"cannot export pipeline {pipeline.name!r}: {len(problems)} name(s) cannot travel "
            f"({', '.join(p.name for p in problems)}); nothing was written:\n{lines}",
            pipeline=pipeline.name, problems=problems)
    return _render(pipeline, graph, resolution, params, required, schedule)


def _pipeline(pipeline: Pipeline | str) -> Pipeline:
    if isinstance(pipeline, str):
        from ..workspace import get_workspace

        return get_workspace().get_pipeline(pipeline)
    return pipeline


def _stored_schedule(pipeline: Pipeline) -> tuple[dict | None, dict]:
    """The pipeline's schedule (interval or cron and zone; start and end times are moments of
    this notebook, not of the pipeline) and the params it runs with, if it has one."""
    from ..schedules.records import load_schedule_record

    data = load_schedule_record(pipeline.workspace.store, pipeline.name)
    if data is None:
        return None, {}
    stored = dict((data.get("record") or {}).get("schedule") or data.get("schedule") or {})
    schedule = {k: stored[k] for k in ("interval_second", "cron_expression", "tz", "catchup")
                if stored.get(k) not in (None, False)}
    return schedule or None, dict(data.get("params") or {})


def _jsonable(value: Any) -> bool:
    try:
        return json.loads(json.dumps(value, allow_nan=False)) == value
    except (TypeError, ValueError):
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _literal(source: str) -> str:
    """A step's source as a readable string literal: raw triple quotes when that is exact."""
    body = source if source.endswith("\n") else source + "\n"
    if "'''" not in body and not body.endswith("\\\n") and "\\" not in body:
        return "'''\\\n" + body + "'''"
    return repr(body)


def _render(pipeline: Pipeline, graph: Any, resolution: Resolution, params: dict,
            required: list[str], schedule: dict | None) -> str:
    name = pipeline.name
    constants = {k: v for k, v in resolution.constants.items()}
    defaults = dict(params)
    # Constants the steps read become parameter defaults; those only helpers read stay
    # module constants (the helpers read them as globals).
    step_read = set(graph.external)
    for key in [k for k in constants if k in step_read]:
        defaults[key] = constants.pop(key)
    out = [
        f"{MARKER} pipeline {name} (written by ctcd_jupyter.export_pipeline; re-exporting "
        "overwrites this file)",
        f'"""Pipeline {name}: {" -> ".join(s.name for s in graph.steps)}, exported from a '
        "notebook.",
        "",
        f"Run it:  python {name}_pipeline.py [--param K=V ...]",
        f"         ctcd run {name}_pipeline.py [--param K=V ...]",
        f"         ctcd prefect serve {name}_pipeline.py --every 1h",
        'State: $CTCD_HOME (else ./.ctcd); MLflow: $MLFLOW_TRACKING_URI (else the state folder).',
        '"""',
        "",
        "import ctcd_jupyter as ctcd",
    ]
    imports = [line for key, line in sorted(resolution.imports.items()) if key != "ctcd"
               or line != "import ctcd_jupyter as ctcd"]
    if imports:
        out += ["", "# -- names the steps read from the notebook: imports"]
        out += sorted(imports, key=lambda line: (line.startswith("from"), line))
    if constants:
        out += ["", "# -- constants the notebook functions below read"]
        out += [f"{k} = {v!r}" for k, v in sorted(constants.items())]
    if resolution.definitions:
        out += ["", "", "# -- functions and classes defined in the notebook"]
        for source in resolution.definitions.values():
            out += ["", source.rstrip("\n"), ""]
    out += ["", "# -- parameters: defaults, overridden by --param K=V (values are Python literals)"]
    out.append(f"PARAMETERS = {pprint.pformat(defaults, width=96, sort_dicts=True)}")
    out.append(f"REQUIRED = {required!r}  # parameters without a default: give them with --param")
    out += ["", "# -- the notebook's schedule (ctcd prefect serve uses it without --cron/--every)"]
    out.append(f"SCHEDULE = {_schedule_code(schedule)}")
    out += ["", "# -- the steps, in run order: name, source, what they read and write, caching",
            f"PIPELINE = {name!r}", "STEPS = ["]
    for step in graph.steps:
        # Inferred inputs/outputs are shown, declared ones are passed (passing inferred ones
        # would make every output "needed" and change what a run must store).
        out.append(f"    # {step.name}: reads {', '.join(step.inputs) or '-'}; writes "
                   f"{', '.join(step.outputs) or '-'}" + ("" if step.cache else "; no cache"))
        args = [repr(step.name), _literal(step.source)]
        if "inputs" in step.declared:
            args.append(f"inputs={list(step.inputs)!r}")
        if "outputs" in step.declared:
            args.append(f"outputs={list(step.outputs)!r}")
        if not step.cache:
            args.append("cache=False")
        out.append(f"    ctcd.Step({', '.join(args)}),")
    out += ["]", "", "", 'if __name__ == "__main__":',
            "    from ctcd_jupyter.portable.runfile import main",
            "",
            "    raise SystemExit(main(globals()))", ""]
    return "\n".join(out)


def _schedule_code(schedule: dict | None) -> str:
    if not schedule:
        return "None"
    args = ", ".join(f"{k}={v!r}" for k, v in schedule.items())
    return f"ctcd.Schedule({args})"
