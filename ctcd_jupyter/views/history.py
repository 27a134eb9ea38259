"""The one shape of a serving-history row (which version a service served from when to when, and
why), built from an entry of `svc.history()`; the text, the widget, the JSON and the side panel
all show these rows, newest first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from .format import TONE_COLOURS, ago, table, when

__all__ = ["HISTORY_TONES", "history_html", "history_row", "history_rows", "history_text"]

# why a version was served -> the tone the views colour it with
HISTORY_TONES = {"deployed": "success", "rolled back": "warn", "followed the alias": "info",
                 "started": "muted", "restarted": "muted"}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def history_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An entry of `svc.history()` (uri, version, why, detail, served_from, served_until) as
    the row every view shows: version, uri, why, detail, since, until, live, tone."""
    why = str(entry.get("why") or "")
    until = _number(entry.get("served_until"))
    version = entry.get("version")
    return {
        "version": None if version in (None, "") else str(version),
        "uri": entry.get("uri"),
        "why": why,
        "detail": entry.get("detail") or "",
        "since": _number(entry.get("served_from")),
        "until": until,
        "live": until is None,
        "tone": HISTORY_TONES.get(why, "text"),
    }


def history_rows(entries: Iterable[Mapping[str, Any]] | None,
                 limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of `svc.history()` (oldest first there), newest first."""
    rows = [history_row(e) for e in reversed(list(entries or [])) if isinstance(e, Mapping)]
    return rows[:limit] if limit else rows


def _what(row: Mapping[str, Any]) -> str:
    version = f"v{row['version']}" if row["version"] else (row["uri"] or "-")
    return f"{version} {row['why']}".strip() + (f" ({row['detail']})" if row["detail"] else "")


def history_text(entries: Iterable[Mapping[str, Any]] | None, now: float) -> str:
    """`%services history` style: one line per version served, the live one marked."""
    rows = history_rows(entries)
    if not rows:
        return "no history recorded yet"
    lines = [("", "since", "until", "served")]
    for row in rows:
        lines.append(("*" if row["live"] else "", when(row["since"]),
                      "now" if row["live"] else when(row["until"]), _what(row)))
    return table(lines, free_last=True) + f"\n(* serving now; {ago(rows[0]['since'], now)})"


def history_html(entries: Iterable[Mapping[str, Any]] | None, now: float,
                 limit: int = 20) -> str:
    """The widget's history table: since (relative, the time in the tooltip), version, why."""
    rows = history_rows(entries, limit)
    if not rows:
        return f"<i style='color:{TONE_COLOURS['muted']}'>no history recorded yet</i>"
    cell = f"padding:1px 10px 1px 0;border-bottom:1px solid {TONE_COLOURS['border']}"
    out = []
    for row in rows:
        version = escape(f"v{row['version']}" if row["version"] else str(row["uri"] or "-"))
        live = (f" <b style='color:{TONE_COLOURS['success']}'>serving now</b>"
                if row["live"] else "")
        out.append(
            f"<tr><td style='{cell}' title='{escape(when(row['since']))}'>"
            f"{escape(ago(row['since'], now))}</td>"
            f"<td style='{cell}'><b>{version}</b>{live}</td>"
            f"<td style='{cell};color:{TONE_COLOURS.get(row['tone'], TONE_COLOURS['text'])}'>"
            f"{escape(row['why'] or '-')}</td>"
            f"<td style='{cell}'>{escape(row['detail'])}</td></tr>")
    head = "".join(f"<th style='{cell};text-align:left;color:{TONE_COLOURS['muted']}'>{h}</th>"
                   for h in ("since", "version", "why", "detail"))
    return f"<table style='border-collapse:collapse'><tr>{head}</tr>{''.join(out)}</table>"
