"""The model server's fast path: answer `/invocations` without MLflow's per-request pandas work,
with exactly the answer MLflow's scoring app would give, and hand everything else to that app.

A request is answered here only when the outcome is certain to match MLflow: a scikit-learn
model (pyfunc `predict`) whose signature names its columns, all `double` or `long`, or is one
unnamed float64 tensor of shape (-1, k); a JSON body (`Content-Type: application/json`,
optionally `charset=utf-8`) with one of `dataframe_split` (`columns` + `data`),
`dataframe_records`, `inputs` or `instances` (column lists or records; rows as lists for a
tensor), every signature column present (extras are dropped, as MLflow does), values that MLflow
converts without loss (numbers for `double`, integers for `long`; no nulls, no booleans), and a
predict that does not raise. Anything else (CSV, params, errors, other flavors or signatures)
goes to MLflow's own app with the same bytes, so refusals are MLflow's own, word for word. The
decision per model is made once, on its first request (`plan_for`), and kept on its `Served`.

Settings (environment of the server): CTCD_FAST_PATH=0 turns the fast path off;
CTCD_BATCH_WAIT_MS (default 1) bounds the wait of concurrent requests for one predict
(`micro_batch.py`), 0 turns batching off. Stdlib and siblings only at import (see serve.py);
numpy, mlflow and sklearn are imported when a model is planned.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import warnings
from typing import Any

from .micro_batch import MicroBatcher
from .timeout import request_timeout, timed_out

__all__ = ["Parsed", "Plan", "header", "plan_for", "serve"]

ENABLED_ENV = "CTCD_FAST_PATH"
BATCH_WAIT_ENV = "CTCD_BATCH_WAIT_MS"
_INT64 = (-(1 << 63), (1 << 63) - 1)
_INLINE_ROWS = 2048  # bigger inputs are predicted in a thread, not on the event loop
_INLINE_BYTES = 1 << 18  # and bigger bodies parsed in one
_PLAN_ATTR = "_ctcd_fast_plan"
_NO_PLAN = object()


def enabled() -> bool:
    return os.environ.get(ENABLED_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def batch_wait() -> float:
    """Seconds a request may wait for others to share its predict (0: no batching)."""
    try:
        return max(0.0, float(os.environ.get(BATCH_WAIT_ENV, "1"))) / 1000.0
    except ValueError:
        return 0.001


class Parsed:
    """One request's rows, validated: `values` is (rows, columns) in signature order."""

    __slots__ = ("rows", "values")

    def __init__(self, values: Any):
        self.values = values
        self.rows = int(values.shape[0])


class Plan:
    """How one loaded model is answered directly: its columns, their dtypes, its estimator."""

    def __init__(self, names: list[str] | None, kinds: list[str], estimator: Any, direct: bool):
        import numpy as np

        self.names, self.kinds, self.estimator, self.direct = names, kinds, estimator, direct
        self.tensor = names is None  # one unnamed (-1, k) float64 tensor: rows as lists
        self.dtype = np.float64 if "double" in kinds else np.int64
        self.uniform = len(set(kinds)) == 1
        self._np = np
        self.batcher = MicroBatcher(self.predict_many,
                                    batch_wait() if _rows_alone(estimator) else 0.0)

    # -- parsing --------------------------------------------------------------------------------
    def parse(self, body: bytes, content_type: str | None) -> Parsed | None:
        """The request's rows, or None when MLflow must answer it (anything uncertain)."""
        if not _is_json(content_type) or not body:
            return None
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(decoded, dict) or len(decoded) != 1:
            return None
        (key, value), = decoded.items()
        if self.tensor:
            return self._tensor(key, value)
        if key == "dataframe_split":
            columns = self._split(value)
        elif key == "dataframe_records" or (key in ("inputs", "instances")
                                            and isinstance(value, list)):
            columns = self._records(value)
        elif key in ("inputs", "instances"):
            columns = self._column_lists(value)
        else:
            return None
        if columns is None:
            return None
        return self._values(columns)

    def _tensor(self, key: str, value: Any) -> Parsed | None:
        # MLflow: np.array(value, float64), its shape checked against the spec, predicted as is
        if key not in ("inputs", "instances") or type(value) is not list or not value:
            return None
        width = len(self.kinds)
        if not all(type(row) is list and len(row) == width and _doubles(row) for row in value):
            return None
        return Parsed(self._np.array(value, dtype=self._np.float64))

    def _split(self, value: Any) -> list[list] | None:
        if not isinstance(value, dict) or set(value) != {"columns", "data"}:
            return None
        columns, data = value["columns"], value["data"]
        if not isinstance(columns, list) or not isinstance(data, list) or not data:
            return None
        if not all(type(c) is str for c in columns) or len(set(columns)) != len(columns):
            return None
        where = {c: i for i, c in enumerate(columns)}
        if any(n not in where for n in self.names):
            return None
        width = len(columns)
        if not all(type(row) is list and len(row) == width for row in data):
            return None
        extra = [i for c, i in where.items() if c not in self.names]
        for i in extra:
            if not all(_scalar(row[i]) for row in data):
                return None
        return [[row[where[n]] for row in data] for n in self.names]

    def _records(self, value: Any) -> list[list] | None:
        if not isinstance(value, list) or not value or type(value[0]) is not dict:
            return None
        keys = value[0].keys()
        if any(n not in keys for n in self.names):
            return None
        if not all(type(r) is dict and r.keys() == keys for r in value):
            return None
        extra = [k for k in keys if k not in self.names]
        for k in extra:
            if not all(_scalar(r[k]) for r in value):
                return None
        return [[r[n] for r in value] for n in self.names]

    def _column_lists(self, value: Any) -> list[list] | None:
        if not isinstance(value, dict) or any(n not in value for n in self.names):
            return None
        lists = list(value.values())
        if not all(type(v) is list for v in lists) or not lists[0]:
            return None
        rows = len(lists[0])
        if not all(len(v) == rows for v in lists):
            return None
        for k, v in value.items():
            if k not in self.names and not all(_scalar(x) for x in v):
                return None
        return [value[n] for n in self.names]

    def _values(self, columns: list[list]) -> Parsed | None:
        for kind, column in zip(self.kinds, columns, strict=True):
            ok = _doubles if kind == "double" else _longs
            if not ok(column):
                return None
        np = self._np
        if self.uniform:
            # (columns, rows) in C order is the block pandas would hold: the estimator then sees
            # the same (rows, columns) array, in the same memory order, as from MLflow's frame
            return Parsed(np.array(columns, dtype=self.dtype).T)
        kinds = [np.float64 if k == "double" else np.int64 for k in self.kinds]
        return Parsed(_Mixed([np.array(c, dtype=t) for c, t in zip(columns, kinds, strict=True)]))

    # -- predicting -----------------------------------------------------------------------------
    def frame(self, parts: list[Parsed]) -> Any:
        """The estimator's input for these requests' rows, as MLflow's enforced frame gives it."""
        np = self._np
        if self.tensor:
            return parts[0].values if len(parts) == 1 else np.concatenate(
                [p.values for p in parts])
        if self.uniform:
            block = parts[0].values.T if len(parts) == 1 else np.concatenate(
                [p.values.T for p in parts], axis=1)
            values = block.T  # (rows, columns) over a C-ordered (columns, rows) block
            if self.direct:
                return values
            import pandas as pd

            return pd.DataFrame(values, columns=self.names, copy=False)
        import pandas as pd

        return pd.DataFrame({n: np.concatenate([p.values.columns[i] for p in parts])
                             for i, n in enumerate(self.names)})

    def predict_many(self, parts: list[Parsed]) -> list[Any]:
        """One predict for several requests; the rows of each, in order (raises on failure)."""
        predictions = self.estimator.predict(self.frame(parts))
        if len(parts) == 1:
            return [predictions]
        if not isinstance(predictions, self._np.ndarray) or len(predictions) != sum(
                p.rows for p in parts):
            raise ValueError("a batched predict did not answer one row per row")
        out, start = [], 0
        for p in parts:
            out.append(predictions[start:start + p.rows])
            start += p.rows
        return out

    def encode(self, predictions: Any) -> bytes:
        """MLflow's `predictions_to_json`: the same object, the same encoder."""
        if type(predictions) is self._np.ndarray and predictions.dtype.kind in "iuf":
            # numbers only: MLflow's NumpyEncoder is never consulted, the plain one is faster
            return json.dumps({"predictions": predictions.tolist()}).encode()
        from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

        return json.dumps({"predictions": _get_jsonable_obj(predictions, pandas_orient="records")},
                          cls=NumpyEncoder).encode()


class _Mixed:
    """Columns of different dtypes (`double` and `long`): kept apart, as pandas keeps them."""

    __slots__ = ("columns", "shape")

    def __init__(self, columns: list[Any]):
        self.columns, self.shape = columns, (len(columns[0]), len(columns))


def _scalar(x: Any) -> bool:
    t = type(x)
    return t is str or t is float or (t is int and _INT64[0] <= x <= _INT64[1])


def _doubles(column: list) -> bool:
    lo, hi = _INT64
    return all(type(x) is float or (type(x) is int and lo <= x <= hi) for x in column)


def _longs(column: list) -> bool:
    lo, hi = _INT64
    return all(type(x) is int and lo <= x <= hi for x in column)


def _is_json(content_type: str | None) -> bool:
    """MLflow's reading of the header (`invocations`), accepting only what it takes as JSON."""
    if content_type is None:
        return False
    parts = [p.strip() for p in content_type.split(";")]
    if parts[0] != "application/json":
        return False
    params = {k: v for pair in parts[1:] for k, _, v in [pair.partition("=")]}
    return set(params) <= {"charset"} and params.get("charset", "utf-8").lower() == "utf-8"


# -- deciding per model ------------------------------------------------------------------------
def plan_for(served: Any) -> Plan | None:
    """The plan of `served`'s model, computed on its first request and kept on it."""
    plan = getattr(served, _PLAN_ATTR, _NO_PLAN)
    if plan is _NO_PLAN:
        try:
            plan = _plan(getattr(served, "model", None)) if enabled() else None
            setattr(served, _PLAN_ATTR, plan)
        except Exception as exc:  # a model we cannot read is served by MLflow, as before
            print(f"[ctcd] fast path off for {getattr(served, 'uri', '?')}: {exc!r}",
                  flush=True)
            plan = None
    return plan


def _plan(model: Any) -> Plan | None:
    if model is None:
        return None
    meta = model.metadata
    pyfunc_conf = (meta.flavors or {}).get("python_function") or {}
    if pyfunc_conf.get("loader_module") != "mlflow.sklearn" or "sklearn" not in meta.flavors:
        return None
    if pyfunc_conf.get("predict_fn", "predict") != "predict":
        return None
    wrapper = getattr(model, "_model_impl", None)
    if type(wrapper).__name__ != "_SklearnModelWrapper" or not hasattr(wrapper, "sklearn_model"):
        return None
    predict_fn = getattr(model, "_predict_fn", None)
    if getattr(predict_fn, "__func__", None) is not type(wrapper).predict:
        return None
    if meta._is_signature_from_type_hint() or meta._is_type_hint_from_example():
        return None
    if meta.get_params_schema() is not None:
        return None
    schema = meta.get_input_schema()
    if schema is not None and schema.is_tensor_spec():
        return _tensor_plan(schema, wrapper.sklearn_model)
    if schema is None or not schema.has_input_names():
        return None
    from mlflow.types import DataType

    names, kinds = [], []
    for spec in schema.inputs:
        if not spec.required or not isinstance(spec.name, str):
            return None
        if spec.type == DataType.double:
            kinds.append("double")
        elif spec.type == DataType.long:
            kinds.append("long")
        else:
            return None
        names.append(spec.name)
    if len(set(names)) != len(names) or not names:
        return None
    estimator = wrapper.sklearn_model
    direct = len(set(kinds)) == 1 and _takes_arrays(estimator, names)
    if direct and hasattr(estimator, "feature_names_in_"):
        # the same numbers without the frame; sklearn would say the array has no names
        warnings.filterwarnings("ignore", message="X does not have valid feature names",
                                category=UserWarning)
    return Plan(names, kinds, estimator, direct)


def _tensor_plan(schema: Any, estimator: Any) -> Plan | None:
    import numpy as np

    if schema.has_input_names() or len(schema.inputs) != 1:
        return None
    spec = schema.inputs[0]
    shape = tuple(spec.shape)
    if spec.type != np.dtype("float64") or len(shape) != 2 or shape[0] != -1 or shape[1] < 1:
        return None
    return Plan(None, ["double"] * shape[1], estimator, direct=True)


_FRAME_AWARE = ("sklearn.compose", "sklearn.preprocessing._function_transformer")


def _takes_arrays(estimator: Any, names: list[str]) -> bool:
    """Whether the estimator computes the same from the frame's array as from the frame: a
    scikit-learn estimator (or pipeline of them) that reads no column by name and returns no
    frames, fitted without names or with exactly the signature's names in order."""
    steps = [s for _, s in estimator.steps] if hasattr(estimator, "steps") else [estimator]
    for step in steps:
        if step in (None, "passthrough"):
            continue
        module = type(step).__module__
        if not module.startswith("sklearn.") or module.startswith(_FRAME_AWARE):
            return False
        if hasattr(step, "steps") and not _takes_arrays(step, names):
            return False
        if (getattr(step, "_sklearn_output_config", None) or {}).get("transform", "default") \
                != "default":
            return False
    fitted = getattr(estimator, "feature_names_in_", None)
    return fitted is None or [str(n) for n in fitted] == names


_PER_ROW = ("sklearn.tree.", "sklearn.ensemble._forest", "sklearn.ensemble._gb",
            "sklearn.ensemble._hist_gradient_boosting.", "sklearn.preprocessing._data")


def _rows_alone(estimator: Any) -> bool:
    """Whether each row's answer is the same whatever rows share its predict, so requests may be
    batched: labels of a classifier (a neighbour can only move a score's last bit), or models
    that compute row by row (trees, forests, boosting, element-wise scalers). A linear
    regression is not: BLAS sums a row's products in an order that depends on the batch."""
    from sklearn.base import is_classifier

    if is_classifier(estimator):
        return True
    steps = [s for _, s in estimator.steps] if hasattr(estimator, "steps") else [estimator]
    return all(s in (None, "passthrough") or type(s).__module__.startswith(_PER_ROW)
               for s in steps)


# -- the ASGI side -------------------------------------------------------------------------------
async def serve(served: Any, scope: dict, receive: Any, send: Any, *, log: Any = None,
                request_id: str = "") -> None:
    """Answer `scope` for `served`: directly when its plan covers the request, else by
    MLflow's app (with the body read here replayed to it). `log`: the prediction log's writer
    (prediction_writer.py), given what this path parsed and predicted, or MLflow's bytes."""

    def mlflow(receive_: Any) -> Any:  # MLflow's own app answers (through the log's tap)
        if log is None:
            return served.app(scope, receive_, send)
        tapped_receive, tapped_send = log.tap(scope, receive_, send, request_id, served)
        return served.app(scope, tapped_receive, tapped_send)

    if scope["type"] != "http" or scope["path"] != "/invocations" or scope["method"] != "POST" \
            or scope.get("query_string") or not enabled():
        await mlflow(receive)
        return
    plan = plan_for(served)
    if plan is None:
        await mlflow(receive)
        return
    started, wall = time.monotonic(), time.time()
    plan.batcher.arrive()
    parsed = None
    try:
        body, more = await _read_body(receive)
        parsed = await _parse(plan, body, header(scope, b"content-type"))
    finally:
        if parsed is None:
            plan.batcher.leave()
    if parsed is None:
        await mlflow(_replay(body, more, receive))
        return
    limit = request_timeout()
    content_type = header(scope, b"content-type") or ""
    try:
        predictions, shared = await asyncio.wait_for(
            plan.batcher.submit(parsed, inline=parsed.rows <= _INLINE_ROWS),
            max(0.0, limit - (time.monotonic() - started)))
        answer = plan.encode(predictions)
    except (asyncio.TimeoutError, TimeoutError):
        await timed_out(send, log, (request_id, wall, served, body, content_type, started))
        return
    except Exception:  # MLflow answers this request itself, with its own error
        await mlflow(_replay(body, more, receive))
        return
    if time.monotonic() - started > limit:  # a predict on the event loop that overran
        await timed_out(send, log, (request_id, wall, served, body, content_type, started))
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(answer)).encode()),
                            (b"content-type", b"application/json"),
                            # which path answered, and how many requests shared its predict
                            (b"x-ctcd-path", b"fast"), (b"x-ctcd-batch", b"%d" % shared)]})
    await send({"type": "http.response.body", "body": answer})
    if log is not None:
        values = parsed.values
        columns = values.columns if isinstance(values, _Mixed) else [
            values[:, i] for i in range(values.shape[1])]
        log.record(request_id, wall, (time.monotonic() - started) * 1000, served, plan.names,
                   columns, predictions, body=body, answer=answer, content_type=content_type)


async def _parse(plan: Plan, body: bytes | None, content_type: str | None) -> Parsed | None:
    if body is None:
        return None
    try:
        if len(body) <= _INLINE_BYTES:
            return plan.parse(body, content_type)
        # MLflow parses in a thread; a big body must not stop the event loop either
        return await asyncio.to_thread(plan.parse, body, content_type)
    except Exception as exc:  # what this path cannot read is MLflow's to answer
        print(f"[ctcd] fast path passed a request on to MLflow: {exc!r}", flush=True)
        return None


async def _read_body(receive: Any) -> tuple[bytes | None, list[dict]]:
    """The whole body, or (None, messages read) when the client left before sending it."""
    chunks, messages = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks), messages


def _replay(body: bytes | None, messages: list[dict], receive: Any) -> Any:
    pending = ([{"type": "http.request", "body": body, "more_body": False}] if body is not None
               else list(messages))

    async def replayed() -> dict:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def header(scope: dict, name: bytes) -> str | None:
    """The value of request header `name` (lower-case bytes), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
