"""LocalDaemonService with real processes: lifecycle, identity, faults."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from service_helpers import ping_command, wait_for

from ctcd_jupyter.errors import PortInUseError, ServiceError, ServiceStartError
from ctcd_jupyter.identity import ProcessIdentity
from ctcd_jupyter.services import (
    LocalDaemonService,
    ServiceState,
    get_service,
    process,
    services,
)


def make(name, ping_server, *extra, **kwargs):
    kwargs.setdefault("port", 0)
    kwargs.setdefault("health_path", "/ping")
    return LocalDaemonService(name, ping_command(ping_server, *extra), **kwargs)


def test_start_stop_lifecycle(home, ping_server):
    svc = make("web", ping_server)
    assert svc.status is ServiceState.INACTIVE and not svc.is_running
    assert svc.start(timeout=10) is svc
    assert svc.status is ServiceState.ACTIVE and svc.is_running
    assert svc.endpoint.startswith("http://127.0.0.1:")
    port, pid = svc.port, svc.pid
    svc.start(timeout=10)  # idempotent: same process
    assert svc.pid == pid
    assert "serving on" in svc.logs(tail=5)
    # A session of its own: a kernel interrupt (SIGINT to our group) never reaches it.
    assert os.getsid(pid) != os.getsid(0) and os.getpgid(pid) != os.getpgid(0)
    folder = home / "services" / "web"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "service.log").stat().st_mode) == 0o600
    svc.stop(timeout=5)
    assert svc.status is ServiceState.INACTIVE
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert process.port_is_free("127.0.0.1", port)
    svc.stop()  # idempotent


def test_found_by_another_process_after_the_starter_exits(home, ping_server):
    script = textwrap.dedent(f"""
        from ctcd_jupyter.services import LocalDaemonService
        svc = LocalDaemonService("survivor", {ping_command(ping_server)!r}, port=0,
                                 health_path="/ping")
        svc.start(timeout=10)
        print(svc.pid)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "CTCD_HOME": str(home)})
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[-1])
    svc = get_service("survivor")
    assert svc.pid == pid
    assert svc.status is ServiceState.ACTIVE  # the starter exited; the server keeps serving
    assert [s.name for s in services()] == ["survivor"]
    svc.stop(timeout=5)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_kill_9_is_error_on_next_check_and_restart_recovers(home, ping_server):
    svc = make("crashy", ping_server)
    svc.start(timeout=10)
    os.kill(svc.pid, signal.SIGKILL)
    wait_for(lambda: svc.status is ServiceState.ERROR and "exited" in svc.last_error, 5,
             "ERROR after kill -9")
    assert "serving on" in svc.last_error  # with the log tail
    assert get_service("crashy").status is ServiceState.ERROR  # other processes see it too
    svc.restart(timeout=10)
    assert svc.status is ServiceState.ACTIVE and svc.last_error is None


def test_stale_pid_of_unrelated_process_is_never_signalled(home, ping_server):
    svc = make("stale", ping_server)
    svc.start(timeout=10)
    svc.stop(timeout=5)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc = psutil.Process(bystander.pid)
        wait_for(proc.cmdline, 5, "the bystander's command line")
        # a reused pid; and the very process, but not in the session recorded at launch
        for create_time, cmdline in [(proc.create_time() - 1000, proc.cmdline()),
                                     (proc.create_time(), ["something", "else"])]:
            fake = process.ProcessRecord(ProcessIdentity(bystander.pid, create_time),
                                         tuple(cmdline))
            svc._set(wanted=ServiceState.ACTIVE, status=ServiceState.ACTIVE,
                     process=process.ServiceProcess(fake, fake).to_dict())
            found = get_service("stale")
            assert found.status is ServiceState.ERROR
            assert "stale" in found.last_error
            found.stop(timeout=1)
            found.start  # noqa: B018 - the record is still usable
            assert bystander.poll() is None, "the unrelated process was signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_corrupt_record_is_listed_as_unknown(home, ping_server):
    make("good", ping_server)
    make("broken", ping_server)
    from ctcd_jupyter.services.records import ServiceRecords

    ServiceRecords(home).store.execute(
        "UPDATE services SET data = '{not json' WHERE name = 'broken'")
    listed = {s.name: s for s in services()}
    assert set(listed) == {"good", "broken"}
    assert listed["good"].status is ServiceState.INACTIVE
    assert listed["broken"].status is ServiceState.ERROR
    assert "unreadable" in listed["broken"].last_error
    with pytest.raises(ServiceError, match="delete it"):
        listed["broken"].start()
    listed["broken"].delete()
    assert [s.name for s in services()] == ["good"]


def test_port_taken(home, ping_server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        svc = make("fixed", ping_server, port=taken)
        with pytest.raises(PortInUseError, match=f"port {taken}") as info:
            svc.start(timeout=10)
        assert info.value.port == taken
        assert svc.status is ServiceState.ERROR and str(taken) in svc.last_error
        auto = make("auto", ping_server)
        auto.start(timeout=10)
        assert auto.port != taken and auto.is_running


def test_server_ignoring_term_is_killed_after_timeout(home, ping_server):
    svc = make("stubborn", ping_server, "ignore-term")
    svc.start(timeout=10)
    pid, port = svc.pid, svc.port
    started = time.monotonic()
    svc.stop(timeout=1.0)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 8, elapsed
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert process.port_is_free("127.0.0.1", port)


def test_failing_command_reports_log_tail_and_leaves_nothing(home):
    svc = LocalDaemonService(
        "dies", [sys.executable, "-c", "import sys; print('cannot load model'); sys.exit(3)"],
        port=0, health_path="/ping")
    with pytest.raises(ServiceStartError) as info:
        svc.start(timeout=10)
    assert info.value.returncode == 3 and "cannot load model" in info.value.log_tail
    assert svc.status is ServiceState.ERROR and "cannot load model" in svc.last_error


def test_start_timeout_kills_what_was_launched(home):
    svc = LocalDaemonService("silent", [sys.executable, "-c", "import time; time.sleep(60)"],
                             port=0, health_path="/ping")
    started = time.monotonic()
    with pytest.raises(ServiceStartError, match="within 1 s"):
        svc.start(timeout=1)
    assert time.monotonic() - started < 8
    assert svc.status is ServiceState.ERROR
    assert svc._process is None


def test_missing_executable(home):
    svc = LocalDaemonService("nothing", ["/nonexistent/program"])
    with pytest.raises(ServiceStartError, match="nonexistent"):
        svc.start(timeout=5)


def test_log_is_capped(home):
    chatty = ("import sys\nfor i in range(4000): print('x' * 99)\n"
              "sys.stdout.flush()\nimport time; time.sleep(60)")
    svc = LocalDaemonService("chatty", [sys.executable, "-c", chatty], log_max_bytes=100_000)
    svc.start(timeout=10)
    log = home / "services" / "chatty" / "service.log"
    wait_for(lambda: (log.with_name("service.log.2")).exists(), 10, "two rotations")
    sizes = [p.stat().st_size for p in log.parent.glob("service.log*")]
    assert max(sizes) <= 100_000 and len(sizes) == 3  # the log, .1 and .2; older ones dropped
    assert len(svc.logs(tail=1000).splitlines()) == 1000  # reaching into service.log.1


def test_same_name_other_config_while_running_is_refused(home, ping_server):
    svc = make("one", ping_server)
    svc.start(timeout=10)
    with pytest.raises(ServiceError, match="different configuration"):
        LocalDaemonService("one", [sys.executable, "-c", "pass"])
    again = make("one", ping_server)  # the same configuration re-attaches
    assert again.uuid == svc.uuid and again.pid == svc.pid and again.is_running


def test_a_process_with_over_1024_open_files_starts_and_stops_services(home, ping_server):
    # select() refuses fds above 1023 ("filedescriptor out of range in select()"): a long test
    # session or a kernel with many services has them; a start must not care.
    script = textwrap.dedent(f"""
        import os, resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
        assert max(held) > 1024
        from ctcd_jupyter.services import LocalDaemonService
        svc = LocalDaemonService("many-fds", {ping_command(ping_server)!r}, port=0,
                                 health_path="/ping")
        svc.start(timeout=10)
        print(svc.status.value)
        svc.stop(timeout=5)
        print(svc.status.value)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "CTCD_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["ACTIVE", "INACTIVE"]
