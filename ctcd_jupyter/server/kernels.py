"""The kernels of this Jupyter server, as owners of schedules: which kernel (and notebook) a
recorded owner pid is, and asking that kernel to act (`kernel_ops.act`) over the Jupyter
protocol: a silent execute request whose answer comes back as a user expression."""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..engine.run_store import owner_alive

__all__ = ["DelegationError", "KernelOwner", "delegate", "find_owners"]

TIMEOUT = 15.0  # a kernel busy with a long cell answers after it; say so rather than hang


class DelegationError(Exception):
    """The owning kernel could not be asked (busy, gone) or answered with an error."""


@dataclass(frozen=True)
class KernelOwner:
    kernel_id: str
    notebook: str | None


def _pids(kernel: Any) -> set[int]:
    """The kernel's process (and its children, for kernelspecs that start it via a wrapper)."""
    pid = getattr(getattr(kernel, "provisioner", None), "pid", None)
    if pid is None:
        return set()
    import psutil

    pids = {int(pid)}
    with contextlib.suppress(psutil.Error):
        pids |= {child.pid for child in psutil.Process(int(pid)).children(recursive=True)}
    return pids


async def find_owners(kernel_manager: Any, session_manager: Any) -> dict[int, KernelOwner]:
    """pid -> the kernel of this server running as that pid, with its notebook path."""
    notebooks: dict[str, str] = {}
    if session_manager is not None:
        for session in await session_manager.list_sessions():
            kernel = session.get("kernel") or {}
            if kernel.get("id"):
                notebooks[kernel["id"]] = session.get("path") or session.get("name")
    owners: dict[int, KernelOwner] = {}
    for kernel_id in kernel_manager.list_kernel_ids():
        try:
            kernel = kernel_manager.get_kernel(kernel_id)
        except KeyError:
            continue
        for pid in _pids(kernel):
            owners[pid] = KernelOwner(kernel_id, notebooks.get(kernel_id))
    return owners


def describe_owner(owner: Mapping[str, Any], owners: Mapping[int, KernelOwner]) -> dict:
    """What the REST answer adds to a schedule's recorded owner: alive, kernel id, notebook."""
    if not owner or "pid" not in owner:
        return {}
    try:
        pid = int(owner["pid"])
    except (TypeError, ValueError):
        return {"alive": False}
    found = owners.get(pid)
    extra: dict[str, Any] = {"alive": owner_alive(owner)}
    if found is not None and extra["alive"]:
        extra["kernel_id"] = found.kernel_id
        if found.notebook:
            extra["notebook"] = found.notebook
    return extra


async def delegate(kernel_manager: Any, kernel_id: str, home: str, name: str,
                   verb: str) -> dict:
    """Ask kernel `kernel_id` to `verb` schedule `name`; its JSON answer as a dict."""
    from jupyter_client.asynchronous import AsyncKernelClient

    kernel = kernel_manager.get_kernel(kernel_id)
    client = AsyncKernelClient(session=kernel.session)
    client.load_connection_info(kernel.get_connection_info())
    call = (f"__import__('ctcd_jupyter.server.kernel_ops', fromlist=['act'])"
            f".act({home!r}, {name!r}, {verb!r})")
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    try:
        reply = await client.execute("", silent=True, store_history=False,
                                     user_expressions={"answer": call}, allow_stdin=False,
                                     reply=True, timeout=TIMEOUT)
    except TimeoutError:
        raise DelegationError(f"the kernel did not answer within {TIMEOUT:.0f} s (busy with "
                              "a cell?); try again when it is idle") from None
    finally:
        client.stop_channels()
    answer = reply["content"].get("user_expressions", {}).get("answer", {})
    if answer.get("status") != "ok":
        raise DelegationError(f"the kernel could not do it: {answer.get('ename', 'error')}: "
                              f"{answer.get('evalue', '')} (is ctcd_jupyter importable there?)")
    return json.loads(ast.literal_eval(answer["data"]["text/plain"]))
