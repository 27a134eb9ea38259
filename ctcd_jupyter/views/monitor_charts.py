"""The monitor's charts as Vega-Lite v5 specs (plain dicts), from `MonitorReport.to_dict()`.

Vega-Lite because JupyterLab renders `application/vnd.vegalite.v5+json` natively, in a notebook
output and, through the same rendermime registry, in the side panel: one spec, one renderer, in
both places, following JupyterLab's light or dark theme (its renderer picks Vega's dark theme
under a dark JupyterLab theme; the specs set no text or axis colours and a transparent
background). Every chart has axes with units and shows the reference beside the live window.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["MIME", "accuracy_chart", "charts", "histogram_chart", "monitor_json",
           "traffic_chart"]

MIME = "application/vnd.vegalite.v5+json"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
REFERENCE, WINDOW = "#8c8c8c", "#1f77b4"  # the reference in grey, the live window in blue
ERRORS = "#d62728"
MUTED = "#8c8c8c"  # text that reads on a light and on a dark background
WIDTH, HEIGHT = 300, 140


def _spec(title: str, **body: Any) -> dict[str, Any]:
    return {"$schema": SCHEMA, "title": {"text": title, "anchor": "start", "fontSize": 12},
            "width": WIDTH, "height": HEIGHT, "background": None,
            "config": {"view": {"stroke": None}, "axis": {"grid": True, "gridOpacity": 0.25},
                       "legend": {"orient": "top", "title": None}}, **body}


def traffic_chart(version: dict[str, Any]) -> dict[str, Any] | None:
    """Requests and errors per time bucket of the window (one version)."""
    timeline = version.get("timeline")
    if not timeline:
        return None
    step = float(timeline["step"])
    values = []
    for i, (requests, errors) in enumerate(zip(timeline["requests"], timeline["errors"],
                                               strict=True)):
        at = dt.datetime.fromtimestamp(timeline["start"] + i * step, dt.timezone.utc)
        stamp = at.isoformat()
        values.append({"time": stamp, "series": "requests", "count": requests})
        values.append({"time": stamp, "series": "errors", "count": errors})
    per = f"{step:.0f} s" if step >= 1 else f"{step * 1000:.0f} ms"
    return _spec(
        f"v{version['version']}: requests and errors", data={"values": values},
        mark={"type": "line", "point": True, "interpolate": "monotone"},
        encoding={
            "x": {"field": "time", "type": "temporal", "title": "time (UTC)"},
            "y": {"field": "count", "type": "quantitative", "title": f"per {per}"},
            "color": {"field": "series", "type": "nominal",
                      "scale": {"domain": ["requests", "errors"], "range": [WINDOW, ERRORS]}},
            "tooltip": [{"field": "time", "type": "temporal", "format": "%H:%M:%S"},
                        {"field": "series"}, {"field": "count"}]})


def accuracy_chart(versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Live accuracy (or the regression metric) per version with its 95 % interval; versions
    below the minimum of labels are listed with how many more they need."""
    values = []
    metric = "accuracy"
    for v in versions:
        acc = v.get("accuracy") or {}
        metric = acc.get("metric") or metric
        labelled = (v.get("labels") or {}).get("labelled", 0)
        values.append({"version": f"v{v['version']}", "value": acc.get("value"),
                       "low": acc.get("low"), "high": acc.get("high"),
                       "labels": f"{labelled:,} labels" if acc.get("value") is not None
                       else acc.get("reason") or "no labels"})
    if not values:
        return None
    x = {"field": "version", "type": "nominal", "title": "model version", "sort": None}
    y_title = f"live {metric}" + (" (95 % interval)" if metric == "accuracy" else "")
    layers = [
        {"mark": {"type": "rule", "strokeWidth": 2},
         "encoding": {"x": x, "y": {"field": "low", "type": "quantitative", "title": y_title,
                                    "scale": {"zero": False}},
                      "y2": {"field": "high"}, "color": {"value": WINDOW}}},
        {"mark": {"type": "point", "filled": True, "size": 70},
         "encoding": {"x": x, "y": {"field": "value", "type": "quantitative"},
                      "color": {"value": WINDOW},
                      "tooltip": [{"field": "version"}, {"field": "value", "format": ".3f"},
                                  {"field": "low", "format": ".3f"},
                                  {"field": "high", "format": ".3f"}, {"field": "labels"}]}},
        {"mark": {"type": "text", "dy": -12, "fontSize": 10, "color": MUTED},
         "encoding": {"x": x, "y": {"field": "high", "type": "quantitative"},
                      "text": {"field": "labels"}}},
    ]
    lows = [v["low"] for v in values if v["value"] is not None]
    for v in values:  # no interval yet: say so at the foot of the chart
        if v["value"] is None:
            v["high"] = min(lows) if lows else 0.0
    return _spec(f"live {metric} per version", data={"values": values}, layer=layers)


def histogram_chart(name: str, hist: dict[str, Any], version: str,
                    window: str = "live window", verdict: str | None = None,
                    psi: float | None = None) -> dict[str, Any] | None:
    """The reference and the live window of one column side by side, as shares per bin."""
    ref, cur = hist.get("reference") or [], hist.get("window") or []
    if not ref and not cur:
        return None
    values = []
    edges, categories = hist.get("edges"), hist.get("categories")
    for series, shares in (("reference", ref), (window, cur)):
        for i, share in enumerate(shares):
            row = {"series": series, "share": share}
            if edges:
                row.update(start=edges[i], end=edges[i + 1])
            else:
                row["category"] = str(categories[i]) if categories else str(i)
            values.append(row)
    colour = {"field": "series", "type": "nominal", "title": None,
              "scale": {"domain": ["reference", window], "range": [REFERENCE, WINDOW]}}
    y = {"field": "share", "type": "quantitative", "title": "share of rows",
         "axis": {"format": "%"}}
    if edges:
        encoding = {"x": {"field": "start", "type": "quantitative", "bin": {"binned": True},
                          "title": name},
                    "x2": {"field": "end"}, "y": {**y, "stack": None}, "color": colour,
                    "opacity": {"value": 0.55}}
    else:
        encoding = {"x": {"field": "category", "type": "nominal", "title": name, "sort": None},
                    "xOffset": {"field": "series", "sort": ["reference", window]},
                    "y": y, "color": colour}
    encoding["tooltip"] = [{"field": "series"}, {"field": "share", "format": ".1%"}]
    tail = "" if verdict is None else f" — {verdict}" + ("" if psi is None else
                                                          f", PSI {psi:.2f}")
    return _spec(f"v{version}: {name}{tail}", data={"values": values}, mark="bar",
                 encoding=encoding)


def charts(report: dict[str, Any], *, max_features: int = 4) -> list[dict[str, Any]]:
    """Every chart of a report: per version traffic, accuracy across versions, then the
    histograms of the drifting features (worst first, at most `max_features` per version; the
    first features when none drifts) and of the predictions. [{"title", "spec"}]."""
    from .monitor import window_text

    window = window_text(report.get("window_s"))
    out: list[dict[str, Any]] = []

    def add(spec: dict[str, Any] | None) -> None:
        if spec is not None:
            out.append({"title": spec["title"]["text"], "spec": spec})

    versions = report.get("versions") or []
    for v in versions:
        add(traffic_chart(v))
    add(accuracy_chart(versions))
    for v in versions:
        features = sorted(v.get("features") or [], key=lambda f: (
            {"drift": 0, "warn": 1}.get(f.get("verdict"), 2), -(f.get("psi") or 0.0)))
        hists = v.get("histograms") or {}
        for f in features[:max_features]:
            if f["feature"] in hists:
                add(histogram_chart(f["feature"], hists[f["feature"]], v["version"], window,
                                    f.get("verdict"), f.get("psi")))
        prediction = v.get("prediction_drift") or {}
        if "prediction" in hists:
            add(histogram_chart("predictions", hists["prediction"], v["version"], window,
                                prediction.get("verdict"), prediction.get("psi")))
    return out


def monitor_json(service: str, report: dict[str, Any]) -> dict[str, Any]:
    """The REST answer of a service's monitor (what the side panel's Monitor tab reads): the
    report as `MonitorReport.to_dict()` gives it, and its charts."""
    return {"service": service, "report": report, "charts": charts(report)}
