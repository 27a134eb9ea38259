"""The one home of how ctcd shows small things: aligned text tables, times, durations, metrics
and the colour (tone) of a status. Every view (text, HTML, widgets, side panel JSON) uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

__all__ = ["STATUS_TONES", "TONE_COLOURS", "ago", "colour", "duration", "metric", "shorten",
           "table", "tone", "when"]

# Status -> tone. The side panel gets the tone in the JSON (`"tone": "success"`) and styles it
# with JupyterLab's variables; widgets and HTML reprs use TONE_COLOURS, the same variables.
STATUS_TONES = {
    "ACTIVE": "success", "SUCCEEDED": "success", "CACHED": "info", "COMPLETED": "info",
    "PAUSED": "warn", "PENDING_STARTUP": "warn", "PENDING_SHUTDOWN": "warn", "RUNNING": "warn",
    "ERROR": "error", "FAILED": "error", "UNREADABLE": "error",
    "SKIPPED": "muted", "INACTIVE": "muted", "STOPPED": "muted", "PENDING": "muted",
}
# JupyterLab's CSS variables, with the light theme's colour as the fallback outside Lab.
TONE_COLOURS = {
    "success": "var(--jp-success-color1, #2e7d32)",
    "warn": "var(--jp-warn-color1, #ef6c00)",
    "error": "var(--jp-error-color1, #c62828)",
    "info": "var(--jp-brand-color1, #1565c0)",
    "muted": "var(--jp-ui-font-color2, #757575)",
    "text": "var(--jp-ui-font-color1, #424242)",
    "border": "var(--jp-border-color2, #e0e0e0)",
}


def tone(status: Any) -> str:
    """'success' / 'warn' / 'error' / 'info' / 'muted' for a status ("ACTIVE in pid 3" too)."""
    text = str(getattr(status, "value", status) or "")
    return STATUS_TONES.get(text.split(" ")[0], "text")


def colour(status: Any) -> str:
    return TONE_COLOURS[tone(status)]


def table(rows: Sequence[Sequence[str]], *, free_last: bool = False) -> str:
    """Rows as aligned columns (two spaces apart, no trailing spaces). With `free_last`, the
    last column is not padded nor counted in the widths (long notes do not widen the table)."""
    if not rows:
        return ""
    aligned = len(rows[0]) - (1 if free_last else 0)
    widths = [max(len(str(r[i])) for r in rows) for i in range(aligned)]
    lines = []
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:aligned], widths, strict=True)]
        if free_last:
            cells.append(str(row[-1]))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def when(ts: float | None, tz: tzinfo | None = None, *, today_short: bool = False,
         drop_zero_seconds: bool = False) -> str:
    """A local (or `tz`) time as "2026-12-01 10:42:05"; with `today_short`, today's times
    without the date; with `drop_zero_seconds`, "10:42" for a time on the minute."""
    if ts is None:
        return "-"
    moment = datetime.fromtimestamp(ts, tz)
    clock = "%H:%M" if drop_zero_seconds and not moment.second else "%H:%M:%S"
    if today_short and moment.date() == datetime.now(tz).date():
        return moment.strftime(clock)
    return f"{moment.date().isoformat()} {moment.strftime(clock)}"


def duration(seconds: float | None, *, compact: bool = False) -> str:
    """"0.42s" (or "-"); `compact` gives "420ms" / "12.30s" / "3.5m" for step timings."""
    if seconds is None:
        return "-"
    if not compact:
        return f"{seconds:.2f}s"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.2f}s"
    return f"{seconds / 60:.1f}m"


def metric(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def ago(ts: float | None, now: float) -> str:
    """How long before `now`: "just now" (under 10 s), "12s ago", "5m ago", "3h ago", "2d ago"
    ("-" for None); a view that shows it re-renders when this text changes."""
    if ts is None:
        return "-"
    seconds = max(0.0, now - ts)
    if seconds < 10:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"
