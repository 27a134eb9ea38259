"""Runs a pipeline: steps in dependency order, each in a fresh namespace holding only its inputs,
with caching, per-step output capture, metrics, a stored run record and MLflow tracking.
"""

from __future__ import annotations

import builtins
import io
import math
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .capture import capture_thread
from .errors import ArtifactError, CtcdError, MissingInputsError, StepError
from .fingerprint import step_fingerprint, value_fingerprint
from .runs import Run, RunState, StepRun, StepState, save_run
from .store import Store

if TYPE_CHECKING:
    from .pipeline import Graph, Pipeline
    from .steps import Step
    from .workspace import Workspace

__all__ = ["PipelineBusy", "current_run", "execute", "log_metric"]

_context = threading.local()


def current_run() -> Run | None:
    """The run executing on this thread, if any (inside a step)."""
    return getattr(_context, "run", None)


def log_metric(name: str, value: float, step: int | None = None) -> float:
    """Record a metric for the current run (last value wins in `Run.metrics`; every value goes
    to MLflow). Outside a run, e.g. when a `%%step` cell runs interactively, it only returns."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"metric name must be a non-empty string, got {name!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metric {name!r} must be a number, got {type(value).__name__}: "
                         f"{value!r}") from None
    run = current_run()
    if run is not None:
        run.metrics[name] = number
        if getattr(_context, "step", None) is not None:
            _context.step.metrics[name] = number
        history = _context.history
        history.append((name, number, int(time.time() * 1000),
                        step if step is not None else sum(1 for h in history if h[0] == name)))
    return number


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def resolve_externals(pipeline: Pipeline, graph: Graph, params: Mapping[str, Any],
                      namespace: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    missing: dict[str, list[str]] = {}
    for name, readers in graph.external.items():
        if name in params:
            values[name] = params[name]
        elif name in namespace:
            values[name] = namespace[name]
        else:
            missing[name] = list(readers)
    if missing:
        listing = "; ".join(f"{n} (read by {', '.join(r)})" for n, r in sorted(missing.items()))
        raise MissingInputsError(
            f"pipeline {pipeline.name!r} needs names that no step, parameter or notebook "
            f"variable provides: {listing}", pipeline=pipeline.name, missing=missing)
    return values


def default_namespace(workspace: Workspace) -> Mapping[str, Any]:
    if workspace.namespace is not None:
        return workspace.namespace
    import __main__

    return vars(__main__)


class PipelineBusy(CtcdError):
    """Another run of the same pipeline is going (raised only with `wait=False`)."""


def execute(pipeline: Pipeline, *, params: dict[str, Any], namespace: Mapping[str, Any] | None,
            cache: bool, trigger: str = "manual", tick: float | None = None,
            tee: bool | None = None, run_id: str | None = None, wait: bool = True) -> Run:
    """Run `pipeline` once and return the finished, stored Run.

    Definition problems (unknown step, cycle, unknown parameter, missing input) raise before a
    run is recorded. A failing step makes the run FAILED; it does not raise. KeyboardInterrupt
    is recorded (FAILED, interrupted) and re-raised. Two runs of one pipeline never overlap:
    this one waits for the other, or with `wait=False` raises PipelineBusy."""
    lock = pipeline.workspace.run_lock(pipeline.name)
    if not lock.acquire(blocking=False):
        if not wait:
            raise PipelineBusy(f"a run of {pipeline.name!r} is still going")
        print(f"waiting for the running run of {pipeline.name!r} to finish ...",
              file=sys.stderr, flush=True)
        lock.acquire()
    try:
        return _execute(pipeline, params=params, namespace=namespace, cache=cache,
                        trigger=trigger, tick=tick, tee=tee, run_id=run_id)
    finally:
        lock.release()


def _execute(pipeline: Pipeline, *, params: dict[str, Any],
             namespace: Mapping[str, Any] | None, cache: bool, trigger: str,
             tick: float | None, tee: bool | None, run_id: str | None) -> Run:
    return prepare(pipeline, params=params, namespace=namespace, cache=cache, trigger=trigger,
                   tick=tick, tee=tee, run_id=run_id).go()


def prepare(pipeline: Pipeline, *, params: dict[str, Any],
            namespace: Mapping[str, Any] | None = None, cache: bool = True,
            trigger: str = "manual", tick: float | None = None, tee: bool | None = None,
            run_id: str | None = None, tags: Mapping[str, str] | None = None) -> _Execution:
    """Check the definition, record the run as RUNNING and return its execution, not started:
    `.go()` runs every step; an orchestrator that runs each step as its own task calls
    `.begin()`, `.run_step(name, ids)` per step and `.end()` (see ctcd_jupyter.prefect).
    The caller holds `workspace.run_lock(pipeline.name)`."""
    workspace = pipeline.workspace
    graph = pipeline.graph()
    pipeline.check_params(params, graph)
    namespace = namespace if namespace is not None else default_namespace(workspace)
    externals = resolve_externals(pipeline, graph, params, namespace)
    if tee is None:
        tee = threading.current_thread() is threading.main_thread()
    run = Run(id=run_id or new_run_id(), pipeline=pipeline.name, trigger=trigger,
              started_at=workspace.clock(), params=dict(params), tick=tick,
              steps=[StepRun(s.name) for s in graph.steps], tags=dict(tags or {}))
    run._artifacts = workspace.artifacts
    save_run(workspace.store, run)
    return _Execution(workspace, graph, run, externals, cache, tee)


class _Execution:
    """The bookkeeping of one run; `go()` records everything in try/finally."""

    def __init__(self, workspace: Workspace, graph: Graph, run: Run, externals: dict[str, Any],
                 cache: bool, tee: bool):
        self.workspace = workspace
        self.graph = graph
        self.run = run
        self.externals = externals
        self.cache = cache
        self.tee = tee
        self.values: dict[str, Any] = {}
        self.ids: dict[str, str] = {}
        self.external_fps: dict[str, str | None] = {}
        self.cache_rows: list[tuple[str, str, str, float]] = []
        self.history: list[tuple[str, float, int, int]] = []

    def go(self) -> Run:
        run = self.run
        self._start_tracking()
        previous = (getattr(_context, "run", None), getattr(_context, "history", None))
        _context.run, _context.history = run, self.history
        interrupted: BaseException | None = None
        try:
            for step, record in zip(self.graph.steps, run.steps, strict=True):
                if run.failed_step is not None:
                    record.status = StepState.SKIPPED
                    continue
                try:
                    self._run_step(step, record)
                except KeyboardInterrupt as exc:
                    interrupted = exc
                    self._fail(step, record, exc, note="interrupted")
        finally:
            _context.run, _context.history = previous
            self._finish()
        if interrupted is not None:
            raise interrupted
        return run

    # -- driven one step at a time from outside (one orchestrator task per step) ------------
    def begin(self) -> None:
        self._start_tracking()

    def run_step(self, name: str, ids: Mapping[str, str]) -> dict[str, str]:
        """Run step `name`, its upstream values loaded from the artifact store by id (`ids`:
        name -> artifact id, what earlier steps returned); returns all ids so far. A failed
        or skipped step is recorded, not raised: read `self.run.failed_step`."""
        step = next(s for s in self.graph.steps if s.name == name)
        record = self.run.step(name)
        if self.run.failed_step is not None:
            record.status = StepState.SKIPPED
            return dict(self.ids)
        for value_name, aid in ids.items():
            if value_name not in self.values:
                self.values[value_name] = self.workspace.artifacts.get(aid)
            self.ids.setdefault(value_name, aid)
        previous = (getattr(_context, "run", None), getattr(_context, "history", None))
        _context.run, _context.history = self.run, self.history
        try:
            self._run_step(step, record)
        except KeyboardInterrupt as exc:
            self._fail(step, record, exc, note="interrupted")
            raise
        finally:
            _context.run, _context.history = previous
        return dict(self.ids)

    def end(self) -> Run:
        self._finish()
        return self.run

    # -- one step ----------------------------------------------------------------------------
    def _run_step(self, step: Step, record: StepRun) -> None:
        record.started = self.workspace.clock()
        record.status = StepState.RUNNING
        inputs = {}
        for name in step.inputs:
            producer = self.graph.producers.get(name)
            internal = producer is not None and producer != step.name
            inputs[name] = self.values[name] if internal else self.externals[name]
        # Fingerprints cost a hash of every notebook value read: only when the cache is used.
        if self.cache and step.cache:
            self._fingerprint(step, record)
            if record.fingerprint and self._load_cached(step, record):
                return
        namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": "__main__", **inputs}
        buffer = io.StringIO()
        _context.step = record
        try:
            code = step.compile()
            with capture_thread(buffer, tee=self.tee):
                exec(code, namespace)
        except Exception as exc:
            self._fail(step, record, exc)
            return
        finally:
            _context.step = None
            record.log = buffer.getvalue()
        try:
            self._store_outputs(step, record, namespace)
        except (ArtifactError, StepError) as exc:
            self._fail(step, record, exc, internal=True)
            return
        record.finished = self.workspace.clock()
        record.status = StepState.SUCCEEDED
        if record.fingerprint and step.cache:
            entry = {"outputs": record.outputs, "metrics": record.metrics, "run": self.run.id}
            self.cache_rows.append((record.fingerprint, step.name, Store.dumps(entry), time.time()))

    def _fingerprint(self, step: Step, record: StepRun) -> None:
        fingerprints = {}
        for name in step.inputs:
            producer = self.graph.producers.get(name)
            if producer is not None and producer != step.name:
                fingerprints[name] = self.ids.get(name)
            else:
                if name not in self.external_fps:
                    self.external_fps[name] = value_fingerprint(self.externals[name])
                fingerprints[name] = self.external_fps[name]
        unknown = sorted(n for n, fp in fingerprints.items() if fp is None)
        if unknown:
            record.notes.append(f"not cacheable: cannot fingerprint {', '.join(unknown)}")
        else:
            record.fingerprint = step_fingerprint(step.source_hash, fingerprints, step.outputs)

    def _needed(self, step: Step, name: str) -> bool:
        return bool(self.graph.consumers(step.name, name)) or "outputs" in step.declared

    def _store_outputs(self, step: Step, record: StepRun, namespace: dict[str, Any]) -> None:
        for name in step.outputs:
            needed = self._needed(step, name)
            if name not in namespace:
                if needed:
                    raise StepError(f"step {step.name!r} did not define {name!r}, which "
                                    f"{', '.join(self.graph.consumers(step.name, name)) or 'you'}"
                                    f" declared as needed", step=step.name, run_id=self.run.id)
                record.notes.append(f"not defined after the step ran: {name}")
                continue
            value = namespace[name]
            self.values[name] = value
            if isinstance(value, types.ModuleType):
                record.notes.append(f"not stored: {name} is a module")
                continue
            try:
                aid = self.workspace.artifacts.put(value, step=step.name, name=name)
            except ArtifactError:
                if needed:
                    raise
                record.notes.append(f"not stored: {name} ({type(value).__name__} cannot be "
                                    f"serialized)")
                continue
            self.ids[name] = aid
            record.outputs[name] = aid

    def _load_cached(self, step: Step, record: StepRun) -> bool:
        rows = self.workspace.store.execute(
            "SELECT outputs FROM step_cache WHERE fingerprint = ?", (record.fingerprint,))
        if not rows:
            return False
        entry = Store.loads(rows[0]["outputs"])
        outputs: dict[str, str] = entry["outputs"]
        artifacts = self.workspace.artifacts
        if not all(artifacts.exists(aid) for aid in outputs.values()):
            return False
        needed = [n for n in step.outputs if self.graph.consumers(step.name, n)]
        if any(n not in outputs for n in needed):
            return False
        try:
            values = {name: artifacts.get(aid) for name, aid in outputs.items()}
        except Exception:
            return False  # an artifact that no longer loads (e.g. a class changed): recompute
        self.values.update(values)
        self.ids.update(outputs)
        record.outputs = dict(outputs)
        # A cache hit reproduces what the step reported, not just what it returned.
        record.metrics = dict(entry.get("metrics") or {})
        self.run.metrics.update(record.metrics)
        record.notes.append(f"cached: outputs of run {entry.get('run', '?')}")
        record.status = StepState.CACHED
        record.finished = self.workspace.clock()
        return True

    def _fail(self, step: Step, record: StepRun, exc: BaseException, *, note: str = "",
              internal: bool = False) -> None:
        tb = exc.__traceback__
        if not internal:
            # Show the user's frames only: from the step's own code onwards.
            while tb is not None and tb.tb_frame.f_code.co_filename != step.filename:
                tb = tb.tb_next
            exc.with_traceback(tb or exc.__traceback__)
            text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
        else:
            text = f"{type(exc).__name__}: {exc}\n"
        record.status = StepState.FAILED
        record.error = text
        record.finished = self.workspace.clock()
        if note:
            record.notes.append(note)
        self.run.failed_step = step.name
        self.run.error = text
        self.run._exception = exc

    # -- the run as a whole ------------------------------------------------------------------
    def _start_tracking(self) -> None:
        tracker = self.workspace.tracker
        if tracker is None:
            return
        try:
            self.run.mlflow_run_id = tracker.start(self.run)
        except Exception as exc:  # tracking must never cost the user a run
            self.run.warnings.append(
                f"MLflow tracking unavailable at {tracker.uri} ({_first_line(exc)}): this run's "
                "params, metrics and step times are only in the local state folder, not in "
                "MLflow")

    def _finish(self) -> None:
        run = self.run
        for record in run.steps:
            if record.status in (StepState.PENDING, StepState.RUNNING):
                record.status = StepState.SKIPPED
        run.status = RunState.FAILED if run.failed_step else RunState.SUCCEEDED
        run.finished_at = self.workspace.clock()
        run.log = "".join(f"[{s.name}]\n{s.log}" + ("" if s.log.endswith("\n") else "\n")
                          for s in run.steps if s.log)
        bad = [k for k, v in run.metrics.items() if not math.isfinite(v)]
        if bad:
            run.warnings.append(f"non-finite metric(s): {', '.join(bad)}")
        store = self.workspace.store
        if self.cache_rows:
            with store.transaction() as conn:
                conn.executemany("INSERT OR REPLACE INTO step_cache (fingerprint, step, outputs, "
                                 "created) VALUES (?, ?, ?, ?)", self.cache_rows)
        tracker = self.workspace.tracker
        if tracker is not None and run.mlflow_run_id is not None:
            try:
                tracker.finish(run, self.history)
            except Exception as exc:
                lost = ", ".join(run.metrics) or "none"
                run.warnings.append(
                    f"MLflow tracking failed at the end of the run ({_first_line(exc)}): MLflow "
                    f"run {run.mlflow_run_id} at {tracker.uri} lacks this run's metrics "
                    f"({lost}), step times and final status; the local run record has them")
        save_run(store, run)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
