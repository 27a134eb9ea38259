"""One malformed registry row never hides the others: it lists as unreadable, with the reason,
in `ctcd.services()`, `ctcd services list [--json]` and the REST API; it is never signalled."""

from __future__ import annotations

import json
import math
import sys

import pytest
from fault_helpers import alive, edit_row, set_column

import ctcd_jupyter as ctcd
from ctcd_jupyter import cli
from ctcd_jupyter.errors import ServiceError
from ctcd_jupyter.services import ServiceState


def _runtime(key, value):
    def change(data):
        data["runtime"][key] = value
    return change


def _config(key, value):
    def change(data):
        data["config"][key] = value
    return change


def _proc(who, key, value):
    def change(data):
        data["runtime"]["process"][who][key] = value
    return change


def _drop(*path):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


def _whole(text):
    return lambda data: text


# (id, how the row is broken, a word the reason must contain)
VARIANTS = [
    ("pid-abc", _proc("main", "pid", "abc"), "pid"),
    ("pid-minus-1", _proc("leader", "pid", -1), "pid"),
    ("pid-0", _proc("main", "pid", 0), "pid"),
    ("pid-1", _proc("leader", "pid", 1), "pid"),
    ("pid-float", _proc("main", "pid", 12.5), "pid"),
    ("pid-bool", _proc("main", "pid", True), "pid"),
    ("pid-huge", _proc("main", "pid", 2**70), "pid"),
    ("status-bogus", _runtime("status", "BOGUS"), "status"),
    ("wanted-bogus", _runtime("wanted", "BOGUS"), "wanted"),
    ("port-abc", _runtime("port", "abc"), "port"),
    ("port-huge", _runtime("port", 70000), "port"),
    ("config-port-abc", _config("port", "abc"), "port"),
    ("create-time-yesterday", _proc("main", "create_time", "yesterday"), "create_time"),
    ("create-time-nan", _proc("leader", "create_time", math.nan), "create_time"),
    ("cmdline-5", _proc("main", "cmdline", 5), "cmdline"),
    ("process-string", _runtime("process", "x"), "process"),
    ("process-empty", _runtime("process", {}), "process"),
    ("process-no-create-time", _drop("runtime", "process", "main", "create_time"),
     "create_time"),
    ("sid-abc", _runtime("process", None), None),  # replaced below (needs the process)
    ("last-error-5", _runtime("last_error", 5), "last_error"),
    ("started-abc", _runtime("started", "abc"), "started"),
    ("runtime-list", lambda data: data.update(runtime=[]), "runtime"),
    ("no-runtime", _drop("runtime"), "runtime"),
    ("no-config", _drop("config"), "config"),
    ("no-command", _drop("config", "command"), "command"),
    ("command-5", _config("command", 5), "command"),
    ("command-empty", _config("command", []), "command"),
    ("host-5", _config("host", 5), "host"),
    ("env-list", _config("env", ["A=1"]), "env"),
    ("not-json", _whole("{not json"), "JSON"),
    ("json-list", _whole("[]"), "object"),
    ("json-null", _whole("null"), "object"),
]
VARIANTS[[v[0] for v in VARIANTS].index("sid-abc")] = (
    "sid-abc", lambda data: data["runtime"]["process"].update(sid="abc"), "sid")
COLUMN_VARIANTS = [
    ("updated-abc", "updated", "abc", "updated"),
    ("unknown-kind", "kind", "no_such_kind", "kind"),
]
ALL_IDS = [v[0] for v in VARIANTS] + [v[0] for v in COLUMN_VARIANTS]


GONE = {"pid": 4_000_000, "create_time": 1.0, "cmdline": ["gone"]}


def _gone_process(data):
    """A process record like a running one's, of processes that are gone."""
    data["runtime"].update(wanted="ACTIVE", status="ACTIVE", port=9, process={
        "leader": dict(GONE), "main": dict(GONE), "sid": GONE["pid"]})


def _three_services(state, ping_server):
    """'a-good' running, 'm-bad' with a process record (as if it had run), 'z-good' stopped."""
    command = [sys.executable, str(ping_server), "{host}", "{port}"]
    good = ctcd.LocalDaemonService("a-good", command, health_path="/ping")
    good.start(timeout=20, progress=False)
    bad = ctcd.LocalDaemonService("m-bad", command, health_path="/ping")
    bad.start(timeout=20, progress=False)
    bad.stop(timeout=5)
    edit_row(state, "m-bad", _gone_process)
    ctcd.LocalDaemonService("z-good", command, health_path="/ping")
    return good


def _break(state, variant_id):
    for vid, change, word in VARIANTS:
        if vid == variant_id:
            edit_row(state, "m-bad", change)
            return word
    for vid, column, value, word in COLUMN_VARIANTS:
        if vid == variant_id:
            set_column(state, "m-bad", column, value)
            return word
    raise AssertionError(variant_id)


@pytest.mark.parametrize("variant", ALL_IDS)
def test_a_malformed_row_lists_as_unreadable_and_the_others_stay(state, ping_server, variant,
                                                                 capsys):
    good = _three_services(state, ping_server)
    word = _break(state, variant)

    listed = {s.name: s for s in ctcd.services()}
    assert list(listed) == ["a-good", "m-bad", "z-good"]
    assert listed["a-good"].status is ServiceState.ACTIVE
    assert listed["z-good"].status is ServiceState.INACTIVE
    bad = listed["m-bad"]
    assert bad.status is ServiceState.ERROR
    assert "unreadable" in bad.last_error and word in bad.last_error, bad.last_error
    assert "\n" not in bad.last_error

    assert cli.main(["services", "list"]) == 0
    table = capsys.readouterr().out
    assert "a-good" in table and "z-good" in table and "unreadable" in table
    assert cli.main(["services", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["a-good"]["status"] == "ACTIVE" and rows["m-bad"]["status"] == "ERROR"
    assert word in rows["m-bad"]["last_error"]

    # never acted on: stop and start refuse with what to do, delete forgets the row
    with pytest.raises(ServiceError, match="delete it"):
        bad.stop()
    with pytest.raises(ServiceError, match="delete it"):
        ctcd.get_service("m-bad").start()
    assert cli.main(["services", "stop", "m-bad"]) == 1
    assert "delete it" in capsys.readouterr().err
    assert good.is_running
    bad.delete()
    assert [s.name for s in ctcd.services()] == ["a-good", "z-good"]
    good.stop(timeout=5)


def test_a_kernels_own_service_object_sees_its_row_go_bad(state, ping_server):
    svc = ctcd.LocalDaemonService("mine", [sys.executable, str(ping_server), "{host}",
                                           "{port}"], health_path="/ping")
    svc.start(timeout=20, progress=False)
    pid = svc.pid
    edit_row(state, "mine", _proc("main", "pid", "abc"))
    assert svc.status is ServiceState.ERROR
    assert "unreadable" in svc.last_error and "pid" in svc.last_error
    with pytest.raises(ServiceError, match="delete it"):
        svc.stop()
    with pytest.raises(ServiceError, match="delete it"):
        svc.start()
    assert alive(pid)  # nothing was signalled on the strength of a broken row
    # a new object of the same name refuses too, instead of overwriting the row
    with pytest.raises(ServiceError, match="delete it"):
        ctcd.LocalDaemonService("mine", [sys.executable, "-c", "pass"])
    import os
    import signal

    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the test's own cleanup of what it started
    svc.delete()


async def test_rest_lists_every_row_with_bad_ones_unreadable(jp_fetch, state, ping_server):
    command = [sys.executable, str(ping_server), "{host}", "{port}"]
    ctcd.LocalDaemonService("a-good", command, health_path="/ping")
    names = []
    for vid, change, _word in VARIANTS:
        name = f"bad-{vid}"
        ctcd.LocalDaemonService(name, command, health_path="/ping")
        edit_row(state, name, _gone_process)
        edit_row(state, name, change)
        names.append(name)
    for vid, column, value, _word in COLUMN_VARIANTS:
        name = f"bad-{vid}"
        ctcd.LocalDaemonService(name, command, health_path="/ping")
        set_column(state, name, column, value)
        names.append(name)
    response = await jp_fetch("ctcd", "api", "services")
    assert response.code == 200
    listed = {r["name"]: r for r in json.loads(response.body)}
    assert listed["a-good"]["status"] == "INACTIVE"
    for name in names:
        assert listed[name]["status"] == "ERROR", name
        assert "unreadable" in listed[name]["last_error"], (name, listed[name])
