"""What a model service served and may serve again: its history, rollbacks and their pins, and
settling a deployment whose caller died (the transaction itself is in transaction.py).

A mixin of `MLFlowDeploymentService` (mlflow_serving.py), which supplies the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import ModelSwapError, ServiceError, ServiceStartError, advice
from ..model_server.model_uri import parse_models_uri
from . import transaction
from .base import _reporter

__all__ = ["ModelVersions"]


class ModelVersions:
    """History, rollback, pin/unpin and recovery of a model service."""

    _name: str
    server: Any  # the server kind (server_kinds.py)
    config: dict[str, Any]
    home: Any
    _records: Any
    model_version: str | None
    serving_uri: str | None

    def history(self) -> list[dict[str, Any]]:
        """Every version served, oldest first, with served_from / served_until and why."""
        from .serving_history import history

        return history(self.home, self._name)

    def rollback(self, to: str | int | None = None, *,
                 progress: bool | Callable[[str], None] | None = False,
                 ) -> Any:
        """Serve the previously served version again (or version `to`), and pin it: a followed
        alias moves back too, and `ctcd.mlflow_deploy` keeps it ("kept: pinned by rollback")
        until `unpin()`. Rolling back to the version served is a no-op, recorded once."""
        self.recover()
        report = _reporter(self._name, progress)
        current = self.model_version
        if to is None:
            earlier = [h for h in self.history() if h.get("version")
                       and h["version"] != current]
            if not earlier:
                raise ServiceError(
                    f"service {self._name!r} has served no earlier version to roll back to; "
                    "name one with " + advice(
                        python="svc.rollback(to=VERSION)",
                        magic=f"%services rollback {self._name} --to VERSION",
                        cli=f"ctcd rollback {self._name} --to VERSION"), service=self._name)
            to = earlier[-1]["version"]
        to = str(to)
        parsed = parse_models_uri(self.serving_uri or self.config["model_uri"])
        if parsed is None:
            raise ServiceError(f"service {self._name!r} does not serve a registered model "
                               f"({self.config['model_uri']}); nothing to roll back",
                               service=self._name)
        decision = {"model_name": self._name, "outcome": "rolled_back", "version": to,
                    "champion_version": current, "created": time.time()}
        store = self._records.store
        if to == current:
            transaction.record_decision(store, {**decision, "outcome": "kept", "version": None,
                                                "reason": f"already serving v{to}"})
            report(f"already serving v{to}")
            return self
        decision["reason"] = f"rolled back from v{current or '-'} to v{to}; pinned"
        transaction.run(self, f"models:/{parsed[0]}/{to}", version=to, why="rolled back",
                        doing=f"rolling back to v{to}", decision=decision, progress=report,
                        pin={"version": to, "at": time.time(), "reason": "rollback"},
                        refused=(ModelSwapError, ServiceStartError))
        report(self.pin_note() or f"serving v{to}")
        return self

    @property
    def pinned(self) -> dict[str, Any] | None:
        """None, or {"version", "at" (epoch seconds), "reason"}: the version a rollback pinned,
        which `ctcd.mlflow_deploy` does not replace until `unpin()`."""
        return transaction.pinned(self.home, self._name)

    def unpin(self) -> Any:
        """Let `ctcd.mlflow_deploy` replace the served version again."""
        transaction.unpin(self.home, self._name)
        return self

    def pin_note(self) -> str | None:
        """One line saying what is pinned and how to undo it, in the caller's syntax."""
        pin = self.pinned
        if pin is None:
            return None
        return (f"v{pin['version']} is pinned: deployments keep it until " + advice(
            python="svc.unpin()", magic=f"%services unpin {self._name}",
            cli=f"ctcd unpin {self._name}"))

    def __repr__(self) -> str:
        text = super().__repr__()
        try:
            note = self.pin_note()
        except Exception:  # a repr must not raise
            note = None
        return f"{text[:-1]}; {note}>" if note else text

    def recover(self) -> int | None:
        """Settle a deployment of this service whose caller died (complete or undo it, see
        transaction.py); the id of the decision recorded, else None."""
        return self.server.recover(self)

