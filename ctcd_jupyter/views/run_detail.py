"""A run in full as HTML (the detail under a clicked row of `RunsView`). Colours are
JupyterLab's; the metric trends are views/trend.py's."""

from __future__ import annotations

from html import escape
from typing import Any

from .format import TONE_COLOURS, colour, duration, metric, when
from .runs import deployment_note

__all__ = ["mlflow_run_url", "run_detail_html"]

_MUTED, _BORDER = TONE_COLOURS["muted"], TONE_COLOURS["border"]
_CELL = f"padding:2px 10px 2px 0;border-bottom:1px solid {_BORDER};text-align:left"
_PRE = (f"white-space:pre-wrap;margin:2px 0;padding:4px;border:1px solid {_BORDER};"
        "max-height:240px;overflow:auto;font-family:var(--jp-code-font-family, monospace);"
        f"font-size:var(--jp-code-font-size, 12px);color:{TONE_COLOURS['text']}")


def _value(state: Any) -> str:
    return str(getattr(state, "value", state))


def mlflow_run_url(ui: str | None, experiment_id: str | None, run_id: str | None) -> str | None:
    """`<ui>/#/experiments/<id>/runs/<run>`: the run's page in the MLflow UI."""
    if not ui or not run_id:
        return None
    if experiment_id is None:
        return f"{ui.rstrip('/')}/#/runs/{run_id}"  # MLflow redirects to the experiment
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def _section(title: str, body: str) -> str:
    return (f"<div style='margin-top:6px'><div style='color:{_MUTED};font-size:90%'>"
            f"{escape(title)}</div>{body}</div>")


def _pairs(items: dict[str, Any]) -> str:
    return ", ".join(f"<code>{escape(str(k))}</code>={escape(metric(v))}"
                     for k, v in items.items())


def run_detail_html(run: Any, *, mlflow_url: str | None = None) -> str:
    """Steps (status, duration, cached), parameters, the values read from the notebook,
    metrics, the deployment decision, the full error, each step's log, and a link to the run
    in MLflow."""
    head = (f"<b>run {escape(run.id)}</b> · {escape(run.pipeline)} · "
            f"<span style='color:{colour(run.status)};font-weight:600'>"
            f"{escape(_value(run.status))}</span> · {escape(run.trigger)} · "
            f"started {escape(when(run.started_at))} · {escape(duration(run.duration))}")
    if mlflow_url:
        head += (f" · <a href='{escape(mlflow_url)}' target='_blank' rel='noopener' "
                 f"style='color:{TONE_COLOURS['info']};text-decoration:underline'>"
                 "open in MLflow</a>")
    elif run.mlflow_run_id:
        head += f" · <span style='color:{_MUTED}'>MLflow run {escape(run.mlflow_run_id)}</span>"
    rows = []
    for step in run.steps:
        status = _value(step.status)
        took = "-" if step.duration is None else duration(step.duration, compact=True)
        notes = "; ".join([*step.notes, *(f"{k}={metric(v)}" for k, v in step.metrics.items())])
        log = (f"<details><summary style='cursor:pointer;color:{_MUTED}'>log "
               f"({len(step.log.splitlines())} lines)</summary><pre style='{_PRE}'>"
               f"{escape(step.log.rstrip())}</pre></details>") if step.log.strip() else ""
        rows.append(
            f"<tr><td style='{_CELL}'>{escape(step.name)}</td>"
            f"<td style='{_CELL};color:{colour(status)};font-weight:600'>{status}</td>"
            f"<td style='{_CELL}'>{took}</td>"
            f"<td style='{_CELL}'>{'yes' if status == 'CACHED' else 'no'}</td>"
            f"<td style='{_CELL}'>{escape(notes)}{log}</td></tr>")
    parts = [f"<div>{head}</div>"]
    if rows:
        header = "".join(f"<th style='{_CELL};color:{_MUTED}'>{h}</th>"
                         for h in ("step", "status", "time", "cached", "notes / log"))
        parts.append(f"<table style='border-collapse:collapse;margin-top:4px'><tr>{header}</tr>"
                     f"{''.join(rows)}</table>")
    if run.params:
        parts.append(_section("parameters", _pairs(run.params)))
    read = getattr(run, "namespace", None)
    if read:
        parts.append(_section("read from the notebook", ", ".join(
            f"<code>{escape(name)}</code>={escape(str(entry.get('repr')))}"
            f"<span style='color:{_MUTED}' title='content hash'> #{escape(str(entry.get('hash')))}"
            "</span>" for name, entry in read.items())))
    if run.metrics:
        parts.append(_section("metrics", _pairs(run.metrics)))
    decision = getattr(run, "deployment", None)
    if decision:
        reason = decision.get("reason")
        model = decision.get("model_name")
        parts.append(_section("deployment", escape(deployment_note(decision))
                              + (f" <span style='color:{_MUTED}'>({escape(str(reason))})</span>"
                                 if reason else "")
                              + (f" <span style='color:{_MUTED}'>— in production: "
                                 f"<code>%monitor {escape(str(model))}</code></span>"
                                 if model else "")))
    for warning in run.warnings:
        parts.append(f"<div style='color:{TONE_COLOURS['warn']}'>warning: {escape(warning)}</div>")
    if run.error:
        parts.append(_section("error" + (f" in step {run.failed_step}" if run.failed_step else ""),
                              f"<pre style='{_PRE};color:{TONE_COLOURS['error']}'>"
                              f"{escape(run.error.rstrip())}</pre>"))
    stray = run.log.strip() if not any(s.log.strip() for s in run.steps) else ""
    if stray:
        parts.append(_section("log", f"<pre style='{_PRE}'>{escape(stray)}</pre>"))
    return (f"<div style='color:{TONE_COLOURS['text']};padding:6px 8px;"
            f"border-left:3px solid {colour(run.status)}'>{''.join(parts)}</div>")

