"""What every ctcd Magics class shares: the workspace it acts on, and showing a panel."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics

from ..errors import front_end
from ..workspace import Workspace, get_workspace

__all__ = ["CtcdMagics", "show_widget"]


class CtcdMagics(Magics):
    """A Magics class acting on a workspace: the one given, else the process default at the
    time of each call (so `ctcd.set_workspace(...)` moves every magic and panel together)."""

    def __init__(self, shell: Any, workspace: Workspace | None = None):
        super().__init__(shell)
        self._workspace = workspace
        # Every magic of every subclass speaks magic syntax in the advice of its errors
        # (`%services rollback NAME --to VERSION`, not `svc.rollback(to=VERSION)`).
        for table in self.magics.values():
            for name, magic in table.items():
                table[name] = _speaking_magic(magic)

    @property
    def workspace(self) -> Workspace:
        workspace = self._workspace or get_workspace()
        if workspace.namespace is None and self.shell is not None:
            workspace.namespace = self.shell.user_ns  # names steps read come from the notebook
        return workspace


def _speaking_magic(magic: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(magic)  # keeps the docstring (`%magic?`) and IPython's flags on it
    def call(*args: Any, **kwargs: Any) -> Any:
        with front_end("magic"):
            return magic(*args, **kwargs)

    return call


def show_widget(shell: Any, name: str, **kwargs: Any) -> bool:
    """Display panel `name` of ctcd_jupyter.widgets when the front end can show widgets (a
    Jupyter kernel with ipywidgets installed); False means: print the text form instead."""
    if type(shell).__name__ != "ZMQInteractiveShell":
        return False
    try:
        from .. import widgets  # the front ends are siblings: magics show widgets lazily
    except ImportError:
        return False
    from IPython.display import display

    display(getattr(widgets, name)(**kwargs))
    return True
