"""`ctcd serve`, `ctcd rollback`, `ctcd deployments`: serving from a shell, with no notebook.

"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from typing import Any

from ..model_server import redact
from ..views.format import when
from .group import Group

__all__ = ["COMMANDS"]


def _when(ts: float | None) -> str:
    return when(ts) if ts else "now"


# -- ctcd serve ---------------------------------------------------------------------------------
def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_uri", help="what to serve; models:/NAME@ALIAS is followed")
    parser.add_argument("--name", default=None,
                        help="service name (default: the registered model's name)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: a free one, kept across restarts)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (default 1)")
    parser.add_argument("--poll", type=float, default=1.0,
                        help="seconds between checks of a followed alias (default 1)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for health")
    parser.add_argument("--max-request-size", type=_size, default=None, metavar="SIZE",
                        help="refuse larger request bodies with 413: bytes, or 10MB, 64MiB "
                             "(default 64MiB)")
    parser.add_argument("--detach", action="store_true",
                        help="start (or re-attach), print the endpoint and exit, leaving the "
                             "server running; by default stay in the foreground, print each "
                             "change of the served version, and stop the server (draining "
                             "requests in flight) on Ctrl-C, SIGTERM or SIGHUP, or with this "
                             "command if it is killed")


def _size(text: str) -> int:
    from ..model_server.request_limit import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _default_name(uri: str) -> str:
    from ..model_server.model_uri import parse_models_uri

    parsed = parse_models_uri(uri)
    return parsed[0] if parsed else "model"


def _serve(args: argparse.Namespace) -> int:
    from ..errors import ServiceNotFoundError
    from ..services import MLFlowDeploymentService, get_service
    from ..services.model_uri import check_model_uri

    check_model_uri(args.model_uri)  # before anything is looked up or launched
    name = args.name or _default_name(args.model_uri)
    try:
        existing = get_service(name, args.home)
    except ServiceNotFoundError:
        existing = None
    if isinstance(existing, MLFlowDeploymentService) and existing.model_uri == args.model_uri \
            and args.max_request_size in (None, existing.config.get("max_request_bytes")):
        svc = existing  # re-attach: whatever port and workers it was started with
    else:
        limit = {} if args.max_request_size is None else {
            "max_request_bytes": args.max_request_size}
        svc = MLFlowDeploymentService(name, args.model_uri, port=args.port, host=args.host,
                                      workers=args.workers, poll_interval=args.poll,
                                      home=args.home, **limit)
    if args.detach:
        svc.start(timeout=args.timeout, progress=True)
        _say(f"{svc.name}: serving v{svc.model_version or '-'} of {svc.model_uri} at "
             f"{svc.endpoint}")
        return 0
    return _foreground(svc, args.timeout)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(BaseException):
    """A stop signal arrived (a BaseException, like KeyboardInterrupt: nothing may swallow it
    on its way out of a start or the watch)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)


def _on_signal(signum: int, frame: Any) -> None:
    for sig in _STOP_SIGNALS:  # one stop at a time: a second signal must not cut the drain
        signal.signal(sig, signal.SIG_IGN)
    raise _Stop(signum)


def _foreground(svc: Any, timeout: float | None) -> int:
    """The server lives as long as this command: Ctrl-C, SIGTERM (systemd, docker stop) and
    SIGHUP (the terminal closed) stop it after a bounded drain of the requests in flight, and
    leave it INACTIVE; if this command is killed outright, its log runner stops it (the
    lifeline, `LocalDaemonService.foreground`)."""
    # a signal ignored by whoever started us stays ignored (`nohup ctcd serve ...`)
    previous = {sig: signal.signal(sig, _on_signal) for sig in _STOP_SIGNALS
                if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        with svc.foreground():
            try:
                svc.start(timeout=timeout, progress=True)
                _say(f"{svc.name}: serving v{svc.model_version or '-'} of {svc.model_uri} at "
                     f"{svc.endpoint}")
                if not svc.bound:
                    _say(f"{svc.name}: it was already running (started by another command);"
                         " it stops with this one on a signal, not if this one is killed",
                         err=True)
                _watch(svc)
                return 1
            except (_Stop, KeyboardInterrupt) as stop:
                for sig in _STOP_SIGNALS:
                    signal.signal(sig, signal.SIG_IGN)
                why = str(stop) if isinstance(stop, _Stop) else "SIGINT"
                _say(f"{svc.name}: {why}: stopping (finishing requests in flight)")
                svc.stop()
                _say(f"{svc.name}: {svc.status.value}")
                return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _say(line: str, *, err: bool = False) -> None:
    """Print, and go on when the terminal is gone (SIGHUP: it was closed)."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr if err else sys.stdout, flush=True)


def _watch(svc: Any) -> None:
    """One line per change of the served version or of the server's last error."""
    from ..services import ServiceState

    last: tuple[Any, Any] = (svc.model_version, None)
    while True:
        time.sleep(1.0)
        status = svc.server_status()
        if status is None:
            state = svc.status
            if state is not ServiceState.ACTIVE:
                _say(f"{svc.name}: {state.value}: "
                     f"{redact.text(svc.last_error or 'not answering')}", err=True)
                raise SystemExit(1)
            continue
        now = (status["serving"]["version"], status.get("last_error"))
        if now != last:
            if now[0] != last[0]:
                _say(f"{svc.name}: serving v{now[0]} ({status['serving']['why']})")
            if now[1] and now[1] != last[1]:
                _say(f"{svc.name}: {redact.text(now[1])}", err=True)
            last = now


# -- ctcd rollback ------------------------------------------------------------------------------
def _rollback_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the service")
    parser.add_argument("--to", default=None, metavar="VERSION",
                        help="the version to serve (default: the one served before)")


def _rollback(args: argparse.Namespace) -> int:
    from ..errors import ServiceError, front_end
    from ..services import MLFlowDeploymentService, get_service

    svc = get_service(args.name, args.home)
    if not isinstance(svc, MLFlowDeploymentService):
        raise ServiceError(f"service {args.name!r} is a {svc.kind} service, not a model server",
                           service=args.name)
    before = svc.model_version
    with front_end("cli"):
        svc.rollback(to=args.to, progress=True)
        note = svc.pin_note()
    print(f"{svc.name}: serving v{svc.model_version} (was v{before}) at {svc.endpoint}")
    if note:
        print(f"{svc.name}: {note}")
    return 0


def _unpin(args: argparse.Namespace) -> int:
    from ..errors import ServiceError
    from ..services import get_service

    svc = get_service(args.name, args.home)
    if not hasattr(svc, "unpin"):
        raise ServiceError(f"service {args.name!r} is a {svc.kind} service, not a model server",
                           service=args.name)
    print(f"{svc.name}: unpinned" if svc.pinned else f"{svc.name}: was not pinned")
    svc.unpin()
    return 0


# -- ctcd deployments ---------------------------------------------------------------------------
def _deployments_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None,
                        help="one model / service; its served-version history is shown too")
    parser.add_argument("-n", type=int, default=20, help="how many decisions (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _deployments(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..deployment import deployments
    from ..errors import ServiceNotFoundError, unknown_name
    from ..services import MLFlowDeploymentService, get_service, services
    from ..workspace import Workspace

    workspace = Workspace(args.home, tracking=False)
    try:
        records = deployments(args.name, workspace=workspace, limit=max(1, args.n))
        models = {r.model_name for r in deployments(workspace=workspace)} if not records else ()
    finally:
        workspace.close()
    history: list[dict[str, Any]] = []
    if args.name:
        try:
            svc = get_service(args.name, args.home)
            if isinstance(svc, MLFlowDeploymentService):
                history = svc.history()
        except ServiceNotFoundError:
            if not records:
                known = {*models, *(s.name for s in services(args.home))}
                raise ServiceNotFoundError(unknown_name("model or service", args.name, known),
                                           service=args.name) from None
    if args.json:
        print(json.dumps({"decisions": [asdict(r) for r in records], "served": history},
                         indent=2, default=str))
        return 0
    print(f"{'when':<19}  {'model':<16} {'outcome':<12} {'version':>7}  reason")
    for r in records:
        print(f"{_when(r.created):<19}  {r.model_name:<16.16} {r.outcome:<12} "
              f"{'v' + r.version if r.version else '-':>7}  {r.reason}")
    if not records:
        print("(no deployments recorded)")
    if history:
        print()
        print(f"served by {args.name}:")
        print(f"  {'version':>7}  {'from':<19}  {'until':<19}  why")
        for h in history:
            print(f"  {'v' + str(h['version']) if h.get('version') else h['uri']:>7}  "
                  f"{_when(h['served_from']):<19}  {_when(h['served_until']):<19}  {h['why']}")
    return 0


COMMANDS = {
    "serve": Group("serve a model from one long-lived server (starts or re-attaches)",
                   _serve_arguments, _serve),
    "rollback": Group("serve the previously served version again (the alias moves back too)",
                      _rollback_arguments, _rollback),
    "unpin": Group("let deployments replace the version a rollback pinned",
                   lambda parser: parser.add_argument("name", help="the service"), _unpin),
    "deployments": Group("deployment decisions, and what a service served when",
                         _deployments_arguments, _deployments),
}
