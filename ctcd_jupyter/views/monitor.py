"""The monitor report as text: one table row per served version, then what drifts and why.

Duck-typed over `MonitorReport.to_dict()` (views sit below the monitor), shared by `ctcd
monitor`, `%monitor` where widgets are not available, and the widget's summary.
"""

from __future__ import annotations

from typing import Any

from .format import duration, table

__all__ = ["accuracy_text", "drift_lines", "milliseconds", "monitor_text", "window_text"]


def window_text(window_s: float | None) -> str:
    if window_s is None:
        return "everything logged"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if window_s >= size and window_s % size == 0:
            return f"last {int(window_s // size)} {unit}"
    return f"last {duration(window_s, compact=True)}"


def accuracy_text(accuracy: dict[str, Any], labelled: int) -> str:
    """"0.912 [0.874, 0.941]", or why there is no value yet ("needs 38 more labels")."""
    if accuracy.get("value") is None:
        reason = accuracy.get("reason") or "no labels"
        return f"- ({reason})"
    name = "" if accuracy.get("metric") == "accuracy" else f"{accuracy.get('metric')} "
    return (f"{name}{accuracy['value']:.3f} [{accuracy['low']:.3f}, {accuracy['high']:.3f}]")


def drift_lines(version: dict[str, Any]) -> list[str]:
    """The columns that drift or warn, worst first, each with its test and PSI."""
    order = {"drift": 0, "warn": 1}
    found = [f for f in version.get("features") or [] if f.get("verdict") in order]
    found.sort(key=lambda f: (order[f["verdict"]], -(f.get("psi") or 0.0)))
    prediction = version.get("prediction_drift")
    if prediction and prediction.get("verdict") in order:
        found.append({**prediction, "feature": "predictions"})
    lines = []
    for f in found:
        psi = "" if f.get("psi") is None else f"PSI {f['psi']:.2f}, "
        lines.append(f"{f['feature']}: {f['verdict']} ({psi}{f.get('test')}"
                     + (f"; {f['reason']}" if f.get("reason") else "") + ")")
    return lines


def monitor_text(report: dict[str, Any], name: str) -> str:
    """`ctcd monitor NAME`: the window, a row per version, then its drift and reference."""
    versions = report.get("versions") or []
    head = (f"{name}: {window_text(report.get('window_s'))}, "
            + ("DRIFT" if report.get("drifted") else "no drift"))
    if report.get("dropped"):
        head += f"; {report['dropped']:,} rows could not be logged (dropped)"
    if not versions:
        return head + "\nno logged predictions in this window"
    rows = [["VERSION", "REQUESTS", "ERRORS", "P50", "P99", "LABELLED", "ACCURACY"]]
    for v in versions:
        rate = "-" if v.get("error_rate") is None else f"{v['error_rate']:.1%}"
        labels = v.get("labels") or {}
        rows.append([str(v["version"]), f"{v['requests']:,}", rate,
                     milliseconds(v["latency_p50_ms"]), milliseconds(v["latency_p99_ms"]),
                     f"{labels.get('labelled', 0):,}",
                     accuracy_text(v.get("accuracy") or {}, labels.get("labelled", 0))])
    lines = [head, table(rows, free_last=True)]
    for v in versions:
        drift = drift_lines(v)
        lines.append(f"v{v['version']}: " + ("; ".join(drift) if drift else
                                             f"no drift in {len(v.get('features') or [])} "
                                             "features"))
        lines.append(f"  reference: {v.get('reference')}")
    return "\n".join(lines)


def milliseconds(value: float | None) -> str:
    """"1.2 ms", or "-" when not known."""
    return "-" if value is None else f"{value:.1f} ms"
