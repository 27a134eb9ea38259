"""Runs a pipeline: steps in dependency order, each in a fresh namespace holding only its inputs,
with caching, per-step output capture, metrics, a stored run record and MLflow tracking.
"""

from __future__ import annotations

import builtins
import io
import math
import os
import threading
import time
import traceback
import types
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ArtifactError, CtcdError, MissingInputsError, PipelineBusy, StepError
from ..progress import reporter
from ..state import Store
from . import warmup
from .capture import capture_thread
from .context import Context, current_run, current_step, in_step, running
from .fingerprint import read_record, step_fingerprint, value_fingerprint
from .run import Run, RunState, StepRun, StepState
from .run_store import save_run

if TYPE_CHECKING:
    from .pipeline import Graph, Pipeline
    from .steps import Step

__all__ = ["current_run", "execute", "log_metric", "new_run_id", "resolve_externals"]


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
        record = current_step()
        if record is not None:
            record.metrics[name] = number
        history = run._history
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


def execute(pipeline: Pipeline, *, params: dict[str, Any], namespace: Mapping[str, Any] | None,
            cache: bool, trigger: str = "manual", tick: float | None = None,
            tee: bool | None = None, run_id: str | None = None, wait: bool = True,
            on_wait: Callable[[str], None] | None = None) -> Run:
    """Run `pipeline` once and return the finished, stored Run.

    Definition problems (unknown step, cycle, unknown parameter, missing input) raise before a
    run is recorded. A failing step makes the run FAILED; it does not raise. KeyboardInterrupt
    is recorded (FAILED, interrupted) and re-raised. Two runs of one pipeline never overlap:
    this one waits for the other (telling `on_wait` first), or with `wait=False` raises
    PipelineBusy."""
    if pipeline.context.tracking and warmup.importing():
        # the first run after %load_ext: MLflow is still being imported in the background
        warmup.wait(on_wait or reporter("ctcd", None))
    lock = pipeline.context.run_lock(pipeline.name)
    if not lock.acquire(blocking=False):
        if not wait:
            raise PipelineBusy(f"a run of {pipeline.name!r} is still going",
                               pipeline=pipeline.name)
        if on_wait is not None:
            on_wait(f"waiting for the running run of {pipeline.name!r} to finish ...")
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
    The caller holds `context.run_lock(pipeline.name)`."""
    context = pipeline.context
    graph = pipeline.graph()
    pipeline.check_params(params, graph)
    namespace = namespace if namespace is not None else context.user_namespace()
    externals = resolve_externals(pipeline, graph, params, namespace)
    if tee is None:
        tee = threading.current_thread() is threading.main_thread()
    fingerprints, read = _read_from_notebook(externals, params)
    run = Run(id=run_id or new_run_id(), pipeline=pipeline.name, trigger=trigger,
              started_at=context.now(), params=dict(params), namespace=read, tick=tick,
              steps=[StepRun(s.name) for s in graph.steps], tags=dict(tags or {}))
    run._artifacts = context.artifacts
    save_run(context.store, run)
    execution = _Execution(context, graph, run, externals, cache, tee)
    execution.external_fps.update(fingerprints)
    return execution


def _read_from_notebook(externals: Mapping[str, Any], params: Mapping[str, Any],
                        ) -> tuple[dict[str, str | None], dict[str, dict[str, Any]]]:
    """(fingerprints, records) of the names a run takes from the notebook's namespace: a
    scheduled run that reads `depth` says which `depth` it read (the cache reuses the hash)."""
    fingerprints: dict[str, str | None] = {}
    records: dict[str, dict[str, Any]] = {}
    for name, value in externals.items():
        if name in params:
            continue
        fingerprints[name] = value_fingerprint(value)
        record = read_record(value, fingerprints[name])
        if record is not None:
            records[name] = record
    return fingerprints, records


class _Execution:
    """The bookkeeping of one run; `go()` records everything in try/finally."""

    def __init__(self, context: Context, graph: Graph, run: Run, externals: dict[str, Any],
                 cache: bool, tee: bool):
        self.context = context
        self.graph = graph
        self.run = run
        self.externals = externals
        self.cache = cache
        self.tee = tee
        self.values: dict[str, Any] = {}
        self.ids: dict[str, str] = {}
        self.external_fps: dict[str, str | None] = {}
        self.cache_rows: list[tuple[str, str, str, float]] = []
        self._interrupted: BaseException | None = None

    def go(self) -> Run:
        """Run every step in order; the run is recorded whatever ends it."""
        self.begin()
        try:
            for step in self.graph.steps:
                self._one(step)
        finally:
            self.end()
        return self.run

    # -- or driven one step at a time from outside (one orchestrator task per step) ----------
    def begin(self) -> None:
        """Tell the observers the run started (MLflow tracking opens its run here)."""
        with running(self.run, self.context):
            self.context.observers.emit("run_start", self.run)

    def run_step(self, name: str, ids: Mapping[str, str]) -> dict[str, str]:
        """Run step `name`, its upstream values loaded from the artifact store by id (`ids`:
        name -> artifact id, what earlier steps returned); returns all ids so far. A failed
        or skipped step is recorded, not raised: read `self.run.failed_step`."""
        step = next(s for s in self.graph.steps if s.name == name)
        for value_name, aid in ids.items():
            if value_name not in self.values:
                self.values[value_name] = self.context.artifacts.get(aid)
            self.ids.setdefault(value_name, aid)
        self._one(step)
        return dict(self.ids)

    def end(self) -> Run:
        """Record the run as finished; a KeyboardInterrupt during it is raised again."""
        self._finish()
        if self._interrupted is not None:
            interrupted, self._interrupted = self._interrupted, None
            raise interrupted
        return self.run

    def _one(self, step: Step) -> None:
        run, record = self.run, self.run.step(step.name)
        if run.failed_step is not None or self._interrupted is not None:
            record.status = StepState.SKIPPED
            return
        with running(run, self.context):
            self.context.observers.emit("step_start", run, record)
            try:
                self._run_step(step, record)
            except KeyboardInterrupt as exc:
                self._interrupted = exc
                self._fail(step, record, exc, note="interrupted")
            except BaseException as exc:
                # recorded as succeeded, whatever ended it
                self._fail(step, record, exc, internal=True)
            self.context.observers.emit("step_end", run, record)

    # -- one step ----------------------------------------------------------------------------
    def _run_step(self, step: Step, record: StepRun) -> None:
        record.started = self.context.now()
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
        try:
            code = step.compile()
            with in_step(record), capture_thread(buffer, tee=self.tee):
                exec(code, namespace)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self._fail(step, record, exc)
            return
        finally:
            record.log = buffer.getvalue()
        try:
            self._store_outputs(step, record, namespace)
        except (ArtifactError, StepError) as exc:
            self._fail(step, record, exc, internal=True)
            return
        record.finished = self.context.now()
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
                aid = self.context.artifacts.put(value, step=step.name, name=name)
            except OSError as exc:  # disk full, read-only state folder: the run must fail
                raise ArtifactError(
                    f"cannot store output {name!r} of step {step.name!r} in "
                    f"{self.context.artifacts.root}: {exc.strerror or exc}; free disk space or "
                    f"make the state folder writable", step=step.name, name=name) from exc
            except ArtifactError:
                if needed:
                    raise
                record.notes.append(f"not stored: {name} ({type(value).__name__} cannot be "
                                    f"serialized)")
                continue
            self.ids[name] = aid
            record.outputs[name] = aid

    def _load_cached(self, step: Step, record: StepRun) -> bool:
        rows = self.context.store.execute(
            "SELECT outputs FROM step_cache WHERE fingerprint = ?", (record.fingerprint,))
        if not rows:
            return False
        entry = Store.loads(rows[0]["outputs"])
        outputs: dict[str, str] = entry["outputs"]
        artifacts = self.context.artifacts
        if not all(artifacts.exists(aid) for aid in outputs.values()):
            return False
        needed = [n for n in step.outputs if self.graph.consumers(step.name, n)]
        if any(n not in outputs for n in needed):
            return False
        try:
            values = {name: artifacts.get(aid) for name, aid in outputs.items()}
        except ArtifactError as exc:  # tampered with, or pruned: recompute, and say why
            record.notes.append(f"cache not used: {exc}")
            self.run.warnings.append(f"step {step.name}: cache not used: {exc}")
            return False
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
        record.finished = self.context.now()
        return True

    def _fail(self, step: Step, record: StepRun, exc: BaseException, *, note: str = "",
              internal: bool = False) -> None:
        tb = exc.__traceback__
        if not internal and isinstance(exc, CtcdError):
            # Our error, raised under the user's call into ctcd: the user's frames show where,
            # ctcd's own frames would only bury the one-line message.
            frames = [f for f in traceback.extract_tb(tb) if not _ours(f.filename)]
            text = ("Traceback (most recent call last):\n"
                    + "".join(traceback.format_list(frames)) + f"{type(exc).__name__}: {exc}\n")
        elif not internal:
            # Show the user's frames only: from the step's own code onwards.
            while tb is not None and tb.tb_frame.f_code.co_filename != step.filename:
                tb = tb.tb_next
            exc.with_traceback(tb or exc.__traceback__)
            text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
        else:
            text = f"{type(exc).__name__}: {exc}\n"
        record.status = StepState.FAILED
        record.error = text
        record.finished = self.context.now()
        if note:
            record.notes.append(note)
        self.run.failed_step = step.name
        self.run.error = text
        self.run._exception = exc

    # -- the run as a whole ------------------------------------------------------------------
    def _finish(self) -> None:
        run = self.run
        for record in run.steps:
            if record.status in (StepState.PENDING, StepState.RUNNING):
                record.status = StepState.SKIPPED
        done = all(s.status in (StepState.SUCCEEDED, StepState.CACHED) for s in run.steps)
        if run.failed_step is None and not done:
            unrun = [s.name for s in run.steps if s.status is StepState.SKIPPED]
            run.error = run.error or (f"the run ended before step(s) {', '.join(unrun)} ran\n")
        run.status = RunState.SUCCEEDED if done and run.failed_step is None else RunState.FAILED
        run.finished_at = self.context.now()
        run.log = "".join(f"[{s.name}]\n{s.log}" + ("" if s.log.endswith("\n") else "\n")
                          for s in run.steps if s.log)
        bad = [k for k, v in run.metrics.items() if not math.isfinite(v)]
        if bad:
            run.warnings.append(f"non-finite metric(s): {', '.join(bad)}")
        store = self.context.store
        if self.cache_rows:
            with store.transaction() as conn:
                conn.executemany("INSERT OR REPLACE INTO step_cache (fingerprint, step, outputs, "
                                 "created) VALUES (?, ?, ?, ?)", self.cache_rows)
        save_run(store, run)
        warnings = len(run.warnings)
        self.context.observers.emit("run_end", run)
        if len(run.warnings) != warnings:  # e.g. MLflow tracking failed: keep the warning
            save_run(store, run)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ours(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE + os.sep)
