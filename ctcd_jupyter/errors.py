"""The one exception tree of ctcd_jupyter: every error a user can see, with fields that explain it.

    CtcdError
    ├── StepDefinitionError(ValueError)      bad step source or names            .step, .lineno
    ├── PipelineDefinitionError(ValueError)  unknown step, cycle, two writers     .pipeline
    │   └── MissingInputsError               names nobody provides                .missing
    ├── ParameterError(ValueError)           a --param no step reads, bad value   .names
    ├── StepError(RuntimeError)              a step raised during a run   .step, .run_id, .traceback
    ├── StepCellError                        a %%step cell raised (step registered)  .step, .error
    ├── PipelineBusy(RuntimeError)           a run of the pipeline is going       .pipeline
    ├── ArtifactError(ValueError)            an output that cannot be stored      .step, .name
    ├── ExportError(ValueError)              a pipeline that cannot be exported   .problems, .path
    ├── PipelineFileError(ValueError)        a file that is no exported pipeline
    ├── ScheduleError(ValueError)            invalid cron / interval / window     .schedule
    ├── TrackingError(RuntimeError)          MLflow refused a call                .run_id
    ├── ServiceError(RuntimeError)           a service misbehaved          .service, .log_tail
    │   ├── ServiceStartError                did not become healthy               .returncode
    │   ├── ServiceStopError                 did not stop / port still taken
    │   ├── ServiceNotFoundError(KeyError)   no service of that name
    │   ├── PortInUseError(OSError)          the requested port is taken          .port
    │   ├── ServiceSpecError(ValueError)     bad name/spec, unknown or unstorable kind .kind
    │   ├── PredictionError                  4xx/5xx answer, or no server  .status_code, .log_tail
    │   ├── ModelSwapError                   the server refused a model; the old one serves .uri
    │   └── ModelServerError                 the model server's control channel failed  .returncode
    ├── DeploymentError(RuntimeError)        a model could not be served       .model_name, .version
    ├── CriterionError(ValueError)           a criterion cannot be evaluated
    ├── PrefectUnavailable(ConnectionError)  the Prefect server does not answer
    ├── StateError(OSError)                  state folder unusable: corrupt, read-only  .path
    └── CtcdTimeoutError(TimeoutError)       a wait ran past its deadline         .timeout

In IPython every one renders as one line (`_render_traceback_`): the class name and the first
line of the message (with a pointer to the rest, if any). `StepError` alone adds the step's own
traceback, which points at the user's failing line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = [
    "ArtifactError",
    "CriterionError",
    "CtcdError",
    "CtcdTimeoutError",
    "DeploymentError",
    "ExportError",
    "MissingInputsError",
    "ModelServerError",
    "ModelSwapError",
    "ParameterError",
    "PipelineBusy",
    "PipelineDefinitionError",
    "PipelineFileError",
    "PortInUseError",
    "PredictionError",
    "PrefectUnavailable",
    "ScheduleError",
    "ServiceError",
    "ServiceNotFoundError",
    "ServiceSpecError",
    "ServiceStartError",
    "ServiceStopError",
    "StateError",
    "StepCellError",
    "StepDefinitionError",
    "StepError",
    "TrackingError",
]


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest option, case-insensitively; '' if none is close."""
    import difflib  # only when a name is wrong: `import ctcd_jupyter` stays light

    options = list(options)
    by_lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(name.lower(), list(by_lower), 1)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """The one message for a name that is not there: "no service named 'irs' (did you mean
    'iris'?); known: iris, wine". Every "no X named ..." in the package comes from here."""
    known = sorted(str(k) for k in known)
    return (f"no {kind} named {name!r}{did_you_mean(name, known)}; "
            f"known: {', '.join(known) or 'none'}")


# Which front end is calling (python, magic, cli, rest): advice in an error is written in its
# syntax. A ContextVar, so a scheduler thread or another request keeps its own.
_FRONT_END: ContextVar[str] = ContextVar("ctcd_front_end", default="python")


@contextmanager
def front_end(name: str) -> Iterator[None]:
    """Calls made inside speak `name`'s syntax in their errors' advice (see `advice`)."""
    token = _FRONT_END.set(name)
    try:
        yield
    finally:
        _FRONT_END.reset(token)


def advice(*, python: str, magic: str | None = None, cli: str | None = None,
           rest: str | None = None) -> str:
    """The same advice in the caller's syntax: `svc.rollback(to=VERSION)` from Python,
    `%services rollback NAME --to VERSION` from a magic, `ctcd rollback NAME --to VERSION` from
    the shell. A front end without its own wording gets the Python one."""
    said = {"python": python, "magic": magic, "cli": cli, "rest": rest}.get(_FRONT_END.get())
    return said or python


def _one_line(error: BaseException, width: int = 400) -> str:
    """`Name: first line of the message`, cut at `width` (no config dumps in a notebook). When
    the message has more lines (a log tail, a listing), the line says how many and where the
    whole message is, so nothing is lost unseen."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0].strip() if lines else ""
    if len(text) > width:
        text = text[: width - 1] + "…"
    if len(lines) > 1:
        text += f" [+{len(lines) - 1} lines: print(sys.last_value)]"
    return f"{type(error).__name__}: {text}"


class CtcdError(Exception):
    """Root of every error raised by ctcd_jupyter."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback through ctcd's own frames: our errors
        # are written to be read alone.
        return [_one_line(self)]


class StepDefinitionError(CtcdError, ValueError):
    def __init__(self, message: str, *, step: str | None = None, lineno: int | None = None):
        super().__init__(message)
        self.step = step
        self.lineno = lineno


class PipelineDefinitionError(CtcdError, ValueError):
    def __init__(self, message: str, *, pipeline: str | None = None):
        super().__init__(message)
        self.pipeline = pipeline


class MissingInputsError(PipelineDefinitionError):
    def __init__(self, message: str, *, pipeline: str | None = None,
                 missing: dict[str, list[str]] | None = None):
        super().__init__(message, pipeline=pipeline)
        self.missing = dict(missing or {})


class ParameterError(CtcdError, ValueError):
    def __init__(self, message: str, *, names: list[str] | None = None):
        super().__init__(message)
        self.names = list(names or [])


class StepError(CtcdError, RuntimeError):
    def __init__(self, message: str, *, step: str | None = None, run_id: str | None = None,
                 traceback: str | None = None):
        super().__init__(message)
        self.step = step
        self.run_id = run_id
        self.traceback = traceback

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback through our own frames: the step's
        # traceback points at the failing line of the cell.
        lines = (self.traceback or "").rstrip("\n").splitlines()
        return [*lines, f"{type(self).__name__}: {self}"]


class StepCellError(CtcdError):
    """A `%%step` cell raised when run in the notebook; the step is registered all the same."""

    def __init__(self, step: str, error: BaseException):
        super().__init__(f"step {step!r} is registered, but its cell raised "
                         f"{type(error).__name__} (traceback above)")
        self.step = step
        self.error = error

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


class PipelineBusy(CtcdError, RuntimeError):
    """Another run of the same pipeline is going (raised only when asked not to wait)."""

    def __init__(self, message: str, *, pipeline: str | None = None):
        super().__init__(message)
        self.pipeline = pipeline


class ArtifactError(CtcdError, ValueError):
    def __init__(self, message: str, *, step: str | None = None, name: str | None = None):
        super().__init__(message)
        self.step = step
        self.name = name


class ScheduleError(CtcdError, ValueError):
    def __init__(self, message: str, *, schedule: str | None = None):
        super().__init__(message)
        self.schedule = schedule


class TrackingError(CtcdError, RuntimeError):
    def __init__(self, message: str, *, run_id: str | None = None):
        super().__init__(message)
        self.run_id = run_id


class ServiceError(CtcdError, RuntimeError):
    def __init__(self, message: str, *, service: str | None = None, log_tail: str | None = None):
        super().__init__(message)
        self.service = service
        self.log_tail = log_tail


class ServiceStartError(ServiceError):
    def __init__(self, message: str, *, service: str | None = None, log_tail: str | None = None,
                 returncode: int | None = None):
        super().__init__(message, service=service, log_tail=log_tail)
        self.returncode = returncode


class ServiceStopError(ServiceError):
    pass


class ServiceNotFoundError(ServiceError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PortInUseError(ServiceError, OSError):
    def __init__(self, message: str, *, service: str | None = None, port: int | None = None,
                 log_tail: str | None = None):
        ServiceError.__init__(self, message, service=service, log_tail=log_tail)
        self.port = port

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ServiceSpecError(ServiceError, ValueError):
    def __init__(self, message: str, *, service: str | None = None, kind: str | None = None,
                 log_tail: str | None = None):
        super().__init__(message, service=service, log_tail=log_tail)
        self.kind = kind


class PredictionError(ServiceError):
    def __init__(self, message: str, *, service: str | None = None,
                 status_code: int | None = None, server_message: str | None = None,
                 log_tail: str | None = None):
        super().__init__(message, service=service, log_tail=log_tail)
        self.status_code = status_code
        self.server_message = server_message



class ModelSwapError(ServiceError):
    """A model the server refused to serve (cannot load, probe failed); the old one serves."""

    def __init__(self, message: str, *, service: str | None = None, uri: str | None = None,
                 version: str | None = None, reason: str | None = None,
                 log_tail: str | None = None):
        super().__init__(message, service=service, log_tail=log_tail)
        self.uri, self.version, self.reason = uri, version, reason or message


class ModelServerError(ServiceError):
    """A control request to the model server failed: it died (`returncode`) or did not answer;
    `log_tail` holds its last words."""

    def __init__(self, message: str, *, service: str | None = None, log_tail: str | None = None,
                 returncode: int | None = None):
        super().__init__(message, service=service, log_tail=log_tail)
        self.returncode = returncode


class DeploymentError(CtcdError, RuntimeError):
    """The new model could not be served; the old one (if any) keeps serving."""

    def __init__(self, message: str, *, model_name: str | None = None,
                 version: str | None = None):
        super().__init__(message)
        self.model_name = model_name
        self.version = version


class ExportError(CtcdError, ValueError):
    """The pipeline cannot be exported as it is; `problems` lists every name that cannot travel
    (`portable.export.Unportable`). Nothing was written."""

    def __init__(self, message: str, *, pipeline: str | None = None,
                 problems: list[Any] | None = None, path: str | None = None):
        super().__init__(message)
        self.pipeline = pipeline
        self.problems = list(problems or [])
        self.path = path


class PipelineFileError(CtcdError, ValueError):
    """The file is not a pipeline exported by ctcd (or does not load)."""


class CriterionError(CtcdError, ValueError):
    """A criterion that cannot be evaluated (e.g. the metric it needs was not given)."""


class PrefectUnavailable(CtcdError, ConnectionError):
    """The Prefect server (PREFECT_API_URL) does not answer."""


class StateError(CtcdError, OSError):
    def __init__(self, message: str, *, path: str | None = None):
        CtcdError.__init__(self, message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CtcdTimeoutError(CtcdError, TimeoutError):
    def __init__(self, message: str, *, timeout: float | None = None):
        super().__init__(message)
        self.timeout = timeout
