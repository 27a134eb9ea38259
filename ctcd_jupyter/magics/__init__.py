"""The IPython front end: `%load_ext ctcd_jupyter` registers one Magics class per noun, all
acting on the process's workspace; `%unload_ext` stops the scheduler and removes them again.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..capture import install, uninstall
from ..workspace import get_workspace

__all__ = ["load_ipython_extension", "show_widget", "unload_ipython_extension"]

_LOADED_ATTR = "_ctcd_magics"


def show_widget(shell: Any, name: str) -> bool:
    """Display panel `name` of ctcd_jupyter.widgets when the front end can show widgets (a
    Jupyter kernel with ipywidgets installed); False means: print the text form instead."""
    if type(shell).__name__ != "ZMQInteractiveShell":
        return False
    try:
        from .. import widgets
    except ImportError:
        return False
    from IPython.display import display

    display(getattr(widgets, name)())
    return True


def _magic_classes() -> list[type]:
    from .pipelines import PipelineMagics
    from .schedules import ScheduleMagics
    from .services import ServiceMagics

    return [PipelineMagics, ScheduleMagics, ServiceMagics]


def _instantiate(cls: type, ipython: Any, workspace: Any) -> Any:
    # Classes acting on the workspace take it; the services ones only need the state folder.
    if "workspace" in inspect.signature(cls.__init__).parameters:
        return cls(ipython, workspace)
    return cls(ipython)


def load_ipython_extension(ipython: Any) -> None:
    if getattr(ipython, _LOADED_ATTR, None):
        return
    workspace = get_workspace()
    workspace.namespace = ipython.user_ns
    # Background runs print into their run's log, never into the cell the user is running.
    install()
    instances = [_instantiate(cls, ipython, workspace) for cls in _magic_classes()]
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
