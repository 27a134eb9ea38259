"""Metric trends over a pipeline's whole history: the series (one JSON shape, what
`GET /ctcd/api/trends` answers and the side panel draws) and an inline SVG of it for the
widgets, with axes, deployed runs as filled dots and rollbacks as vertical marks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from .format import TONE_COLOURS, metric, when
from .runs import deployment_note

__all__ = ["legend_html", "trend_label", "trend_series", "trend_svg"]

_ROLLBACK = ("rolled back", "rolled_back", "rollback")


def _outcome(decision: Any) -> str:
    return str((decision or {}).get("outcome") or "").lower()


def trend_series(points: Iterable[Mapping[str, Any]],
                 decisions: Iterable[Any] = ()) -> dict[str, dict[str, Any]]:
    """{pipeline: {"points": [...], "marks": [...]}} from `run_store.metric_series` points
    (oldest first) and the recorded decisions: a point is {id, started, metrics, deployed,
    note}; a mark is a rollback of a model this pipeline deployed {at, version, reason}."""
    series: dict[str, dict[str, Any]] = {}
    models: dict[str, set[str]] = {}
    for point in points:
        decision = point.get("deployment") or None
        entry = series.setdefault(point["pipeline"], {"points": [], "marks": []})
        entry["points"].append({
            "id": point["id"], "started": point["started"], "metrics": dict(point["metrics"]),
            "deployed": _outcome(decision) == "deployed",
            "note": deployment_note(decision) if decision else ""})
        if decision and decision.get("model_name"):
            models.setdefault(point["pipeline"], set()).add(decision["model_name"])
    for record in decisions:
        get = record.get if isinstance(record, Mapping) else (
            lambda key, r=record: getattr(r, key, None))
        if str(get("outcome") or "").lower() not in _ROLLBACK:
            continue
        for pipeline, names in models.items():
            entry = series[pipeline]
            start = entry["points"][0]["started"] if entry["points"] else None
            at = get("created")
            if get("model_name") in names and start is not None and isinstance(at, (int, float)) \
                    and at >= start:
                entry["marks"].append({"at": at, "version": get("version"),
                                       "reason": get("reason") or ""})
    for entry in series.values():
        entry["marks"].sort(key=lambda m: m["at"])
    return series


def trend_label(pipeline: str, name: str, series: Mapping[str, Any]) -> str:
    """What a screen reader hears for a chart (its aria-label)."""
    values = [p["metrics"][name] for p in series["points"] if name in p["metrics"]]
    if not values:
        return f"{name} of {pipeline}: no values"
    deployed = sum(1 for p in series["points"] if p["deployed"] and name in p["metrics"])
    return (f"{name} of {pipeline} over {len(values)} runs: last {metric(values[-1])}, "
            f"min {metric(min(values))}, max {metric(max(values))}; {deployed} deployed, "
            f"{len(series['marks'])} rolled back")


def trend_svg(pipeline: str, name: str, series: Mapping[str, Any], *, width: int = 360,
              height: int = 96) -> str:
    """The chart of metric `name`: runs evenly spaced in time order (the first and last run's
    times under the axis; runs bunch up in time, which would hide them), y the value (min and
    max beside it), a rollback marked between the runs it fell between; '' when no run logged
    `name`."""
    points = [p for p in series["points"] if isinstance(p["metrics"].get(name), (int, float))]
    if not points:
        return ""
    values = [float(p["metrics"][name]) for p in points]
    low, high = min(values), max(values)
    t0, t1 = points[0]["started"], points[-1]["started"]
    left, right, top, bottom = 44, 8, 6, 18
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(index: float) -> float:
        return left + (plot_w / 2 if len(points) < 2 else index / (len(points) - 1) * plot_w)

    def y(value: float) -> float:
        return top + plot_h / 2 if high == low else top + (high - value) / (high - low) * plot_h

    muted, info = TONE_COLOURS["muted"], TONE_COLOURS["info"]
    text = f"style='fill:{muted};font-size:10px'"
    parts = [
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}' "
        f"style='stroke:{TONE_COLOURS['border']}'/>",
        f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' "
        f"style='stroke:{TONE_COLOURS['border']}'/>",
        f"<text x='{left - 4}' y='{top + 8}' text-anchor='end' {text}>{metric(high)}</text>",
        f"<text x='{left - 4}' y='{top + plot_h}' text-anchor='end' {text}>{metric(low)}</text>",
        f"<text x='{left}' y='{height - 4}' {text}>{escape(when(t0))}</text>",
    ]
    if t1 != t0:
        parts.append(f"<text x='{left + plot_w}' y='{height - 4}' text-anchor='end' {text}>"
                     f"{escape(when(t1, today_short=True))}</text>")
    for mark in series["marks"]:
        if t0 <= mark["at"]:
            after = next((i for i, p in enumerate(points) if p["started"] > mark["at"]),
                         len(points))
            mx = x(min(after - 0.5, len(points) - 1))
            parts.append(
                f"<line x1='{mx:.1f}' y1='{top}' x2='{mx:.1f}' y2='{top + plot_h}' "
                f"style='stroke:{TONE_COLOURS['warn']};stroke-dasharray:3 2;stroke-width:1.5'>"
                f"<title>{escape(_mark_title(mark))}</title></line>")
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts.append(f"<polyline points='{line}' style='fill:none;stroke:{info};stroke-width:1.5'/>")
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        deployed = point["deployed"]
        colour = TONE_COLOURS["success"] if deployed else info
        fill = colour if deployed else "var(--jp-layout-color1, white)"
        title = f"run {point['id']}: {name}={metric(value)}" + (
            f" · {point['note']}" if point["note"] else "")
        parts.append(f"<circle cx='{x(index):.1f}' cy='{y(value):.1f}' "
                     f"r='{4 if deployed else 2.5}' style='fill:{fill};stroke:{colour};"
                     f"stroke-width:1.5'><title>{escape(title)}</title></circle>")
    label = escape(trend_label(pipeline, name, series))
    return (f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img' "
            f"aria-label='{label}'><title>{label}</title>{''.join(parts)}</svg>")


def _mark_title(mark: Mapping[str, Any]) -> str:
    version = f" to v{mark['version']}" if mark.get("version") else ""
    return f"rolled back{version} at {when(mark['at'])}" + (
        f": {mark['reason']}" if mark.get("reason") else "")


def legend_html() -> str:
    """The key under the charts."""
    return (f"<span style='color:{TONE_COLOURS['muted']};font-size:90%'>"
            f"<span style='color:{TONE_COLOURS['success']}'>●</span> deployed run · "
            f"<span style='color:{TONE_COLOURS['warn']}'>┆</span> rollback</span>")
