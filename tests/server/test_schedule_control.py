"""Pause, resume and "run now" of a schedule that a real kernel of the server owns: the server
asks that kernel (its notebook is named in the listing), and the kernel's scheduler acts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from ctcd_jupyter.server.kernels import delegate

SETUP = """
import ctcd_jupyter as ctcd
ws = ctcd.get_workspace()
ws.namespace = {}
ctcd.Pipeline("k", [ctcd.Step("s", "print('hello from k')\\nx = n + 1")])
ws.schedule(ctcd.get_pipeline("k"), ctcd.Schedule(interval_second=3600, start_time="+1h"),
            params={"n": 41})
"""


async def execute(kernel_manager, kernel_id, code):
    from jupyter_client.asynchronous import AsyncKernelClient

    kernel = kernel_manager.get_kernel(kernel_id)
    client = AsyncKernelClient(session=kernel.session)
    client.load_connection_info(kernel.get_connection_info())
    client.start_channels(iopub=False, stdin=False, hb=False, control=False)
    try:
        reply = await client.execute(code, reply=True, timeout=60)
    finally:
        client.stop_channels()
    assert reply["content"]["status"] == "ok", reply["content"]


async def post(jp_fetch, *path):
    response = await jp_fetch("ctcd", "api", *path, method="POST", body="")
    return json.loads(response.body)


async def schedules(jp_fetch):
    response = await jp_fetch("ctcd", "api", "schedules")
    return {s["name"]: s for s in json.loads(response.body)}


@contextlib.asynccontextmanager
async def notebook_kernel(jp_fetch):
    """A session (notebook nb.ipynb) with a real python3 kernel on the test's state folder
    (pytest-jupyter runs async tests but not async fixtures)."""
    body = {"path": "nb.ipynb", "name": "nb.ipynb", "type": "notebook",
            "kernel": {"name": "python3"}}
    response = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
    session = json.loads(response.body)
    try:
        yield session["kernel"]["id"]
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


async def test_a_kernels_schedule_is_paused_resumed_and_run_from_the_server(
        jp_fetch, jp_serverapp, home):
    async with notebook_kernel(jp_fetch) as kernel_id:
        await _pause_resume_run(jp_fetch, jp_serverapp.kernel_manager, kernel_id)


async def _pause_resume_run(jp_fetch, km, kernel_id):
    await execute(km, kernel_id, SETUP)
    listed = (await schedules(jp_fetch))["k"]
    assert listed["owner"]["kernel_id"] == kernel_id
    assert listed["owner"]["notebook"] == "nb.ipynb" and listed["owner"]["alive"] is True
    assert listed["state"] == "ACTIVE"
    # the next fire time of a schedule another process runs (its stored record says)
    assert 3500 < listed["next_fire"] - time.time() <= 3600

    paused = await post(jp_fetch, "schedules", "k", "pause")
    assert paused["state"] == "PAUSED" and "in nb.ipynb" in paused["message"]
    assert (await schedules(jp_fetch))["k"]["state"] == "PAUSED"
    assert (await schedules(jp_fetch))["k"]["next_fire"] is None  # paused: it will not fire
    resumed = await post(jp_fetch, "schedules", "k", "resume")
    assert resumed["state"] == "ACTIVE"
    assert (await schedules(jp_fetch))["k"]["next_fire"] > time.time()

    started = await post(jp_fetch, "schedules", "k", "run")
    run_id = started["run_id"]
    deadline = time.monotonic() + 60
    while True:
        response = await jp_fetch("ctcd", "api", "runs", run_id, raise_error=False)
        if response.code == 200 and json.loads(response.body)["status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, "the run started in the kernel never finished"
        await asyncio.sleep(0.2)
    run = json.loads(response.body)
    assert run["status"] == "SUCCEEDED" and run["params"] == {"n": 41}
    assert "hello from k" in run["steps"][0]["log"]


async def test_an_error_in_the_kernel_comes_back_as_a_message(jp_fetch, jp_serverapp, home):
    km = jp_serverapp.kernel_manager
    async with notebook_kernel(jp_fetch) as kernel_id:
        answer = await delegate(km, kernel_id, str(home), "nope", "pause")
        assert "nope" in answer["error"]
        answer = await delegate(km, kernel_id, str(home / "elsewhere"), "nope", "pause")
        assert "this kernel's workspace reads" in answer["error"]
