"""Runs as text (the `%runs` table, a run in full), HTML (a run in a notebook) and JSON (the CLI's
`--json` and the REST API share `run_json`)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from .format import colour, duration, metric, shorten, table, when

__all__ = ["deployment_note", "run_html", "run_note", "run_text", "runs_table", "short_error"]


def _value(state: Any) -> str:
    return str(getattr(state, "value", state))


def deployment_note(decision: Any) -> str:
    """What a deployment did, in a few words: "deployed v5", "kept v4 (0.71 < 0.76)",
    "failed v6: ...", "rolled back to v4". `decision` is the deployer's record as a dict."""
    if not decision:
        return ""
    outcome = str(decision.get("outcome") or "").lower()
    version, champion = decision.get("version"), decision.get("champion_version")
    value, best = decision.get("value"), decision.get("champion_value")
    reason = str(decision.get("reason") or "")
    if outcome == "deployed":
        return f"deployed v{version}" if version else "deployed"
    if outcome == "kept":
        kept = f"kept v{champion}" if champion else "kept"
        if isinstance(value, (int, float)) and isinstance(best, (int, float)):
            sign = "<" if value < best else ">" if value > best else "="
            return f"{kept} ({metric(float(value))} {sign} {metric(float(best))})"
        return f"{kept} ({shorten(reason, 60)})" if reason else kept
    if outcome in ("rolled back", "rolled_back", "rollback"):
        target = version or champion
        return f"rolled back to v{target}" if target else "rolled back"
    if outcome == "failed":
        return shorten(f"deploy of v{version} failed" if version else "deploy failed", 80)
    return shorten(f"{outcome} v{version}" if version else outcome, 80)


_QUALIFIED = re.compile(r"^(?:[A-Za-z_][\w]*\.)+([A-Za-z_]\w*)(?=:|$)")


def short_error(line: str) -> str:
    """The last line of a traceback with the exception's short name:
    "sklearn.exceptions.NotFittedError: This ..." -> "NotFittedError: This ..." (the module
    path would eat the message in a narrow list or a toast)."""
    return _QUALIFIED.sub(r"\1", line.strip())


def run_note(run: Any) -> str:
    """The last column of a run list: metrics, what a deployment did, or why a run failed or
    was skipped."""
    note = " ".join(f"{k}={metric(v)}" for k, v in run.metrics.items())
    deployed = deployment_note(getattr(run, "deployment", None))
    if deployed:
        note = (note + "  " if note else "") + deployed
    status = _value(run.status)
    if status == "FAILED":
        last = short_error((run.error or "failed").strip().splitlines()[-1])
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
    read = getattr(run, "namespace", None) or {}
    if read:
        lines.append("read from the notebook: " + ", ".join(
            f"{name}={entry.get('repr')} #{entry.get('hash')}" for name, entry in read.items()))
    for step in run.steps:
        took = "" if step.duration is None else f"  {duration(step.duration, compact=True)}"
        lines.append(f"  {step.name:<20} {_value(step.status):<9}{took}")
        lines += [f"      {note}" for note in step.notes]
    lines += [f"tag {k}: {v}" for k, v in (getattr(run, "tags", None) or {}).items()]
    lines += [f"warning: {w}" for w in run.warnings]
    decision = getattr(run, "deployment", None)
    if decision:
        lines.append(f"deployment: {deployment_note(decision)}"
                     + (f" ({decision['reason']})" if decision.get("reason") else ""))
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
