"""The monitor's views on a real served model: the Vega-Lite charts (axes with units, the
reference beside the live window, the interval), `MonitorPanel` refreshing in place, and
`%monitor` in a real InteractiveShell."""

from __future__ import annotations

import pytest
from monitor_helpers import send, stream

from ctcd_jupyter.views.monitor_charts import MIME, charts


def _drifting_traffic(svc) -> None:
    send(svc, stream(1, 300, seed=2)[0])
    send(svc, stream(5, 300, seed=3, feature_shift=0.8)[0])


def test_the_charts_show_the_reference_beside_the_window_with_units(served):
    svc, _ = served
    _drifting_traffic(svc)
    data = svc.monitor("1h").to_dict()
    found = {c["title"]: c["spec"] for c in charts(data)}
    traffic = found["v1: requests and errors"]
    assert traffic["encoding"]["x"]["type"] == "temporal"
    assert traffic["encoding"]["y"]["title"].startswith("per ")
    assert sum(v["count"] for v in traffic["data"]["values"] if v["series"] == "requests") \
        == 600
    x0 = next(spec for title, spec in found.items() if title.startswith("v1: x0"))
    assert "drift" in x0["title"]["text"] and "PSI" in x0["title"]["text"]
    series = {v["series"] for v in x0["data"]["values"]}
    assert series == {"reference", "last 1 h"}
    assert x0["encoding"]["x"]["title"] == "x0" and x0["encoding"]["y"]["axis"]["format"] == "%"
    assert all("start" in v and "end" in v for v in x0["data"]["values"])  # real bins
    accuracy = found["live accuracy per version"]
    point = accuracy["data"]["values"][0]
    assert point["value"] is None and "needs 50 more" in point["labels"]
    assert any("predictions" in title for title in found)
    for spec in found.values():  # renders in light and dark: no fixed text colours
        assert spec["background"] is None and "$schema" in spec


def test_monitor_panel_refreshes_in_place_and_stops_when_closed(served):
    from ctcd_jupyter.widgets import MonitorPanel

    svc, _ = served
    panel = MonitorPanel(svc, poll=False)
    assert "no logged predictions" in panel._summary.value
    assert panel._charts.outputs == ()
    charts_widget = panel._charts
    _drifting_traffic(svc)
    panel.refresh()
    assert panel._charts is charts_widget  # the same output, updated in place
    assert "v1" in panel._summary.value and "600" in panel._summary.value
    assert "drift" in panel._summary.value and "x0" in panel._summary.value
    assert "stored with the model version" in panel._summary.value
    mimes = [o["data"] for o in panel._charts.outputs]
    assert mimes and all(MIME in m for m in mimes)
    panel.close()
    assert panel._closed.is_set()


def test_the_panel_polls_and_its_thread_ends_with_it(served):
    from ctcd_jupyter.widgets import MonitorPanel

    svc, _ = served
    panel = MonitorPanel(svc, refresh=0.05)
    poller = panel._poller
    assert poller is not None and poller.is_alive()
    panel.close()
    poller.join(5)
    assert not poller.is_alive()


def test_monitor_magic_prints_the_report_outside_a_notebook(served, shell, capsys):
    from IPython.core.error import UsageError

    svc, _ = served
    _drifting_traffic(svc)
    shell.run_line_magic("monitor", "drifty --window 30m")
    out = capsys.readouterr().out
    assert out.startswith("drifty: last 30 min, DRIFT")
    assert "x0: drift" in out and "reference: stored with the model version" in out
    with pytest.raises(UsageError, match=r"no service named 'drifyt'.*did you mean 'drifty'"):
        shell.run_line_magic("monitor", "drifyt")
    with pytest.raises(UsageError, match="window must be a positive duration"):
        shell.run_line_magic("monitor", "drifty --window soon")
