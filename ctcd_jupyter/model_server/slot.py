"""The model slot of the ctcd model server: load, probe, switch, follow an alias, agree.

How several uvicorn workers agree: `target.json` in the service folder names the model every
worker must serve (uri, version, generation). A swap is made by one worker at a time
(`coord.lock`): it loads the candidate, probes it with its input example through MLflow's own
app, and only then writes the new generation and switches its own slot; every worker checks the
file every 0.1 s, loads that model beside the old one and switches, and reports in
`workers/<pid>.json`. A candidate that fails is never written, so no worker serves it. One
worker at a time (`leader.lock`) polls the registry alias and settles deployments whose caller
died (transaction.py). `target.json` is the server's own record of what it serves: a restart
serves it again (unless an alias says otherwise), and recoverers read it.

Downloaded copies live in `models/<pid>-*/`, each removed when its model is replaced; copies of
processes that are gone (a killed server) are removed by `remove_leftover_copies`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hooks, redact
from .failpoints import failpoint
from .mlflow_registry import RegistryReader
from .model_probe import CandidateError, one_line
from .model_probe import probe as probe_model
from .model_uri import parse_models_uri
from .slot_files import flock, read_json, served_before, write_json

__all__ = ["CandidateError", "ModelSlot", "Served", "parse_models_uri"]

TICK = 0.1
_DELETED = object()


@dataclass
class Served:
    """One loaded model: MLflow's scoring app around it and what it is."""

    app: Any
    uri: str
    version: str | None
    columns: list[str] | None = None
    example: str | None = None
    local: str | None = None
    requirements: list[str] | None = None
    python_version: str | None = None
    generation: int = 0
    since: float = field(default_factory=time.time)
    why: str = "started"
    model: Any = None  # the pyfunc model behind `app` (the fast path reads it)


class ModelSlot:
    """This worker's model slot (`current`), and the coordination with the other workers.

    A swap has one name end to end: `svc.swap_model(uri)` in the client, `POST /ctcd/swap` on
    the server, `ModelSlot.swap(uri, why)` here (deploy, rollback and a followed alias all
    call it)."""

    def __init__(self, folder: Path, config: dict[str, Any], *, boot: str):
        self.folder, self.config, self.boot_id = folder, config, boot
        self.current: Served = Served(None, "", None)
        self.follow = parse_models_uri(config["model_uri"])
        if self.follow is not None and self.follow[2] is None:
            self.follow = None  # a fixed version: nothing to follow
        self.alias_seen: Any = None
        self.registry = RegistryReader(config.get("tracking_uri"))
        self._leader_fd: int | None = None
        self._leader_lock = threading.Lock()
        self._stop = threading.Event()
        self._worker_error: str | None = None
        self._failed_generation = -1
        self._checks: queue.SimpleQueue[Served | None] = queue.SimpleQueue()
        (folder / "workers").mkdir(mode=0o700, exist_ok=True)
        (folder / "models").mkdir(mode=0o700, exist_ok=True)
        self._worker_file = folder / "workers" / f"{os.getpid()}.json"
        # With several workers, a worker whose uvicorn supervisor died (kill -9) must not
        # keep answering on the port as an orphan.
        self._parent = os.getppid() if int(config.get("workers") or 1) > 1 else None

    # -- the registry -------------------------------------------------------------------------
    def resolve(self, uri: str) -> tuple[str, str | None]:
        """The exact URI to load and its registry version (an alias is resolved now)."""
        parsed = parse_models_uri(uri)
        if parsed is None:
            return uri, None
        name, version, alias = parsed
        if alias is not None:
            version = self.registry.version_of(name, alias)
        return f"models:/{name}/{version}", version

    def tag_failed(self, uri: str, reason: str) -> None:
        parsed = parse_models_uri(uri)
        if parsed is None or parsed[1] is None:
            return
        with contextlib.suppress(Exception):  # the version may not exist at all
            client = self.registry.client
            client.set_model_version_tag(parsed[0], parsed[1], "ctcd.deploy", "failed")
            client.set_model_version_tag(parsed[0], parsed[1], "ctcd.deploy.reason",
                                              reason[:4000])

    # -- one candidate ------------------------------------------------------------------------
    def load(self, uri: str, timeout: float | None = None) -> Served:
        """Load `uri` into a new MLflow scoring app, within `timeout` seconds."""
        timeout = float(timeout or self.config.get("load_timeout") or 120.0)
        box: dict[str, Any] = {}
        lock = threading.Lock()

        def work() -> None:
            try:
                served = self._load(uri)
            except BaseException as exc:
                box["error"] = exc
                return
            with lock:
                if box.get("abandoned"):  # timed out: nobody will serve or remove this copy
                    shutil.rmtree(served.local or "", ignore_errors=True)
                else:
                    box["served"] = served

        thread = threading.Thread(target=work, name="ctcd-load", daemon=True)
        thread.start()
        thread.join(timeout)
        with lock:
            if "served" not in box and "error" not in box:
                box["abandoned"] = True
                raise CandidateError(f"loading {uri} took longer than {timeout:g} s")
        if "error" in box:
            raise CandidateError(f"cannot load {uri}: {one_line(box['error'])}")
        return box["served"]

    def _load(self, uri: str) -> Served:
        import mlflow.pyfunc
        from mlflow.models import Model
        from mlflow.pyfunc import scoring_server
        from mlflow.tracking.artifact_utils import _download_artifact_from_uri

        exact, version = self.resolve(uri)
        parsed = parse_models_uri(exact)
        source = self.registry.location(parsed[0], version) if parsed and version else exact
        local = tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.folder / "models")
        try:
            path = _download_artifact_from_uri(source, output_path=local)
            # MLflow's check of the model's requirements against this environment scans every
            # installed distribution (~1 s): it runs after the switch (see _check_requirements)
            model = mlflow.pyfunc.load_model(path, suppress_warnings=True)
            example = None
            with contextlib.suppress(Exception):
                example = Model.load(path).get_serving_input(path)
            app = scoring_server.init(model)
        except BaseException:
            shutil.rmtree(local, ignore_errors=True)
            raise
        schema = model.metadata.get_input_schema()
        columns = None
        if schema is not None and not schema.is_tensor_spec() and schema.has_input_names():
            columns = list(schema.input_names())
        requirements = python_version = None
        with contextlib.suppress(Exception):
            requirements = mlflow.pyfunc._get_pip_requirements_from_model_path(path)
            python_version = (model.metadata.flavors.get("python_function") or {}).get(
                "python_version")
        return Served(app, exact, version, columns, example, local, requirements=requirements,
                      python_version=python_version, model=model)

    # -- switching ----------------------------------------------------------------------------
    def _switch(self, served: Served, generation: int, why: str) -> None:
        old = self.current
        served.generation, served.why, served.since = generation, why, time.time()
        self.current = served  # one reference assignment: the next request gets the new model
        self._worker_error = None
        self._report()
        if old.local and old.local != served.local:
            shutil.rmtree(old.local, ignore_errors=True)  # loaded in memory; files not needed
        if served.requirements is not None:
            self._checks.put(served)

    def _check_requirements(self) -> None:
        """MLflow's warnings on a served model's requirements and Python version, in the log
        (what `mlflow.pyfunc.load_model` prints), off the path to the first answer."""
        while True:
            served = self._checks.get()
            if served is None:
                return
            try:
                import mlflow.pyfunc as pyfunc

                pyfunc.warn_dependency_requirement_mismatches(served.requirements)
                pyfunc._warn_potentially_incompatible_py_version_if_necessary(
                    model_py_version=served.python_version)
            except Exception as exc:  # a warning that cannot be computed is no failure
                print(f"[ctcd] could not check {served.uri}'s requirements: {one_line(exc)}",
                      flush=True)

    def _target(self) -> dict[str, Any] | None:
        return read_json(self.folder / "target.json")

    def boot(self) -> None:
        """Serve what this server run must serve: the first worker decides (the alias now, else
        the last target, else the configured URI) and probes; the others follow it."""
        with flock(self.folder / "coord.lock"):
            target = self._target()
            if target is not None and target.get("boot") == self.boot_id:
                self._switch(self.load(target["uri"]), int(target["generation"]),
                             target.get("why", "started"))
                if self.follow:
                    self.alias_seen = self.current.version
                return
            uri, self.alias_seen = self._choose(target, self.config.get("initial_uri"))
            try:
                served = self.load(uri)
                probe_model(served.app, self.config.get("probe") or served.example)
            except CandidateError as exc:
                self.tag_failed(self.resolve_quietly(uri), str(exc))
                self._set_status(last_error=str(exc))
                raise
            generation = int((target or {}).get("generation", 0)) + 1
            why = self.config.get("boot_why") or "started"
            self._write_target(served, generation, why)
            self._switch(served, generation, why)
            self._set_status(last_error=None)
            if (target or {}).get("uri") != served.uri:  # a restart of the same is no change
                self._record(served, why)

    def _choose(self, target: dict[str, Any] | None,
                initial: str | None) -> tuple[str, str | None]:
        """What a new server run serves, and the alias version seen: the followed alias now;
        else the URI it was started for, else what the last run served, else the config's."""
        uri = initial or served_before(target, self.config["model_uri"]) \
            or self.config["model_uri"]
        if not self.follow:
            return uri, None
        try:
            return self.resolve(self.config["model_uri"])
        except Exception as exc:
            parsed = parse_models_uri(uri)
            if parsed is not None and parsed[2] is not None:  # nothing else to serve
                raise CandidateError(f"cannot resolve {self.config['model_uri']}: "
                                     f"{one_line(exc)}") from exc
            return uri, None

    def _write_target(self, served: Served, generation: int, why: str) -> None:
        write_json(self.folder / "target.json", {
            "generation": generation, "uri": served.uri, "version": served.version,
            "why": why, "boot": self.boot_id, "changed": time.time(),
            "model_uri": self.config["model_uri"]})

    def preflight(self, timeout: float | None = None) -> dict[str, Any]:
        """Whether a restart could serve: load what a new run would serve, then drop it."""
        try:
            uri, _ = self._choose(self._target(), None)
            served = self.load(uri, timeout)
        except Exception as exc:
            return {"ok": False, "error": one_line(exc)}
        shutil.rmtree(served.local or "", ignore_errors=True)
        return {"ok": True, "uri": served.uri, "version": served.version}

    def resolve_quietly(self, uri: str) -> str:
        try:
            return self.resolve(uri)[0]
        except Exception:
            return uri

    def swap(self, uri: str, why: str, *, probe: str | None = None,
             timeout: float | None = None) -> dict[str, Any]:
        """Load + probe `uri` and make every worker serve it; on failure nothing changes. Says
        in the server's log, in one line, what it served, what it serves now, why and how long
        it took, or why the candidate was refused."""
        before, started = self.current, time.monotonic()
        result = self._swap(uri, why, probe=probe, timeout=timeout)
        took = time.monotonic() - started
        was = f"v{before.version}" if before.version else before.uri or "-"
        if result.get("ok"):
            now = f"v{result.get('version')}" if result.get("version") else result.get("uri")
            line = f"[ctcd] {why}: {was} -> {now} ({result.get('uri')}) in {took:.2f} s"
        else:
            line = (f"[ctcd] {why}: {uri} refused after {took:.2f} s, still serving {was}: "
                    f"{result.get('error')}")
        print(redact.text(line), flush=True)
        return result

    def _swap(self, uri: str, why: str, *, probe: str | None,
              timeout: float | None) -> dict[str, Any]:
        with flock(self.folder / "coord.lock"):
            exact = None
            with contextlib.suppress(Exception):  # loading it says what is wrong
                exact = self.resolve(uri)[0]
            if exact is not None and exact == self.current.uri:
                s = self.current  # already served: no load, no new generation, no record
                return {"ok": True, "unchanged": True, "uri": s.uri, "version": s.version,
                        "generation": s.generation, "workers": self.workers()}
            try:
                failpoint("server.loading")
                served = self.load(uri, timeout)
                probe_model(served.app, probe or served.example)
            except CandidateError as exc:
                exact = self.resolve_quietly(uri)
                reason = f"{exact} was not served: {exc}"
                self.tag_failed(exact, str(exc))
                self._set_status(last_error=reason)
                return {"ok": False, "error": reason, "uri": exact,
                        "version": (parse_models_uri(exact) or (None, None))[1]}
            target = self._target() or {}
            generation = int(target.get("generation", 0)) + 1
            failpoint("server.before_switch")
            self._write_target(served, generation, why)
            self._switch(served, generation, why)
            self._record(served, why)
            self._set_status(last_error=None)
        workers = self._wait_workers(generation, time.monotonic() + float(timeout or 60))
        return {"ok": True, "uri": served.uri, "version": served.version,
                "generation": generation, "workers": workers}

    def _wait_workers(self, generation: int, deadline: float) -> list[dict[str, Any]]:
        wanted = int(self.config.get("workers") or 1)
        while True:
            workers = self.workers()
            done = [w for w in workers if int(w.get("generation", 0)) >= generation
                    or w.get("error")]
            if len(done) >= wanted or time.monotonic() >= deadline:
                return workers
            time.sleep(0.02)

    def _record(self, served: Served, why: str) -> None:
        try:
            hooks.call(self.config, "served", uri=served.uri, version=served.version, why=why)
        except Exception as exc:  # history is not worth refusing a deployment for
            print(f"[ctcd] could not record the served version: {one_line(exc)}", flush=True)

    # -- status -------------------------------------------------------------------------------
    def _report(self) -> None:
        s = self.current
        write_json(self._worker_file, {
            "pid": os.getpid(), "boot": self.boot_id, "generation": s.generation, "uri": s.uri,
            "version": s.version, "since": s.since, "error": self._worker_error})

    def workers(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted((self.folder / "workers").glob("*.json")):
            data = read_json(path)
            if not isinstance(data, dict) or data.get("boot") != self.boot_id:
                continue
            try:
                os.kill(int(data["pid"]), 0)
            except (OSError, ValueError, KeyError):
                continue
            found.append(data)
        return found

    def _set_status(self, **changes: Any) -> None:
        status = read_json(self.folder / "status.json") or {}
        status.update(changes, updated=time.time())
        write_json(self.folder / "status.json", status)

    def status(self) -> dict[str, Any]:
        s = self.current
        shared = read_json(self.folder / "status.json") or {}
        errors = [f"worker {w['pid']}: {w['error']}" for w in self.workers() if w.get("error")]
        return {"model_uri": self.config["model_uri"], "following": bool(self.follow),
                "serving": {"uri": s.uri, "version": s.version, "generation": s.generation,
                            "since": s.since, "why": s.why},
                "columns": s.columns, "pid": os.getpid(), "workers": self.workers(),
                "alias_version": self.alias_seen if isinstance(self.alias_seen, str) else None,
                "last_error": "; ".join([*([shared["last_error"]]
                                           if shared.get("last_error") else []), *errors])
                or None}

    # -- the background loop ------------------------------------------------------------------
    def follow_in_background(self) -> None:
        threading.Thread(target=self._loop, name="ctcd-follow", daemon=True).start()
        threading.Thread(target=self._recover_loop, name="ctcd-recover", daemon=True).start()
        threading.Thread(target=self._check_requirements, name="ctcd-requirements",
                         daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._checks.put(None)
        with contextlib.suppress(OSError):
            self._worker_file.unlink()

    def _loop(self) -> None:
        poll = float(self.config.get("poll_interval") or 1.0)
        next_poll = time.monotonic() + poll
        while not self._stop.wait(TICK):
            if self._parent is not None and os.getppid() != self._parent:
                print("[ctcd] the server's supervisor is gone; worker exits", flush=True)
                os._exit(0)
            try:
                self._catch_up()
                if self.follow and time.monotonic() >= next_poll and self._lead():
                    next_poll = time.monotonic() + poll
                    self._poll_alias()
            except Exception as exc:  # the loop must survive anything
                print(f"[ctcd] follower: {one_line(exc)}", flush=True)

    def _catch_up(self) -> None:
        target = self._target()
        generation = int((target or {}).get("generation", 0))
        if generation <= self.current.generation or generation == self._failed_generation:
            return
        try:
            served = self.load(target["uri"])
        except CandidateError as exc:
            self._failed_generation = generation  # not retried every tick; the next one is
            self._worker_error = f"cannot serve generation {generation}: {exc}"
            self._report()
            return
        self._switch(served, int(target["generation"]), target.get("why", "followed"))

    def _lead(self) -> bool:
        with self._leader_lock:
            if self._leader_fd is not None:
                return True
            fd = os.open(self.folder / "leader.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._leader_fd = fd  # held until this worker exits
            return True

    def _recover_loop(self) -> None:
        """The leader settles a deployment whose caller died (its own thread: a locked state
        store must not hold up following the alias)."""
        poll = float(self.config.get("poll_interval") or 1.0)
        while not self._stop.wait(poll):
            if not self._lead():
                continue
            try:
                hooks.call(self.config, "settle")
            except Exception as exc:  # retried next time
                print(f"[ctcd] settling an interrupted deployment: {one_line(exc)}", flush=True)

    def _poll_alias(self) -> None:
        assert self.follow is not None
        name, _, alias = self.follow
        try:
            version = self.registry.version_of(name, alias)
        except Exception as exc:
            self._set_status(last_error=f"following {self.config['model_uri']}: "
                                        f"{one_line(exc)}; still serving "
                                        f"{self.current.uri}", alias_error=True)
            self.alias_seen = _DELETED
            return
        shared = read_json(self.folder / "status.json") or {}
        if shared.get("alias_error"):
            self._set_status(last_error=None, alias_error=False)
        if version == self.alias_seen:
            return
        if version != self.current.version and self._deploying():
            return  # its caller moves the alias after the switch: look again once it is done
        self.alias_seen = version
        if version == self.current.version:
            return
        self.swap(f"models:/{name}/{version}", "followed the alias")

    def _deploying(self) -> bool:
        """Whether a deployment of this service is open (transaction.py); asked only before
        following a moved alias, so it costs nothing while the alias stays."""
        try:
            return bool(hooks.call(self.config, "pending", default=False))
        except Exception:  # no store to ask: follow, as before
            return False
