"""Engine overhead, measured against baselines taken in the same run.

1. Orchestration overhead per step: a 20-step pipeline of trivial steps vs exec'ing the same code
   objects directly (goal < 1 ms per step; MLflow tracking off, cache off so every step runs).
2. A cached rerun vs the first run for 5 steps of 100 ms each (goal < 5 %).
3. `import ctcd_jupyter` vs `import mlflow`, each in a fresh interpreter, minus bare startup.

Run: .venv/bin/python benchmarks/bench_engine.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

import ctcd_jupyter as ctcd


def overhead_per_step(n_steps: int = 20, repeats: int = 30,
                      cache: bool = False) -> tuple[float, float]:
    """Per-step time of exec'ing the code directly vs running the pipeline. With `cache`, each
    run gets a new parameter, so every step is a miss that fingerprints and records a cache
    entry (the cost of caching, not its benefit)."""
    sources = ["x0 = start"] + [f"x{i} = x{i - 1} + 1" for i in range(1, n_steps)]
    with tempfile.TemporaryDirectory() as home:
        ws = ctcd.Workspace(home, namespace={}, tracking=False)
        pipeline = ctcd.Pipeline("bench", [ctcd.Step(f"s{i}", s) for i, s in enumerate(sources)],
                                 workspace=ws)
        codes = [step.compile() for step in pipeline.steps]
        direct, orchestrated = [], []
        for repeat in range(repeats):
            start = time.perf_counter()
            namespace: dict = {"start": repeat}
            for code in codes:
                exec(code, namespace)
            direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            run = pipeline.run(params={"start": repeat}, cache=cache)
            orchestrated.append(time.perf_counter() - start)
            assert run.ok and run.outputs[f"x{n_steps - 1}"] == repeat + n_steps - 1
        ws.close()
    return statistics.median(direct) / n_steps, statistics.median(orchestrated) / n_steps


def cached_rerun(n_steps: int = 5, seconds: float = 0.1) -> tuple[float, float]:
    sources = [f"import time\ntime.sleep({seconds})\ny0 = 1"] + [
        f"import time\ntime.sleep({seconds})\ny{i} = y{i - 1} + 1" for i in range(1, n_steps)]
    with tempfile.TemporaryDirectory() as home:
        ws = ctcd.Workspace(home, namespace={}, tracking=False)
        pipeline = ctcd.Pipeline("cached", [ctcd.Step(f"c{i}", s) for i, s in enumerate(sources)],
                                 workspace=ws)
        start = time.perf_counter()
        pipeline.run()
        first = time.perf_counter() - start
        reruns = []
        for _ in range(5):
            start = time.perf_counter()
            run = pipeline.run()
            reruns.append(time.perf_counter() - start)
            assert all(s.status is ctcd.StepState.CACHED for s in run.steps)
        ws.close()
    return first, statistics.median(reruns)


def import_time(module: str, repeats: int = 5) -> float:
    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    bare = statistics.median(once("pass") for _ in range(repeats))
    return statistics.median(once(f"import {module}") for _ in range(repeats)) - bare


def main() -> None:
    for cache in (False, True):
        direct, orchestrated = overhead_per_step(cache=cache)
        overhead = orchestrated - direct
        label = "cache on, all misses" if cache else "cache off"
        print(f"per step ({label}): direct exec {direct * 1e6:.1f} us, pipeline "
              f"{orchestrated * 1e6:.1f} us, overhead {overhead * 1e3:.3f} ms/step (goal < 1 ms;"
              f" {orchestrated / direct:.0f}x the bare exec)")
    first, rerun = cached_rerun()
    print(f"cached rerun: first run {first:.3f} s, cached rerun {rerun * 1e3:.1f} ms = "
          f"{rerun / first * 100:.2f} % of the first run (goal < 5 %)")
    ours, mlflow = import_time("ctcd_jupyter"), import_time("mlflow")
    print(f"import ctcd_jupyter {ours * 1e3:.0f} ms vs import mlflow {mlflow * 1e3:.0f} ms "
          f"= {ours / mlflow * 100:.1f} % (ratio {ours / mlflow:.3f}; goal <= 5 %)")


if __name__ == "__main__":
    main()
