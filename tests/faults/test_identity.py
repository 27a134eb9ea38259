"""Who a process is: pid + start time (+ the session recorded at launch). An exec keeps the
process; a reused pid, a reused group or session id, or a forged record never gets a signal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from fault_helpers import alive, edit_row, wait_for

import ctcd_jupyter as ctcd
from ctcd_jupyter import identity
from ctcd_jupyter.services import ServiceState

# -- the identity module ----------------------------------------------------------------------


def test_current_identity_is_alive_and_a_reused_pid_is_not():
    me = identity.current()
    assert me.pid == os.getpid() and identity.is_alive(me)
    assert identity.is_alive(me.to_dict())
    assert identity.is_alive({"pid": me.pid, "started": me.create_time})  # runs' owner shape
    earlier = identity.ProcessIdentity(me.pid, me.create_time - 1000)
    assert not identity.is_alive(earlier)
    assert identity.liveness(earlier) is identity.Liveness.STALE


def test_an_exited_process_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = identity.ProcessIdentity.of(child.pid)
    child.wait()
    assert identity.liveness(ident) is identity.Liveness.GONE and not identity.is_alive(ident)


@pytest.mark.parametrize("data", [{"pid": "abc", "create_time": 1.0}, {"pid": 0, "started": 1},
                                  {"pid": 1, "create_time": 1.0}, {"pid": -5, "started": 1.0},
                                  {"pid": True, "started": 1.0}, {"pid": 12},
                                  {"pid": 12, "create_time": "yesterday"},
                                  {"pid": 12, "create_time": float("inf")}, "x", None])
def test_malformed_identities_are_refused_with_the_field(data):
    with pytest.raises(ValueError, match=r"pid|create_time|started|object"):
        identity.ProcessIdentity.from_dict(data)


def test_pids_that_are_never_signalled():
    me = os.getpid()
    for pid in (0, 1, -1, me, os.getpgid(0), os.getsid(0), os.getppid()):
        assert identity.refuse_signal(pid), pid
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             start_new_session=True)
    try:
        assert identity.refuse_signal(child.pid) is None
    finally:
        child.kill()
        child.wait()


# -- exec: same pid, same start time, another command line ------------------------------------


def test_a_command_that_execs_is_the_same_process(state):
    svc = ctcd.LocalDaemonService(
        "e", ["sh", "-c", f"sleep 0.3; exec {sys.executable} -m http.server --bind {{host}} "
              "{port}"])
    svc.start(timeout=20, progress=False)
    pid = svc.pid
    assert svc.status is ServiceState.ACTIVE
    wait_for(lambda: "http.server" in " ".join(psutil.Process(pid).cmdline()), 10, "the exec")
    assert svc.status is ServiceState.ACTIVE and svc.pid == pid
    svc.stop(timeout=5)
    assert not alive(pid) and svc.status is ServiceState.INACTIVE


# -- stale and forged records -----------------------------------------------------------------

DOUBLE_FORK = """
import os, sys, time
os.setsid()                      # a new session and group, both numbered by this pid
if os.fork() == 0:               # the daemon: stays in the group and session of its parent
    time.sleep(120)
    os._exit(0)
print(os.getpid(), flush=True)
os._exit(0)                      # the leader exits: its pid is free, the group is not
"""


def _unrelated_group():
    """An unrelated double-forked daemon whose group and session id is an exited leader's pid."""
    starter = subprocess.Popen([sys.executable, "-c", DOUBLE_FORK], stdout=subprocess.PIPE,
                               text=True)
    leader_pid = int(starter.stdout.readline())
    starter.wait()
    [daemon] = wait_for(lambda: [p for p in psutil.process_iter()
                                 if p.pid != leader_pid and _sid(p.pid) == leader_pid], 10,
                        "the daemon")
    return leader_pid, daemon


def _sid(pid):
    try:
        return os.getsid(pid)
    except OSError:
        return None


@pytest.mark.parametrize("action", ["stop", "start", "delete", "status", "restart"])
def test_a_stale_record_never_signals_a_group_that_reused_its_leaders_pid(state, ping_server,
                                                                          action):
    leader_pid, daemon = _unrelated_group()
    try:
        svc = ctcd.LocalDaemonService("stale", [sys.executable, str(ping_server), "{host}",
                                                "{port}"], health_path="/ping")
        svc.start(timeout=20, progress=False)
        svc.stop(timeout=5)
        # what a record looks like when our group is long gone and its leader's pid came back
        # as the leader of the daemon's group: the recorded start time is older than the daemon
        old = daemon.create_time() - 60
        svc._set(wanted=ServiceState.ACTIVE, status=ServiceState.ACTIVE, process={
            "leader": {"pid": leader_pid, "create_time": old, "cmdline": ["logrunner"]},
            "main": {"pid": leader_pid + 1, "create_time": old, "cmdline": ["server"]}})
        found = ctcd.get_service("stale")
        if action in ("start", "restart"):
            getattr(found, action)(timeout=20)
            assert found.is_running
            found.stop(timeout=5)
        elif action == "status":
            assert found.status is ServiceState.ERROR
        else:
            getattr(found, action)()
        time.sleep(0.2)  # a signal, had one been sent, is delivered by now
        assert daemon.is_running() and daemon.status() != psutil.STATUS_ZOMBIE, \
            "the unrelated daemon was signalled"
    finally:
        daemon.kill()


def test_a_record_forged_to_point_at_another_session_is_never_signalled(state, ping_server):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 start_new_session=True)
    try:
        me = identity.ProcessIdentity.of(bystander.pid)
        svc = ctcd.LocalDaemonService("forged", [sys.executable, str(ping_server), "{host}",
                                                 "{port}"], health_path="/ping")
        # exact pid and start time, but the session recorded at launch is another one
        fake = {"pid": me.pid, "create_time": me.create_time,
                "cmdline": psutil.Process(me.pid).cmdline()}
        svc._set(wanted=ServiceState.ACTIVE, status=ServiceState.ACTIVE,
                 process={"leader": dict(fake), "main": dict(fake), "sid": me.pid + 100_000})
        found = ctcd.get_service("forged")
        assert found.status is ServiceState.ERROR
        found.stop(timeout=1)
        found.delete()
        assert bystander.poll() is None, "the bystander was signalled"
    finally:
        bystander.kill()
        bystander.wait()


FORGE_SELF = """
import json, os, sys
import ctcd_jupyter as ctcd
from ctcd_jupyter import identity
from ctcd_jupyter.services import ServiceState
me = identity.current()
svc = ctcd.LocalDaemonService("self", [sys.executable, "-c", "pass"])
who = {"self": me, "parent": identity.ProcessIdentity.of(os.getppid())}[sys.argv[1]]
import psutil
fake = {"pid": who.pid, "create_time": who.create_time,
        "cmdline": psutil.Process(who.pid).cmdline()}   # the strongest forgery: all of it
svc._set(wanted=ServiceState.ACTIVE, status=ServiceState.ACTIVE,
         process={"leader": dict(fake), "main": dict(fake), "sid": os.getsid(who.pid)})
found = ctcd.get_service("self")
print(found.status.value, flush=True)
for action in ("stop", "delete"):
    try:
        getattr(found, action)()
    except ctcd.CtcdError as exc:
        print("refused:", exc, flush=True)
print("survived", flush=True)
"""


@pytest.mark.parametrize("who", ["self", "parent"])
def test_a_record_forged_to_point_at_the_caller_or_its_parent_is_never_signalled(state, who):
    # The caller runs in a session of its own, so that its group is its pid: the shape in which
    # "signal the group of the recorded leader" would hit it.
    wrapper = (f"import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', "
               f"{textwrap.dedent(FORGE_SELF)!r}, {who!r}]))")
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                         timeout=60, start_new_session=True,
                         env={**os.environ, "CTCD_HOME": str(state)})
    assert out.returncode == 0 and "survived" in out.stdout, (out.returncode, out.stdout,
                                                              out.stderr[-2000:])


def test_identity_survives_a_clock_step(state, ping_server):
    """Start times recorded in wall-clock seconds move when the clock is stepped; the start
    since boot does not: a record whose wall-clock start is off by minutes is still ours."""
    svc = ctcd.LocalDaemonService("clock", [sys.executable, str(ping_server), "{host}",
                                            "{port}"], health_path="/ping")
    svc.start(timeout=20, progress=False)
    pid = svc.pid

    def shift(data):
        for who in ("leader", "main"):
            data["runtime"]["process"][who]["create_time"] -= 300
    edit_row(state, "clock", shift)
    assert svc.status is ServiceState.ACTIVE
    svc.stop(timeout=5)
    assert not alive(pid)


def test_old_records_without_a_session_are_still_recognised(state, ping_server):
    """Rows written before the session was recorded: the session is the leader's pid."""
    svc = ctcd.LocalDaemonService("old", [sys.executable, str(ping_server), "{host}", "{port}"],
                                  health_path="/ping")
    svc.start(timeout=20, progress=False)
    pid = svc.pid

    def legacy(data):
        data["runtime"]["process"] = {
            who: {k: v for k, v in data["runtime"]["process"][who].items()
                  if k in ("pid", "create_time", "cmdline")} for who in ("leader", "main")}
    edit_row(state, "old", legacy)
    assert json.loads(json.dumps(svc.describe(), default=str))["status"] == "ACTIVE"
    svc.stop(timeout=5)
    assert not alive(pid)
