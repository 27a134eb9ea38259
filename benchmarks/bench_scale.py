"""Per-step overhead of a 20-step trivial pipeline: in-kernel ctcd vs the same steps as plain
Prefect tasks vs the ctcd pipeline as a Prefect flow (ctcd_jupyter.prefect.to_flow), measured
in one process, one after the other, and printed as ratios. Per step is measured inside the
flow; the whole flow (creating and finishing the flow run on the server) is shown apart.

    .venv/bin/python benchmarks/bench_scale.py [--steps 20] [--repeat 3]

Prefect talks to $PREFECT_API_URL, else to its own temporary local server (started on first
use; that start-up is not counted). MLflow tracking is off: this measures orchestration.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ["CTCD_TRACKING"] = "0"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The temporary server migrates a new database on start: slow on a loaded machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")


def _steps(n: int) -> list:
    import ctcd_jupyter as ctcd

    steps = [ctcd.Step("s0", "v0 = 0")]
    steps += [ctcd.Step(f"s{i}", f"v{i} = v{i - 1} + 1") for i in range(1, n)]
    return steps


def bench_ctcd(n: int, repeat: int, home: Path) -> float:
    """Seconds per step of an uncached in-kernel run."""
    import ctcd_jupyter as ctcd

    workspace = ctcd.Workspace(home / "kernel", namespace={}, tracking=False)
    pipeline = ctcd.Pipeline("scale", _steps(n), workspace=workspace)
    pipeline.run(cache=False)  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run = pipeline.run(cache=False)
        times.append(time.perf_counter() - started)
        assert run.ok, run.error
    workspace.close()
    return statistics.median(times) / n


def bench_prefect_tasks(n: int, repeat: int) -> tuple[float, float]:
    """(seconds per task inside the flow, seconds of a whole flow) for plain Prefect tasks."""
    from prefect import flow, task

    @task(persist_result=False)
    def add(value: int) -> int:
        return value + 1

    @flow(persist_result=False)
    def chain(n: int) -> float:
        started = time.perf_counter()
        value = 0
        for _ in range(n):
            value = add(value)
        return time.perf_counter() - started

    chain(1)  # warm-up (and the temporary server, if one is needed)
    per_task, whole = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        per_task.append(chain(n) / n)
        whole.append(time.perf_counter() - started)
    return statistics.median(per_task), statistics.median(whole)


def bench_ctcd_flow(n: int, repeat: int, home: Path) -> tuple[float, float]:
    """(seconds per step inside the flow, seconds of a whole flow) for the ctcd pipeline as a
    Prefect flow: from the first step's start to the last step's end, over the steps (a task
    per step: Prefect's task overhead plus ctcd's artifact store and cache bookkeeping)."""
    import ctcd_jupyter as ctcd
    from ctcd_jupyter.prefect import to_flow

    workspace = ctcd.Workspace(home / "export", namespace={}, tracking=False)
    pipeline = ctcd.Pipeline("scale", _steps(n), workspace=workspace)
    path = ctcd.export_pipeline(pipeline, home / "scale_pipeline.py")
    workspace.close()
    os.environ["CTCD_HOME"] = str(home / "flow")
    # The steps are cacheable: give each run a new parameter so every step runs.
    path.write_text(path.read_text().replace("v0 = 0", "v0 = salt"))
    flow = to_flow(path)
    flow(params={"salt": -1})  # warm-up
    per_step, whole = [], []
    reader = ctcd.Workspace(home / "flow", tracking=False)
    for i in range(repeat):
        started = time.perf_counter()
        result = flow(params={"salt": i})
        whole.append(time.perf_counter() - started)
        steps = reader.get_run(result["ctcd_run_id"]).steps
        per_step.append((steps[-1].finished - steps[0].started) / n)
    reader.close()
    return statistics.median(per_step), statistics.median(whole)


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.steps
    with tempfile.TemporaryDirectory(prefix="ctcd-bench-scale-") as folder:
        home = Path(folder)
        kernel = bench_ctcd(n, args.repeat, home)
        tasks, tasks_total = bench_prefect_tasks(n, args.repeat)
        flow_step, flow_total = bench_ctcd_flow(n, args.repeat, home)
    print(f"{n}-step trivial pipeline, median of {args.repeat} (python {sys.version.split()[0]})")
    print(f"  in-kernel ctcd:          {kernel * 1000:8.2f} ms/step")
    print(f"  plain Prefect tasks:     {tasks * 1000:8.2f} ms/step   (whole flow "
          f"{tasks_total:.2f} s)")
    print(f"  ctcd as a Prefect flow:  {flow_step * 1000:8.2f} ms/step   (whole flow "
          f"{flow_total:.2f} s)")
    print(f"  ratios: Prefect tasks / in-kernel = {tasks / kernel:.1f}x, ctcd flow / Prefect "
          f"tasks = {flow_step / tasks:.2f}x, ctcd flow / in-kernel = {flow_step / kernel:.1f}x")
    print("  tick -> follower serving the new model: not measured here (the follower, ctcd "
          "serve models:/NAME@champion, is the serving issue's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
