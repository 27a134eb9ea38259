"""The IPython front end: `%load_ext ctcd_jupyter` registers one Magics class per noun, all
acting on the process's workspace; `%unload_ext` stops the scheduler and removes them again.
"""

from __future__ import annotations

from typing import Any

from ..engine.capture import install, uninstall
from ..workspace import get_workspace
from .pipelines import PipelineMagics
from .progress import install as install_progress
from .schedules import ScheduleMagics
from .services import ServiceMagics

__all__ = ["load_ipython_extension", "unload_ipython_extension"]

MAGICS = (PipelineMagics, ScheduleMagics, ServiceMagics)

_LOADED_ATTR = "_ctcd_magics"


def load_ipython_extension(ipython: Any) -> None:
    if getattr(ipython, _LOADED_ATTR, None):
        return
    workspace = get_workspace()
    workspace.namespace = ipython.user_ns
    # Background runs print into their run's log, never into the cell the user is running.
    install()
    install_progress()
    # No workspace is pinned: each call acts on the default one (see CtcdMagics).
    instances = [cls(ipython) for cls in MAGICS]
    for instance in instances:
        ipython.register_magics(instance)
    setattr(ipython, _LOADED_ATTR, instances)


def unload_ipython_extension(ipython: Any) -> None:
    instances = getattr(ipython, _LOADED_ATTR, None)
    if not instances:
        return
    get_workspace().stop_scheduling()
    manager = ipython.magics_manager
    for instance in instances:
        for kind, names in instance.magics.items():
            for name in names:
                manager.magics[kind].pop(name, None)
        manager.registry.pop(type(instance).__name__, None)
    uninstall()
    setattr(ipython, _LOADED_ATTR, None)
