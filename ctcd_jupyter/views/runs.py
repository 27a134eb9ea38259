"""Runs as text (the `%runs` table, a run in full), HTML (a run in a notebook) and JSON (the CLI's
`--json` and the REST API share `run_json`)."""

from __future__ import annotations

from html import escape
from typing import Any

from .format import colour, duration, metric, shorten, table, when

__all__ = ["run_html", "run_note", "run_text", "runs_table"]


def _value(state: Any) -> str:
    return str(getattr(state, "value", state))


def run_note(run: Any) -> str:
    """The last column of a run list: metrics, or why a run failed or was skipped."""
    note = " ".join(f"{k}={metric(v)}" for k, v in run.metrics.items())
    status = _value(run.status)
    if status == "FAILED":
        last = (run.error or "failed").strip().splitlines()[-1]
        where = f"{run.failed_step}: " if run.failed_step else ""
        note = (note + "  " if note else "") + shorten(where + last, 80)
    elif status == "SKIPPED" and run.log:
        note = shorten(run.log.strip().splitlines()[0], 80)
    return note


def runs_table(runs: list[Any]) -> str:
    """The `%runs` / `ctcd runs` table; the last column holds the metrics or the note."""
    if not runs:
        return "no runs yet"
    rows = [("id", "pipeline", "trigger", "status", "started", "duration", "metrics / note")]
    for run in runs:
        rows.append((run.id, run.pipeline, run.trigger, _value(run.status),
                     when(run.started_at), duration(run.duration), run_note(run)))
    return table(rows, free_last=True)


def run_text(run: Any) -> str:
    """A run in full: summary, steps with status, duration and notes, error, log."""
    lines = [run.summary(), f"started {when(run.started_at)}  trigger {run.trigger}"
             + (f"  params {run.params}" if run.params else "")]
    for step in run.steps:
        took = "" if step.duration is None else f"  {duration(step.duration, compact=True)}"
        lines.append(f"  {step.name:<20} {_value(step.status):<9}{took}")
        lines += [f"      {note}" for note in step.notes]
    lines += [f"warning: {w}" for w in run.warnings]
    if run.error:
        lines += ["error:", run.error.rstrip()]
    if run.log:
        lines += ["log:", run.log.rstrip()]
    return "\n".join(lines)


def run_html(run: Any) -> str:
    """The run in a notebook: summary, then a row per step (status, time, notes)."""
    rows = []
    for step in run.steps:
        took = "" if step.duration is None else duration(step.duration, compact=True)
        notes = "; ".join([*step.notes, *(f"{k}={metric(v)}" for k, v in step.metrics.items())])
        rows.append(
            f"<tr><td>{escape(step.name)}</td><td style='color:{colour(step.status)}'>"
            f"{_value(step.status)}</td><td>{took}</td>"
            f"<td style='text-align:left'>{escape(notes)}</td></tr>")
    error = ""
    if run.error:
        error = f"<pre style='color:{colour('FAILED')}'>{escape(run.error.rstrip())}</pre>"
    return (f"<div><b>{escape(run.summary())}</b><table><tr><th>step</th><th>status</th>"
            f"<th>time</th><th>notes</th></tr>{''.join(rows)}</table>{error}</div>")
