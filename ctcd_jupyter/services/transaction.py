"""A deployment as one transaction: its intent is recorded in the store before the server
switches, and whoever touches the service next completes or undoes one whose caller died.

The rule, in one home (`recover`): the server's own state (`target.json` in the service folder,
written atomically at each switch) says whether the intended URI is served. If it is, the
deployment happened: the alias moves to it and the intended decision is recorded with
"interrupted; completed by recovery". If not, it did not: the alias never moved (it moves only
after the switch) and a failed decision says "interrupted; undone by recovery". A recoverer
claims the intent in the store first (two never act on one) and decides only while the server
is not switching (its `coord.lock` is free). Closing the intent, recording its decision and
pinning are one SQLite transaction: a decision is recorded once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import identity
from ..errors import ServiceError, StateError
from ..model_server.failpoints import failpoint
from ..model_server.model_uri import parse_models_uri
from ..model_server.slot_files import read_target
from ..state import Store
from .records import ServiceRecords

__all__ = ["DECISION_FIELDS", "follow_alias", "is_pending", "pending", "pending_services",
           "pinned", "record_decision", "recover", "run", "unpin"]

# A claim older than this belongs to a recoverer that died: another may take it over.
LEASE = 60.0
BEAT = 0.05
# What a decision row holds (`ctcd.deployments()`'s DeploymentRecord fields, without the id).
DECISION_FIELDS = ("model_name", "outcome", "reason", "metric", "value", "champion_value",
                   "version", "champion_version", "run_id", "endpoint", "created")


def _store(home: str | Path | None) -> Store:
    return ServiceRecords(home).store


def _insert_decision(conn: Any, decision: dict[str, Any]) -> int:
    data = {key: decision.get(key) for key in DECISION_FIELDS}
    data["created"] = data["created"] or time.time()
    row = conn.execute("INSERT INTO deployments (model_name, data, created) VALUES (?, ?, ?) "
                       "RETURNING id", (data["model_name"], Store.dumps(data),
                                        data["created"])).fetchone()
    return int(row["id"] if isinstance(row, sqlite3.Row) else row[0])


def record_decision(store: Store, decision: dict[str, Any]) -> int:
    """Record one deployment decision (the one writer of the `deployments` table); its id."""
    with store.transaction() as conn:
        return _insert_decision(conn, decision)


# -- intents ----------------------------------------------------------------------------------
def pending(store: Store, service: str) -> dict[str, Any] | None:
    """The open intent of `service` (with its `id`), or None."""
    rows = store.execute("SELECT id, data FROM deploy_intents WHERE service = ?", (service,))
    if not rows:
        return None
    return {**Store.loads(rows[0]["data"]), "id": rows[0]["id"]}


def is_pending(home: str | Path | None, service: str) -> bool:
    """Whether a deployment of `service` is open (its intent recorded, not yet closed)."""
    return pending(_store(home), service) is not None


def pending_services(store: Store) -> set[str]:
    """Names of the services with an open intent (none when the store cannot say)."""
    try:
        return {r["service"] for r in store.execute("SELECT service FROM deploy_intents")}
    except (sqlite3.Error, StateError):  # e.g. a read-only state folder from before intents
        return set()


def _close(store: Store, intent_id: str, decision: dict[str, Any] | None,
           pin: dict[str, Any] | None = None, claimer: str | None = None) -> int | None:
    """Delete the intent and record its decision (and pin), atomically; None when the intent
    was already closed by someone else."""
    with store.transaction() as conn:
        sql, args = "DELETE FROM deploy_intents WHERE id = ?", (intent_id,)
        if claimer is not None:
            sql, args = sql + " AND claimed = ?", (intent_id, claimer)
        if not conn.execute(sql + " RETURNING service", args).fetchall():
            return None
        if decision is None:
            return None
        decision = {**decision, "created": time.time()}
        if pin is not None:
            conn.execute("INSERT INTO pins (service, data, created) VALUES (?, ?, ?) ON "
                         "CONFLICT(service) DO UPDATE SET data = excluded.data, "
                         "created = excluded.created",
                         (pin["service"], Store.dumps(pin["pin"]), time.time()))
        return _insert_decision(conn, decision)


def _claim(store: Store, intent_id: str, claimer: str) -> bool:
    now = time.time()
    return bool(store.execute(
        "UPDATE deploy_intents SET claimed = ?, claimed_at = ? WHERE id = ? AND "
        "(claimed IS NULL OR claimed_at < ?) RETURNING id", (claimer, now, intent_id,
                                                              now - LEASE)))


def _release(store: Store, intent: dict[str, Any], claimer: str, *, abandon: bool) -> None:
    """Give a claim back; `abandon`: its owner gives up too, so anyone may recover it."""
    data = {k: v for k, v in intent.items() if k != "id"}
    if abandon:
        data["owner"] = None
    store.execute("UPDATE deploy_intents SET claimed = NULL, claimed_at = NULL, data = ? "
                  "WHERE id = ? AND claimed = ?", (Store.dumps(data), intent["id"], claimer))


@contextlib.contextmanager
def _server_idle(folder: Path, wait: float) -> Iterator[bool]:
    """Hold the server's coordination lock (no switch can start meanwhile): True when got
    within `wait` seconds, False while the server is loading or switching."""
    fd = os.open(folder / "coord.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(BEAT)
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def _move_alias(tracking_uri: str | None, alias: list[str], version: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(
        alias[0], alias[1], str(version))


def recover(home: str | Path | None, service: str, *, own: str | None = None,
            wait: float = 0.0) -> int | None:
    """Complete or undo the open intent of `service` when its caller is gone (or, with `own`,
    the caller's own intent after it failed); the id of the decision recorded, else None
    (nothing to do, the caller still runs, another recoverer has it, the server is busy)."""
    store = _store(home)
    intent = pending(store, service)
    if intent is None or (own is not None and intent["id"] != own):
        return None
    owner = intent.get("owner")
    if own is None and owner and identity.liveness(owner) is not identity.Liveness.GONE:
        return None
    claimer = uuidlib.uuid4().hex
    if not _claim(store, intent["id"], claimer):
        return None
    folder = ServiceRecords(home).folder(service)
    settled = False
    try:
        with _server_idle(folder, wait) as idle:
            if idle:
                decision = _settle(store, intent, folder, claimer)
                settled = True
                return decision
            return None
    finally:
        if not settled:
            _release(store, intent, claimer, abandon=own is not None)


def _settle(store: Store, intent: dict[str, Any], folder: Path, claimer: str) -> int | None:
    served = read_target(folder) or {}
    decision = dict(intent["decision"])
    if served.get("uri") == intent["uri"]:
        if intent.get("alias"):
            _move_alias(intent.get("tracking_uri"), intent["alias"], intent["version"])
        decision["reason"] = (f"{decision.get('reason') or intent['why']}; interrupted; "
                              "completed by recovery")
        pin = {"service": intent["service"], "pin": intent["pin"]} if intent.get("pin") \
            else None
        return _close(store, intent["id"], decision, pin, claimer)
    now = served.get("version")
    decision.update(outcome="failed", version=intent.get("version"), champion_version=now,
                    reason=f"{intent['doing']} was interrupted; undone by recovery"
                    + (f"; v{now} keeps serving" if now else ""))
    return _close(store, intent["id"], decision, None, claimer)


# -- the caller's side ------------------------------------------------------------------------
def follow_alias(model_uri: str) -> list[str] | None:
    """[name, alias] of a followed `models:/NAME@ALIAS`, else None."""
    parsed = parse_models_uri(model_uri)
    return [parsed[0], parsed[2]] if parsed and parsed[2] else None


def _begin(store: Store, svc: Any, intent: dict[str, Any], deadline: float) -> str:
    intent_id = uuidlib.uuid4().hex
    while True:
        if store.execute("INSERT INTO deploy_intents (service, id, data, created) VALUES "
                         "(?, ?, ?, ?) ON CONFLICT(service) DO NOTHING RETURNING id",
                         (svc.name, intent_id, Store.dumps(intent), time.time())):
            return intent_id
        recover(svc.home, svc.name)
        other = pending(store, svc.name)
        if other is not None and time.monotonic() >= deadline:
            pid = (other.get("owner") or {}).get("pid")
            raise ServiceError(
                f"service {svc.name!r}: another deployment ({other.get('doing')}"
                + (f", by pid {pid}" if pid else "") + ") is still in progress; try again "
                "when it is done", service=svc.name)
        time.sleep(BEAT)


def run(svc: Any, uri: str, *, version: str | None, why: str, doing: str,
        decision: dict[str, Any], probe: Any = None, timeout: float | None = None,
        progress: Any = False, pin: dict[str, Any] | None = None,
        refused: tuple[type[BaseException], ...] = ()) -> int | None:
    """Serve `uri` (registry `version`) on `svc` as one transaction: record the intent, switch
    the server, move a followed alias, then record `decision` (and `pin`) while closing the
    intent; the decision's id. An exception of a `refused` type (the server refused the model,
    a first start failed) closes the intent without a decision, for the caller to record; any
    other failure settles it by the rule, as a recoverer would."""
    store = _store(svc.home)
    served = read_target(svc.folder) or {}
    intent = {"service": svc.name, "uri": uri, "version": version, "why": why, "doing": doing,
              "alias": follow_alias(svc.config["model_uri"]),
              "from_version": served.get("version"),
              "tracking_uri": svc.config.get("tracking_uri"),
              "owner": identity.current().to_dict(), "decision": decision, "pin": pin,
              "created": time.time()}
    wait = 180.0 if timeout is None else float(timeout)
    intent_id = _begin(store, svc, intent, time.monotonic() + wait)
    try:
        failpoint("deploy.before_load")
        svc.swap_model(uri, probe=probe, timeout=timeout, progress=progress, why=why)
        failpoint("deploy.after_switch")
        if intent["alias"]:
            _move_alias(intent["tracking_uri"], intent["alias"], str(version))
        failpoint("deploy.after_alias")
        done = _close(store, intent_id, {**decision, "endpoint": svc.endpoint},
                      {"service": svc.name, "pin": pin} if pin else None)
    except refused:
        _close(store, intent_id, None)
        raise
    except BaseException:
        with contextlib.suppress(Exception):  # the original error is the one to show
            recover(svc.home, svc.name, own=intent_id, wait=5.0)
        raise
    failpoint("deploy.after_record")
    return done


# -- pins ---------------------------------------------------------------------------------------
def pinned(home: str | Path | None, service: str) -> dict[str, Any] | None:
    """The pin a rollback put on `service` ({"version", "at", "reason"}), or None."""
    try:
        rows = _store(home).execute("SELECT data FROM pins WHERE service = ?", (service,))
    except (sqlite3.Error, StateError):
        return None
    return Store.loads(rows[0]["data"]) if rows else None


def unpin(home: str | Path | None, service: str) -> dict[str, Any] | None:
    """Remove `service`'s pin; the pin removed, or None."""
    rows = _store(home).execute("DELETE FROM pins WHERE service = ? RETURNING data", (service,))
    return Store.loads(rows[0]["data"]) if rows else None
