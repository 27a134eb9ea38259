"""A state folder that cannot be written (read-only, immutable, full): a new service fails with
one clear line naming the folder, and leaves no ghost row behind.

The tests run as root, for whom permission bits mean nothing: "cannot write" is made real with
`chattr +i` (immutable folder) and with a tmpfs mount (read-only remount, or full)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from fault_helpers import wait_for

import ctcd_jupyter as ctcd
from ctcd_jupyter.errors import CtcdError
from ctcd_jupyter.services.records import ServiceRecords


def _rows(home: Path) -> list[str]:
    return [r["name"] for r in ServiceRecords(home).store.execute("SELECT name FROM services")]


def _run(*argv: str) -> bool:
    return subprocess.run(argv, capture_output=True).returncode == 0


_WHY = (" (needs root with CAP_SYS_ADMIN: root ignores file modes, so only this makes a "
        "folder unwritable)")


@contextlib.contextmanager
def immutable(folder: Path):
    if shutil.which("chattr") is None or not _run("chattr", "+i", str(folder)):
        pytest.skip("chattr +i is not available here"
                    + _WHY)
    try:
        yield
    finally:
        _run("chattr", "-i", str(folder))


@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "2m"):
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or not _run("mount", "-t", "tmpfs", "-o",
                                                 f"size={size},mode=0700", "tmpfs",
                                                 str(folder)):
        pytest.skip("cannot mount a tmpfs here"
                    + _WHY)
    try:
        yield
    finally:
        _run("umount", "-l", str(folder))


def _command(ping_server):
    return [sys.executable, str(ping_server), "{host}", "{port}"]


def test_a_new_service_whose_left_over_folder_is_immutable_leaves_no_ghost_row(state,
                                                                              ping_server):
    ctcd.LocalDaemonService("existing", _command(ping_server))  # the store is open and in use
    leftover = state / "services" / "new"  # e.g. left by a service deleted earlier
    leftover.mkdir(parents=True)
    with immutable(leftover):
        with pytest.raises(CtcdError, match=str(leftover)) as info:
            ctcd.LocalDaemonService("new", _command(ping_server))
        assert "\n" not in str(info.value)
        assert _rows(state) == ["existing"], "a ghost row was left"
    assert [s.name for s in ctcd.services()] == ["existing"]


def test_a_new_service_whose_services_folder_is_immutable_leaves_no_ghost_row(state,
                                                                             ping_server):
    ctcd.LocalDaemonService("existing", _command(ping_server))
    (state / "services").mkdir(exist_ok=True)
    with immutable(state / "services"):
        with pytest.raises(CtcdError, match="services"):
            ctcd.LocalDaemonService("new", _command(ping_server))
        assert _rows(state) == ["existing"], "a ghost row was left"


NEW_SERVICE = """
import sys
import ctcd_jupyter as ctcd
try:
    ctcd.LocalDaemonService("new", [sys.executable, "-c", "pass"])
except ctcd.CtcdError as exc:
    print("CtcdError:", exc)
"""


def test_a_read_only_state_folder_refuses_a_new_service_in_one_line(state, tmp_path,
                                                                    ping_server):
    """Another process sees the state folder through a read-only mount (a bind mount, since a
    folder with files open for writing cannot be remounted read-only)."""
    running = ctcd.LocalDaemonService("existing", _command(ping_server), health_path="/ping")
    running.start(timeout=20, progress=False)
    view = tmp_path / "ro-view"
    view.mkdir()
    if not _run("mount", "--bind", str(state), str(view)):
        pytest.skip("cannot bind-mount here"
                    + _WHY)
    try:
        if not _run("mount", "-o", "remount,bind,ro", str(view)):
            pytest.skip("cannot remount read-only here"
                    + _WHY)
        out = subprocess.run([sys.executable, "-c", NEW_SERVICE], capture_output=True,
                             text=True, timeout=60, env={**os.environ, "CTCD_HOME": str(view)})
        assert out.returncode == 0, out.stderr[-2000:]
        lines = out.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("CtcdError:"), out.stdout
        assert "read-only" in lines[0].lower(), lines[0]
        assert str(view) in lines[0]
    finally:
        _run("umount", "-l", str(view))
    assert _rows(state) == ["existing"] and running.is_running
    running.stop(timeout=5)


def test_a_full_state_folder_refuses_a_new_service_and_leaves_no_ghost_row(tmp_path,
                                                                         monkeypatch,
                                                                         ping_server):
    home = tmp_path / "full-home"
    monkeypatch.setenv("CTCD_HOME", str(home))
    with tmpfs(home, size="1m"):
        ctcd.LocalDaemonService("existing", _command(ping_server))
        filler = home / "filler"
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        try:
            with pytest.raises(CtcdError, match=r"full|space|cannot write") as info:
                ctcd.LocalDaemonService("new-" + "x" * 90, [sys.executable, "-c", "x" * 60000])
            assert "\n" not in str(info.value)
        finally:
            filler.unlink()
        assert _rows(home) == ["existing"]


CHATTY = """
import sys, time
i = 0
while True:
    print("line", i, "x" * 200, flush=True)
    i += 1
    time.sleep(0.01)
"""


def test_a_running_service_survives_a_full_disk_and_its_log_resumes(tmp_path, monkeypatch):
    home = tmp_path / "full-home"
    monkeypatch.setenv("CTCD_HOME", str(home))
    with tmpfs(home, size="2m"):
        svc = ctcd.LocalDaemonService("chatty", [sys.executable, "-c", CHATTY],
                                      log_max_bytes=400_000)
        svc.start(timeout=20, progress=False)
        pid = svc.pid
        filler = home / "filler"
        try:
            with open(filler, "wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            # the service writes 20 KB more into its pipe while nothing can be logged
            written = psutil.Process(pid).io_counters().write_chars
            wait_for(lambda: psutil.Process(pid).io_counters().write_chars > written + 20_000,
                     10, "output while the disk is full")
            assert svc.status is ctcd.ServiceState.ACTIVE
            filler.unlink()
            wait_for(lambda: "bytes of output were lost" in svc.logs(tail=2000), 10,
                     "the log to note the lost output")
            assert svc.status is ctcd.ServiceState.ACTIVE and svc.pid == pid
        finally:
            with contextlib.suppress(FileNotFoundError):
                filler.unlink()
            svc.stop(timeout=5)
        assert svc.status is ctcd.ServiceState.INACTIVE
