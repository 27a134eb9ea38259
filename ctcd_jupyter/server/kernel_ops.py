"""What the server asks a kernel to do for a schedule that kernel owns (pause, resume, one run
now). Runs inside the kernel, called by `ctcd_jupyter.server.kernels.delegate`; answers JSON.

A schedule lives in the kernel that created it (its scheduler thread, its steps, the names its
steps read from the notebook), so only that kernel can act on it."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from pathlib import Path

from ..engine.capture import capture_thread
from ..engine.executor import execute, new_run_id, resolve_externals
from ..errors import CtcdError, unknown_name
from ..workspace import Workspace, get_workspace

__all__ = ["act"]


def act(home: str, name: str, verb: str) -> str:
    """Do `verb` (pause | resume | run) on schedule `name`; a JSON answer, never a raise."""
    try:
        return json.dumps(_act(Path(home), name, verb))
    except CtcdError as exc:
        return json.dumps({"error": str(exc)})


def _act(home: Path, name: str, verb: str) -> dict:
    workspace = get_workspace()
    if workspace.home.resolve() != home.resolve():
        raise CtcdError(f"this kernel's workspace reads {workspace.home}, not {home}")
    scheduling = workspace.scheduling
    if verb == "pause":
        record = scheduling.pause(name)
        return {"message": f"paused {name}", "state": record.state.value}
    if verb == "resume":
        record = scheduling.resume(name)
        return {"message": f"resumed {name}", "state": record.state.value}
    if verb == "run":
        run_id = _run_now(workspace, name)
        return {"message": f"started run {run_id} of {name}", "run_id": run_id}
    raise CtcdError(unknown_name("action", verb, ("pause", "resume", "run")))


def _run_now(workspace: Workspace, name: str) -> str:
    """One run of the schedule's pipeline with its parameters, on a thread of this kernel:
    the kernel stays free and nothing is printed into the notebook's cells."""
    pipeline = workspace.get_pipeline(name)
    if workspace.run_lock(name).locked():
        raise CtcdError(f"a run of {name!r} is still going")
    params = next((dict(i.params) for i in workspace.scheduling.overview() if i.name == name),
                  {})
    # Definition problems (a parameter, a name the steps read) are answered now, not lost.
    graph = pipeline.graph()
    pipeline.check_params(params, graph)
    resolve_externals(pipeline, graph, params, workspace.user_namespace())
    run_id = new_run_id()

    def go() -> None:
        # A run that cannot start (it just became busy) records nothing more.
        with capture_thread(io.StringIO()), contextlib.suppress(CtcdError):
            execute(pipeline, params=params, namespace=None, cache=False, trigger="manual",
                    tee=False, wait=False, run_id=run_id)

    threading.Thread(target=go, name=f"ctcd-run-now-{name}", daemon=True).start()
    return run_id
