"""The JupyterLab side panel in a real browser (Debian's chromium, headless, via Playwright)
against a real `jupyter lab` with the server extension, real runs, schedules and a service; in
the light theme, then in the dark one after a reload (the panel is restored)."""

from __future__ import annotations

import contextlib
import json
import re
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

    # a scheduled run that fails from outside the browser is announced; its next failures
    # are the same incident: one toast, counting them, not a stack of toasts
    nightly = Pipeline("nightly", [Step("boom", "print('about to fail')\n"
                                                "import json\njson.loads('{')")])
    ctcd.get_workspace().schedule(nightly, ctcd.Schedule(interval_second=2, start_time="now"))
    try:
        toast = page.locator(".Toastify__toast").filter(has_text="nightly")
        expect(toast).to_be_visible(timeout=30_000)
        # the exception's short name and its message, not its module path
        expect(toast).to_contain_text("JSONDecodeError: Expecting property name")
        expect(toast).not_to_contain_text("json.decoder.")
        expect(toast).to_contain_text("failures in a row", timeout=30_000)
        ctcd.get_workspace().scheduling.pause("nightly")
        wait_refreshes(page, 1)
        expect(toast).to_have_count(1)
        page.screenshot(path=str(screenshots / "light-toast.png"))
        run = next(r for r in ctcd.runs("nightly") if r.status.value == "FAILED")  # newest
        expect(toast).to_contain_text(run.id)
        toast.get_by_role("button", name="Show run").click()
    finally:
        ctcd.get_workspace().stop_scheduling()
    detail = page.locator(f"#ctcd-run-{run.id}")
    expect(detail.locator(".ctcd-full-error")).to_contain_text("JSONDecodeError")
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


@pytest.fixture(scope="module")
def churn(lab_home):
    """A real model server (`mlflow_deploy`, v1) and five `kept` decisions after its deploy."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from ctcd_jupyter.deployment import DeploymentRecord, _record

    X, y = load_iris(return_X_y=True, as_frame=True)
    svc = ctcd.mlflow_deploy(LogisticRegression(max_iter=300).fit(X, y), "churn",
                             input_example=X.head(2))
    store = ctcd.get_workspace().store
    for value in (0.61, 0.62, 0.63, 0.64, 0.65):
        _record(store, DeploymentRecord("churn", "kept", f"{value} < 0.97", "accuracy",
                                        value, 0.97, version=None, champion_version="1"))
    yield svc
    svc.stop(timeout=10, force=True)


# whether an element's text has the colour of a JupyterLab colour variable
SAME_COLOUR = """(node, variable) => {
    const probe = document.createElement('span');
    probe.style.color = `var(${variable})`;
    document.body.append(probe);
    const same = getComputedStyle(probe).color === getComputedStyle(node).color;
    probe.remove();
    return same; }"""


def theme(page) -> str:
    """"light" or "dark": the theme the page shows (for the screenshots' names)."""
    light = page.locator("body").get_attribute("data-jp-theme-light") == "true"
    return "light" if light else "dark"


def show_panel(page) -> None:
    """The palette's "CT/CD: show panel" (it shows the panel; a click on its icon toggles)."""
    page.locator('li[data-id="ctcd-panel"]').wait_for(timeout=60_000)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):  # the palette may open before the lab has settled: try again
        if page.locator(PANEL).is_visible():  # the layout restored it open
            break
        try:
            run_palette(page, "CT/CD: show panel")
            page.locator(PANEL).wait_for(state="visible", timeout=10_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            if attempt == 2:
                raise
    page.wait_for_function(f"Number(document.querySelector('{PANEL}').dataset.refreshes) >= 1",
                           timeout=30_000)


def hang_the_api(page) -> list:
    """From now on the panel's requests never answer (what it shows can only come from its
    own clock); returns the requests held, to be let go with `release`."""
    held: list = []
    page.route("**/ctcd/api/**", lambda route: held.append(route))
    return held


def release(page, held) -> None:
    from playwright.sync_api import Error

    page.unroute("**/ctcd/api/**")
    for route in held:
        with contextlib.suppress(Error):  # unroute may have let it go already
            route.continue_()


def test_live_decision_first_next_fire_keyboard_ticking_and_warning(lab, browser, history,
                                                                   churn, screenshots):
    from mlflow.tracking import MlflowClient
    from playwright.sync_api import expect

    hourly = Pipeline("hourly", [Step("s", "x = 1")])
    ctcd.get_workspace().schedule(hourly, ctcd.Schedule(interval_second=3600,
                                                        start_time="+1h"))
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(lab.url)
        show_panel(page)  # whether or not the layout restored it open
        panel = page.locator(PANEL)
        row = panel.locator('.ctcd-services .ctcd-row[data-name="churn"]')
        # what is live and why comes first; five `kept` after it do not push it out
        expect(row.locator(".ctcd-live")).to_contain_text("live v1", timeout=30_000)
        expect(row.locator(".ctcd-live")).to_contain_text("deployed")
        expect(row.locator(".ctcd-history li")).to_have_count(4)
        expect(row.locator(".ctcd-history li").first).to_contain_text("kept")
        expect(row.get_by_role("button", name="unpin")).to_be_hidden()  # not pinned
        # the next fire time of a schedule this (test) process runs
        nxt = panel.locator('.ctcd-schedules .ctcd-row[data-name="hourly"] .ctcd-next')
        expect(nxt).to_contain_text("next run in 59 min")

        # runs are reachable from the keyboard: Tab to one, Enter opens its detail (a fresh
        # run: its "5 s ago" moves every second, which the ticking below needs)
        fresh = ctcd.get_pipeline("train").run(params={"rows": 150, "acc": 0.8})
        main = panel.locator(f'tbody[data-id="{fresh.id}"] .ctcd-run-main')
        expect(main).to_have_attribute("tabindex", "0", timeout=30_000)
        expect(main).to_have_attribute("role", "button")
        expect(main).to_have_attribute("aria-label", re.compile(f"run {fresh.id} of train"))
        main.focus()
        page.keyboard.press("Enter")
        detail = page.locator(f"#ctcd-run-{fresh.id}")
        expect(detail.locator(".ctcd-facts")).to_contain_text("started")
        # the charts say what they show
        chart = panel.locator('.ctcd-trend-block[data-pipeline="train"] svg')
        expect(chart).to_have_attribute("aria-label", re.compile(r"accuracy of train over \d+ "
                                                                 r"runs: last 0\.\d+"))

        # relative times tick with no new data: the API stops answering, the texts move on
        page.evaluate("document.querySelector('.ctcd-panel').scrollTop = 0")
        held = hang_the_api(page)
        facts = detail.locator(".ctcd-facts").inner_text()
        when_ = panel.locator(f'tbody[data-id="{fresh.id}"] .ctcd-times span').first
        ago_text = when_.inner_text()
        frozen = refreshes(page)
        page.wait_for_function(
            "([node, text]) => node.textContent !== text",
            arg=[when_.element_handle(), ago_text], timeout=15_000)
        page.wait_for_function(
            "([node, text]) => node.textContent !== text",
            arg=[detail.locator(".ctcd-facts").element_handle(), facts], timeout=15_000)
        assert refreshes(page) == frozen  # no fetch did it
        release(page, held)
        page.screenshot(path=str(screenshots / f"{theme(page)}-detail-keyboard.png"))

        # a follower that cannot follow: ACTIVE, with its reason in its row, in warn tone
        MlflowClient(churn.config["tracking_uri"]).delete_registered_model("churn")
        warning = row.locator(".ctcd-warning")
        expect(warning).to_be_visible(timeout=60_000)
        expect(row.locator(".ctcd-status")).to_have_text("ACTIVE (not following)")
        assert warning.evaluate(SAME_COLOUR, "--jp-warn-color1")
        row.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / f"{theme(page)}-live-warning.png"))

        # its log opens at the newest line
        row.get_by_role("button", name="logs").click()
        log = row.locator("pre.ctcd-log")
        expect(log).not_to_have_text("")
        page.wait_for_function("n => n.scrollHeight <= n.clientHeight + 1 || "
                               "n.scrollTop + n.clientHeight >= n.scrollHeight - 8",
                               arg=log.element_handle(), timeout=10_000)
        page.close()
    finally:
        ctcd.get_workspace().stop_scheduling()


def notebook(cells: list[str]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": [],
                       "execution_count": None, "id": f"c{i}"} for i, c in enumerate(cells)]}


def run_palette(page, command: str) -> None:
    """Run a command by its label from the palette (Enter runs the first match)."""
    menu(page, "View", "Activate Command Palette")
    palette = page.locator("#command-palette")
    palette.locator("input").fill(command)
    palette.locator(".lm-CommandPalette-item").filter(has_text=command).first.wait_for(
        timeout=10_000)
    palette.locator("input").press("Enter")


def menu(page, *path: str) -> None:
    """Click through the menu bar: menu(page, "Run", "Run All Cells")."""
    page.locator("#jp-menu-panel").get_by_role("menuitem", name=path[0], exact=True).click()
    for name in path[1:]:
        page.locator(".lm-Menu .lm-Menu-item").filter(
            has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{name}$"))).first.click()


def test_the_widgets_in_a_notebook_beside_the_panel(lab, browser, history, churn,
                                                   screenshots):
    """The panels a notebook shows (`%services`, `%schedule`, `RunsView`) in a real kernel of
    the lab, beside the side panel: nothing clipped, in the light and the dark theme."""
    import urllib.request

    from playwright.sync_api import expect

    lab.put_setting("@jupyterlab/apputils-extension:themes", {"theme": "JupyterLab Light"})
    body = {"type": "notebook", "format": "json", "content": notebook([
        "%load_ext ctcd_jupyter", "%services", "%schedule",
        "from ctcd_jupyter.widgets import RunsView\nRunsView(limit=6)"])}
    headers = {"Authorization": f"token {lab.token}", "Content-Type": "application/json"}
    for path, method, data in (
            ("contents/panels.ipynb", "PUT", body),
            # its kernel, started before the page opens it (no kernel dialog)
            ("sessions", "POST", {"path": "panels.ipynb", "name": "panels.ipynb",
                                  "type": "notebook", "kernel": {"name": "python3"}})):
        request = urllib.request.Request(f"{lab.base}/api/{path}", method=method,
                                         data=json.dumps(data).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            session = json.loads(answer.read())
    nightly = Pipeline("nightly-report", [Step("s", "x = 1")])
    ctcd.get_workspace().schedule(nightly, ctcd.Schedule(cron_expression="0 6 * * *",
                                                         tz="Europe/Paris"))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})  # a laptop's width
    page.goto(f"{lab.base}/lab/tree/panels.ipynb?token={lab.token}")
    show_panel(page)
    page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook is the current widget
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="Idle").first).to_be_visible(
        timeout=60_000)  # its kernel is there
    menu(page, "Run", "Run All Cells")
    expect(page.locator(".jp-InputPrompt").first).to_have_text("[1]:", timeout=60_000)
    services = page.locator(".jp-OutputArea-output .widget-gridbox").first
    expect(services).to_contain_text("churn", timeout=120_000)
    runs = page.locator(".jp-OutputArea-output").filter(has_text="(all pipelines)").last
    expect(runs).to_contain_text("accuracy", timeout=60_000)
    expect(runs.locator("svg[role='img']").first).to_have_attribute(
        "aria-label", re.compile("accuracy of train"))
    # at a laptop's width beside the side panel, no table is wider than the notebook: the
    # endpoint, the last run and the counts are not cut off behind a scroll bar
    expect(page.locator(".jp-OutputArea-output .widget-gridbox")).to_have_count(4)  # 2 runs
    page.screenshot(path=str(screenshots / "light-notebook-and-panel.png"))
    clipped = page.evaluate("""() => [...document.querySelectorAll(
        '.jp-OutputArea-output .widget-gridbox')]
        .filter(n => n.scrollWidth > n.clientWidth + 1).map(n => n.textContent.slice(0, 60))""")
    assert clipped == []
    menu(page, "Settings", "Theme", "JupyterLab Dark")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    page.screenshot(path=str(screenshots / "dark-notebook-and-panel.png"))
    page.close()
    ctcd.get_workspace().stop_scheduling()
    urllib.request.urlopen(urllib.request.Request(
        f"{lab.base}/api/sessions/{session['id']}", method="DELETE", headers=headers),
        timeout=30).close()


def test_a_pinned_service_shows_pinned_and_unpins(lab, browser, history, screenshots):
    from playwright.sync_api import expect
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    for c in (1.0, 0.5):
        svc = ctcd.mlflow_deploy(LogisticRegression(max_iter=300, C=c).fit(X, y), "pinme",
                                 input_example=X.head(2))
    svc.rollback()  # pins v1
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(lab.url)
        show_panel(page)
        row = page.locator(PANEL).locator('.ctcd-services .ctcd-row[data-name="pinme"]')
        expect(row.locator(".ctcd-pinned")).to_have_text("pinned v1", timeout=30_000)
        row.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / f"{theme(page)}-pinned.png"))
        row.get_by_role("button", name="unpin").click()
        expect(row.locator(".ctcd-pinned")).to_be_hidden(timeout=30_000)
        expect(row.get_by_role("button", name="unpin")).to_be_hidden()
        assert svc.pinned is None
        page.close()
    finally:
        svc.stop(timeout=10, force=True)
