"""The JupyterLab side panel in a real browser (Debian's chromium, headless, via Playwright)
against a real `jupyter lab` with the server extension, real runs, schedules and a service; in
the light theme, then in the dark one after a reload (the panel is restored)."""

from __future__ import annotations

import sys

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.deployment import DeploymentRecord, _record
from ctcd_jupyter.engine.run_store import save_run

PING = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""
LOAD = "print('loading', rows, 'rows')\ndata = list(range(rows))"
EVALUATE = ("import ctcd_jupyter as ctcd\nprint('evaluating on', len(data))\n"
            "accuracy = acc\nctcd.log_metric('accuracy', accuracy)")
PANEL = "#ctcd-panel"


def refreshes(page) -> int:
    return int(page.locator(PANEL).get_attribute("data-refreshes") or 0)


def wait_refreshes(page, more: int) -> None:
    """Until the panel has refreshed `more` more times (its counter, not a sleep)."""
    target = refreshes(page) + more
    page.wait_for_function(
        f"Number(document.querySelector('{PANEL}').dataset.refreshes) >= {target}",
        timeout=30_000)


@pytest.fixture(scope="module")
def history(lab_home):
    """Four runs of `train` (two deployed), a failed run, the decisions of model iris (deployed
    v1, kept, deployed v2, rolled back to v1) and its service."""
    store = ctcd.get_workspace().store
    train = Pipeline("train", [Step("load", LOAD), Step("evaluate", EVALUATE)])
    runs = [train.run(params={"rows": 150, "acc": acc}) for acc in (0.71, 0.76, 0.74, 0.81)]
    for run in (runs[1], runs[3]):  # as if tracked (MLflow is off here: it costs seconds)
        run.mlflow_run_id = f"mlflow{run.id}"
        save_run(store, run)
    decisions = [("deployed", "1", runs[1].id, "0.76 >= 0.75"),
                 ("kept", None, runs[2].id, "0.74 < 0.76"),
                 ("deployed", "2", runs[3].id, "0.81 > 0.76"),
                 ("rolled back", "1", None, "v2 answered slowly")]
    for outcome, version, run_id, reason in decisions:
        _record(store, DeploymentRecord("iris", outcome, reason, "accuracy", version=version,
                                        run_id=run_id))
    Pipeline("etl", [Step("extract", "raise ValueError('the source table is empty: ' + "
                                     "'x' * 200)")]).run()
    script = lab_home.parent / "ping.py"
    script.write_text(PING)
    ctcd.LocalDaemonService("iris", [sys.executable, str(script), "{host}", "{port}"],
                            health_path="/ping")
    return runs


def open_panel(browser, lab, *, click: bool = True):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(lab.url)
    if click:
        page.locator('li[data-id="ctcd-panel"]').click(timeout=60_000)
    page.locator(PANEL).wait_for(state="visible", timeout=60_000)
    page.wait_for_function(f"Number(document.querySelector('{PANEL}').dataset.refreshes) >= 1",
                           timeout=30_000)
    return page


def test_light_panel_details_selection_and_failure_toast(lab, browser, lab_home, history,
                                                        screenshots):
    from playwright.sync_api import expect

    page = open_panel(browser, lab)
    panel = page.locator(PANEL)
    expect(panel.locator(".ctcd-home")).to_have_text(str(lab_home))
    iris = panel.locator('.ctcd-services .ctcd-row[data-name="iris"]')
    expect(iris.locator(".ctcd-history li").first).to_contain_text("rolled back v1")
    expect(iris.locator(".ctcd-history")).to_contain_text("deployed v2")
    expect(panel.locator(".ctcd-trend-deployed")).to_have_count(2)
    failed = panel.locator('tbody.ctcd-run').filter(has_text="etl")
    expect(failed.locator(".ctcd-status")).to_have_text("FAILED")
    failed.get_by_role("button", name="error").click()
    expect(failed.locator("pre.ctcd-error-text")).to_contain_text("x" * 200)  # not cut

    # a selection survives refreshes, also one that adds a run to the list
    newest = panel.locator(f'tbody[data-id="{history[-1].id}"] .ctcd-note-text')
    selected = page.evaluate("""(node) => {
        const range = document.createRange(); range.selectNodeContents(node);
        const selection = window.getSelection(); selection.removeAllRanges();
        selection.addRange(range); return selection.toString(); }""", newest.element_handle())
    assert "accuracy=0.81" in selected
    extra = ctcd.get_pipeline("train").run(params={"rows": 150, "acc": 0.79})
    expect(panel.locator(f'tbody[data-id="{extra.id}"]')).to_have_count(1, timeout=30_000)
    wait_refreshes(page, 2)
    assert page.evaluate("window.getSelection().toString()") == selected
    assert page.evaluate("window.getSelection().anchorNode.isConnected")
    page.screenshot(path=str(screenshots / "light-panel.png"))
    failed.get_by_role("button", name="hide error").click()
    panel.locator(".ctcd-trends").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "light-trends.png"))

    # a scheduled run that fails from outside the browser is announced, once
    nightly = Pipeline("nightly", [Step("boom", "print('about to fail')\nx = 1 / 0")])
    ctcd.get_workspace().schedule(nightly, ctcd.Schedule(interval_second=3600,
                                                         start_time="now"))
    try:
        toast = page.locator(".Toastify__toast").filter(has_text="nightly")
        expect(toast).to_be_visible(timeout=30_000)
        expect(toast).to_contain_text("ZeroDivisionError")
        wait_refreshes(page, 1)  # and not again
        expect(toast).to_have_count(1)
        page.screenshot(path=str(screenshots / "light-toast.png"))
        [run] = [r for r in ctcd.runs("nightly") if r.status.value == "FAILED"]
        toast.get_by_role("button", name="Show run").click()
    finally:
        ctcd.get_workspace().stop_scheduling()
    detail = page.locator(f"#ctcd-run-{run.id}")
    expect(detail.locator(".ctcd-full-error")).to_contain_text("ZeroDivisionError")
    expect(detail.locator('tr[data-step="boom"]')).to_contain_text("FAILED")

    # the detail view of a deployed run: steps, params, metrics, logs, the decision
    panel.locator(f'tbody[data-id="{history[3].id}"] .ctcd-run-main').click()
    detail = page.locator(f"#ctcd-run-{history[3].id}")
    expect(detail.locator('tr[data-step="load"]')).to_contain_text("CACHED")  # same rows
    expect(detail.locator('tr[data-step="evaluate"]')).to_contain_text("accuracy=0.81")
    expect(detail.locator(".ctcd-deployment")).to_have_text(
        "deployed iris v2: 0.81 > 0.76")
    expect(detail.locator(".ctcd-pairs").first).to_contain_text("rows")
    expect(detail).to_contain_text(f"MLflow run mlflow{history[3].id} (start the MLflow UI")
    detail.locator('details[data-step="evaluate"] summary').click()
    expect(detail.locator('details[data-step="evaluate"] pre')).to_contain_text(
        "evaluating on 150")
    page.screenshot(path=str(screenshots / "light-detail.png"))
    lab.wait_saved(f"ctcd-run:{history[3].id}")  # so the next page restores it
    page.close()


def test_dark_theme_restored_panel_and_service_buttons(lab, browser, lab_home, history,
                                                        screenshots):
    from playwright.sync_api import expect

    lab.put_setting("@jupyterlab/apputils-extension:themes", {"theme": "JupyterLab Dark"})
    # the panel was open in the previous page: the layout restorer opens it again
    page = open_panel(browser, lab, click=False)
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    # and so are the run tabs the previous page opened
    expect(page.locator(".lm-TabBar-tab").filter(has_text=f"Run {history[3].id}")).to_have_count(1)
    panel = page.locator(PANEL)
    row = panel.locator('.ctcd-services .ctcd-row[data-name="iris"]')
    expect(row.locator(".ctcd-status")).to_have_text("INACTIVE")
    row.get_by_role("button", name="start", exact=True).click()
    expect(row.locator(".ctcd-status")).to_have_text("ACTIVE", timeout=60_000)
    assert ctcd.get_service("iris").is_running
    expect(row.get_by_role("button", name="start", exact=True)).to_be_disabled()
    row.get_by_role("button", name="rollback").wait_for(state="hidden")
    page.screenshot(path=str(screenshots / "dark-panel.png"))
    row.get_by_role("button", name="stop", exact=True).click()
    expect(row.locator(".ctcd-status")).to_have_text("INACTIVE", timeout=60_000)
    assert not ctcd.get_service("iris").is_running

    # with an MLflow UI running, the header and each run link to it
    script = lab_home.parent / "ping.py"
    ui = ctcd.LocalDaemonService("mlflow-ui", [sys.executable, str(script), "{host}", "{port}"],
                                 health_path="/ping")
    ui.start(progress=False)
    expect(panel.locator(".ctcd-header .ctcd-mlflow-link")).to_have_attribute(
        "href", ui.endpoint, timeout=30_000)
    panel.locator(f'tbody[data-id="{history[1].id}"] .ctcd-run-main').click()
    detail = page.locator(f"#ctcd-run-{history[1].id}")
    expect(detail.locator(".ctcd-deployment")).to_contain_text("deployed iris v1")
    expect(detail.locator("a.ctcd-mlflow-link")).to_have_attribute(
        "href", f"{ui.endpoint}/#/runs/mlflow{history[1].id}")
    page.screenshot(path=str(screenshots / "dark-detail.png"))

    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    palette.locator("input").fill("CT/CD")
    expect(palette.locator(".lm-CommandPalette-item").filter(
        has_text="CT/CD: show panel")).to_have_count(1)
    page.close()
