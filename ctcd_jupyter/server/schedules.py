"""REST handlers for schedules: the list (with the kernel and notebook that own each one) and
pause / resume / run now.

A schedule lives in the kernel that created it: its scheduler thread fires it, and its steps
read names from that notebook. So an action on a schedule goes to its owner: when the owner is a
kernel of this Jupyter server, the server asks that kernel (a silent execute request calling
`kernel_ops.act`); otherwise the answer is 409 naming the owner (another process, or a kernel
that has exited: then nothing fires, and it is resumed from a notebook with
`%schedule resume NAME`). The server never runs a schedule itself: it has neither the notebook's
names nor a reason to outlive it."""

from __future__ import annotations

import json

import tornado.web

from ..errors import unknown_name
from ..schedules.pipelines import Scheduling
from ..views.json import schedule_json
from .base import CtcdHandler
from .kernels import DelegationError, delegate, describe_owner, find_owners

__all__ = ["ScheduleActionHandler", "SchedulesHandler"]

ACTIONS = ("pause", "resume", "run")


class SchedulesHandler(CtcdHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        owners = await find_owners(self.kernel_manager, self.settings.get("session_manager"))
        infos = Scheduling(self.workspace()).overview()
        self.answer([schedule_json(i, owner=describe_owner(i.owner, owners)) for i in infos])


class ScheduleActionHandler(CtcdHandler):
    @tornado.web.authenticated
    async def post(self, name: str, action: str) -> None:
        if action not in ACTIONS:
            return self.fail(400, unknown_name("action", action, ACTIONS))
        info = next((i for i in Scheduling(self.workspace()).overview() if i.name == name), None)
        if info is None:
            return self.fail(404, f"no schedule named {name!r} in {self.home}")
        owners = await find_owners(self.kernel_manager, self.settings.get("session_manager"))
        owner = describe_owner(info.owner, owners)
        pid = info.owner.get("pid") if info.owner else None
        who = f"pid {pid:.0f}" if isinstance(pid, (int, float)) else "an unknown process"
        if not owner.get("alive", False):
            return self.fail(409, f"schedule {name!r} is not running: the kernel that ran it "
                                  f"({who}) has exited; open its notebook and run "
                                  f"`%schedule resume {name}` there")
        if "kernel_id" not in owner:
            return self.fail(409, f"schedule {name!r} runs in {who}, which is not a kernel of "
                                  f"this Jupyter server; use `%schedule {action} {name}` there")
        where = owner.get("notebook") or f"kernel {owner['kernel_id']}"
        try:
            answer = await delegate(self.kernel_manager, owner["kernel_id"], str(self.home),
                                    name, action)
        except DelegationError as exc:
            return self.fail(409, f"schedule {name!r} runs in {where}: {exc}")
        if "error" in answer:
            return self.fail(409, f"{where}: {answer['error']}")
        self.finish(json.dumps({**answer, "schedule": name, "owner": owner,
                                "message": f"{answer.get('message', 'done')} in {where}"}))
