"""The fast path answers exactly like MLflow's scoring app: every request kind of MLflow's own
scoring-server tests (tests/pyfunc/test_scoring_server.py in mlflow/mlflow: split, records,
instances, inputs, CSV, charset and format parameters, wrong content types, malformed JSON,
missing and extra columns, params) and generated variants (ints in double columns, NaN,
Infinity, nulls, booleans, strings, huge integers, empty bodies, column order) are sent to a
real ctcd server with the fast path, to one without it (CTCD_FAST_PATH=0), and for the iris
model to the stock `mlflow models serve`; status, body and headers must be identical
(except date, request id, model headers and x-ctcd-*). Models in a temporary SQLite store: iris
(double columns, fitted on a frame), a regression fitted on an array (float answers), a model
on integer (`long`) columns, a pipeline reading columns by name, double and long columns
together, a tensor signature (rows as lists), one without a signature.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import subprocess
import sys
import textwrap

import pytest
from service_helpers import kill_recorded

from ctcd_jupyter.services import MLFlowDeploymentService

REGISTER = """
import json, sys
import numpy as np
import mlflow, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
exp = mlflow.create_experiment("fast-path", artifact_location=f"{folder}/artifacts")
log = dict(pip_requirements=[], serialization_format="cloudpickle")
with mlflow.start_run(experiment_id=exp):
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), name="iris",
                             registered_model_name="iris", input_example=X.head(2), **log)
    reg = LinearRegression().fit(X.to_numpy(), y * 1.7 + 0.1)
    mlflow.sklearn.log_model(reg, name="reg", registered_model_name="reg",
                             signature=infer_signature(X, reg.predict(X.to_numpy())), **log)
    Xi = (X * 10).round().astype("int64")
    mlflow.sklearn.log_model(DecisionTreeClassifier(random_state=0).fit(Xi, y), name="ints",
                             registered_model_name="ints", input_example=Xi.head(2), **log)
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X.to_numpy(), y),
                             name="tensor", registered_model_name="tensor",
                             input_example=X.to_numpy()[:2], **log)
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), name="nosig",
                             registered_model_name="nosig", **log)
    # reads columns by name: answered from a frame, not an array
    named = ColumnTransformer([("scaled", StandardScaler(), list(X.columns[:2]))],
                              remainder="passthrough")
    pipe = make_pipeline(named, LogisticRegression(max_iter=300)).fit(X, y)
    mlflow.sklearn.log_model(pipe, name="pipe", registered_model_name="pipe",
                             input_example=X.head(2), **log)
    Xm = X.copy()
    Xm[Xm.columns[2:]] = (Xm[Xm.columns[2:]] * 10).round().astype("int64")
    mlflow.sklearn.log_model(make_pipeline(StandardScaler(), LogisticRegression()).fit(Xm, y),
                             name="mixed", registered_model_name="mixed",
                             input_example=Xm.head(2), **log)
print(json.dumps({"tracking_uri": f"sqlite:///{folder}/mlflow.db"}))
"""

COLS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROW = [5.1, 3.5, 1.4, 0.2]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
JSON = "application/json"
IGNORED = {"date", "x-request-id", "x-model-uri", "x-model-version"}


def _row(cols, values) -> dict:
    return dict(zip(cols, values, strict=False))


def _split(rows, cols=COLS, **extra):
    return json.dumps({"dataframe_split": {"columns": cols, "data": rows, **extra}})


def _records(rows, cols=COLS):
    return json.dumps({"dataframe_records": [_row(cols, r) for r in rows]})


def _columns(key, rows, cols=COLS):
    return json.dumps({key: {c: [r[i] for r in rows] for i, c in enumerate(cols)}})


def _csv(rows, cols=COLS):
    return ",".join(cols) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n"


def cases(cols=COLS, rows=ROWS, row=ROW):
    """(name, body, content type or None, expected on the fast path) for one model."""
    many = [[v + i % 5 if type(v) is int else round(v + i * 0.01, 3) for v in rows[i % 3]]
            for i in range(100)]
    ints = [[int(v) for v in r] for r in rows]
    mixed = [[int(r[0]), r[1], r[2], int(r[3] * 10)] for r in rows]
    yield "split-1", _split([row]), JSON, True
    yield "split-3", _split(rows), JSON, True
    yield "split-100", _split(many), JSON, True
    yield "split-10000", _split(many * 100), JSON, True  # parsed and predicted off the loop
    yield "split-reordered", _split([r[::-1] for r in rows], cols[::-1]), JSON, True
    yield "split-extra-num", _split([[*r, 1] for r in rows], [*cols, "x"]), JSON, True
    yield "split-extra-str", _split([[*r, "a"] for r in rows], [*cols, "x"]), JSON, True
    yield "split-ints", _split(ints), JSON, True
    yield "split-mixed-int-float", _split(mixed), JSON, True
    yield "split-nan", json.dumps({"dataframe_split": {"columns": cols, "data": [
        [math.nan, *row[1:]]]}}), JSON, None
    yield "split-inf", _split([[math.inf, *row[1:]]]), JSON, None
    yield "split-null", _split([[None, *row[1:]]]), JSON, False
    yield "split-bool", _split([[True, *row[1:]]]), JSON, False
    yield "split-string", _split([["5.1", *row[1:]]]), JSON, False
    yield "split-word", _split([["abc", *row[1:]]]), JSON, False
    yield "split-huge-int", _split([[2 ** 70, *row[1:]]]), JSON, False
    yield "split-big-int", _split([[2 ** 62 + 1, *row[1:]]]), JSON, None
    yield "split-missing-col", _split([row[1:]], cols[1:]), JSON, False
    yield "split-short-row", _split([row[1:]]), JSON, False
    yield "split-index", _split([row], index=[7]), JSON, False
    yield "split-no-columns", json.dumps({"dataframe_split": {"data": [row]}}), JSON, False
    yield "split-dup-cols", _split([[*row, row[0]]], [*cols, cols[0]]), JSON, False
    yield "split-empty", _split([]), JSON, False
    yield "split-not-dict", json.dumps({"dataframe_split": [row]}), JSON, False
    yield "split-params", json.dumps({"dataframe_split": {"columns": cols, "data": [row]},
                                      "params": {"a": 1}}), JSON, False
    yield "records-1", _records([row]), JSON, True
    yield "records-3", _records(rows), JSON, True
    yield "records-extra", json.dumps({"dataframe_records": [
        {**_row(cols, r), "x": "y"} for r in rows]}), JSON, True
    yield "records-ragged", json.dumps({"dataframe_records": [
        _row(cols, rows[0]), _row(cols[1:], rows[1][1:])]}), JSON, False
    yield "records-null", _records([[None, *row[1:]]]), JSON, False
    yield "records-dict", json.dumps({"dataframe_records": _row(cols, row)}), JSON, False
    yield "records-empty", json.dumps({"dataframe_records": []}), JSON, False
    yield "inputs-columns", _columns("inputs", rows), JSON, True
    yield "inputs-records", json.dumps({"inputs": [_row(cols, r) for r in rows]}), JSON, True
    yield "inputs-ints", _columns("inputs", ints), JSON, True
    yield "inputs-lists", json.dumps({"inputs": rows}), JSON, False
    yield "inputs-ragged", json.dumps({"inputs": {c: [1.0] * (i + 1) for i, c in
                                                  enumerate(cols)}}), JSON, False
    yield "inputs-scalars", json.dumps({"inputs": _row(cols, row)}), JSON, False
    yield "instances-records", json.dumps({"instances": [_row(cols, r) for r in rows]}), \
        JSON, True
    yield "instances-columns", _columns("instances", rows), JSON, True
    yield "instances-lists", json.dumps({"instances": rows}), JSON, False
    yield "two-formats", json.dumps({"inputs": rows, "instances": rows}), JSON, False
    yield "no-format", json.dumps({"data": rows}), JSON, False
    yield "empty-object", "{}", JSON, False
    yield "a-list", json.dumps(rows), JSON, False
    yield "a-string", '"hello"', JSON, False
    yield "malformed", '{"dataframe_split": {"columns": [', JSON, False
    yield "not-json", "this is not json", JSON, False
    yield "not-utf8", b"\xff\xfe{}", JSON, False
    yield "empty-body", "", JSON, False
    yield "deep-nesting", "[" * 100_000 + "]" * 100_000, JSON, False
    yield "charset", _split([row]), "application/json; charset=utf-8", True
    yield "charset-upper", _split([row]), "application/json;charset=UTF-8", True
    yield "charset-latin1", _split([row]), "application/json; charset=latin-1", False
    yield "format-pandas-split", _split([row]), "application/json; format=pandas-split", False
    yield "mime-upper", _split([row]), "Application/JSON", False
    yield "text-plain", _split([row]), "text/plain", False
    yield "no-content-type", _split([row]), None, False
    yield "csv", _csv(rows, cols), "text/csv", False
    yield "csv-reordered", _csv([r[::-1] for r in rows], cols[::-1]), "text/csv", False
    yield "csv-bad", "a,b\n1\n2,3,4\n", "text/csv", False
    yield "csv-charset", _csv(rows, cols), "text/csv; charset=utf-8", False


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("fast-path-mlflow")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(REGISTER), str(folder)],
                         capture_output=True, text=True, timeout=300, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def servers(registry, tmp_path_factory):
    """The ctcd server with the fast path, the same without it, and the stock server."""
    home = tmp_path_factory.mktemp("fast-path-home")
    common = dict(tracking_uri=registry["tracking_uri"], access_log=False, home=home)
    made = {"fast": MLFlowDeploymentService("fast", "models:/iris/1", **common),
            "off": MLFlowDeploymentService("off", "models:/iris/1",
                                           env={"CTCD_FAST_PATH": "0"}, **common),
            "stock": MLFlowDeploymentService("stock", "models:/iris/1", server="mlflow",
                                             **common)}
    try:
        for svc in made.values():
            svc.start(timeout=240)
        yield made
    finally:
        for svc in made.values():
            svc.stop(timeout=10)
        assert not kill_recorded(home)


def _send(port: int, body: str | bytes, content_type: str | None, *,
          method: str = "POST", path: str = "/invocations") -> tuple[int, list, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        data = body.encode() if isinstance(body, str) else body
        conn.request(method, path, body=data if method == "POST" else None, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def _canonical(content: bytes) -> bytes:
    """MLflow prints its set of formats, whose order is each process's string hashing: any
    two MLflow servers differ there, so the order is made one."""
    formats = [b"'dataframe_records'", b"'dataframe_split'", b"'inputs'", b"'instances'"]
    for order in itertools.permutations(formats):
        content = content.replace(b"{" + b", ".join(order) + b"}", b"{FORMATS}")
    return content


def _comparable(headers: list) -> list:
    return [(k.lower(), v) for k, v in headers
            if k.lower() not in IGNORED and not k.lower().startswith("x-ctcd")]


def _fast(headers: list) -> bool:
    return ("x-ctcd-path", "fast") in [(k.lower(), v) for k, v in headers]


def _compare(servers: dict, uri: str, kinds: list, *, with_stock: bool = False) -> None:
    for svc in (servers["fast"], servers["off"]):
        if svc.server_status()["serving"]["uri"] != uri:
            svc.swap_model(uri)
    names = ["fast", "off", *(["stock"] if with_stock else [])]
    ports = {n: servers[n].port for n in names}
    mismatches, fast_missing = [], []
    for name, body, content_type, fast in kinds:
        answers = {n: _send(p, body, content_type) for n, p in ports.items()}
        status, headers, content = answers["fast"]
        for other in names[1:]:
            o_status, o_headers, o_content = answers[other]
            if (status, _canonical(content), _comparable(headers)) != (
                    o_status, _canonical(o_content), _comparable(o_headers)):
                mismatches.append(f"{name} vs {other}: {status} {content[:300]!r} "
                                  f"{_comparable(headers)} / {o_status} {o_content[:300]!r} "
                                  f"{_comparable(o_headers)}")
        assert not _fast(answers["off"][1]), f"{name}: CTCD_FAST_PATH=0 answered fast"
        if fast is not None and _fast(headers) != fast:
            fast_missing.append(f"{name}: fast path {'not ' if fast else ''}used ({status})")
    assert not mismatches, "\n".join(mismatches)
    assert not fast_missing, "\n".join(fast_missing)


def test_iris_every_request_kind_same_as_mlflow_and_stock(servers):
    _compare(servers, "models:/iris/1", list(cases()), with_stock=True)
    port = servers["fast"].port
    other_routes = [("GET", "/ping"), ("GET", "/health"), ("GET", "/version"),
                    ("GET", "/invocations"), ("POST", "/invocations?format=pandas-split"),
                    ("POST", "/invocations/"), ("POST", "/nowhere")]
    for method, path in other_routes:
        answers = [_send(p, _split([ROW]), JSON, method=method, path=path)
                   for p in (port, servers["stock"].port)]
        assert answers[0][0] == answers[1][0] and answers[0][2] == answers[1][2], (path, answers)


def test_float_answers_of_a_model_fitted_on_arrays(servers):
    _compare(servers, "models:/reg/1", list(cases()))


def test_integer_columns(servers):
    cols = COLS
    rows = [[51, 35, 14, 2], [62, 29, 43, 13], [77, 30, 61, 23]]
    kinds = [(n, b, t, f) for n, b, t, f in cases(cols, rows, rows[0])
             if not n.startswith(("split-huge", "split-big", "split-mixed", "split-nan",
                                  "split-inf"))]
    kinds += [("long-float", _split([[5.5, 35, 14, 2]], cols), JSON, False),
              ("long-float-whole", _split([[51.0, 35, 14, 2]], cols), JSON, False),
              ("long-nan", json.dumps({"dataframe_split": {"columns": cols, "data": [
                  [math.nan, 35, 14, 2]]}}), JSON, False),
              ("long-big", _split([[2 ** 62, 35, 14, 2]], cols), JSON, True),
              ("long-huge", _split([[2 ** 64, 35, 14, 2]], cols), JSON, False)]
    _compare(servers, "models:/ints/1", kinds)


def test_a_pipeline_that_reads_columns_by_name(servers):
    _compare(servers, "models:/pipe/1", list(cases()))


def test_double_and_long_columns_together(servers):
    rows = [[5.1, 3.5, 14, 2], [6.2, 2.9, 43, 13], [7.7, 3.0, 61, 23]]
    kinds = [(n, b, t, f) for n, b, t, f in cases(COLS, rows, rows[0])
             if not n.startswith(("split-huge", "split-big", "split-mixed", "split-nan",
                                  "split-inf", "inputs-ints", "split-ints"))]
    kinds += [("mixed-float-in-long", _split([[5.1, 3.5, 1.4, 2]]), JSON, False),
              ("mixed-int-in-double", _split([[5, 3, 14, 2]]), JSON, True)]
    _compare(servers, "models:/mixed/1", kinds)


def test_a_tensor_signature(servers):
    many = [[round(v + i * 0.01, 3) for v in ROWS[i % 3]] for i in range(100)]
    kinds = [("inputs-1", json.dumps({"inputs": [ROW]}), JSON, True),
             ("inputs-3", json.dumps({"inputs": ROWS}), JSON, True),
             ("inputs-100", json.dumps({"inputs": many}), JSON, True),
             ("instances-3", json.dumps({"instances": ROWS}), JSON, True),
             ("inputs-ints", json.dumps({"inputs": [[5, 3, 1, 0]]}), JSON, True),
             ("inputs-charset", json.dumps({"inputs": ROWS}), "application/json; charset=utf-8",
              True),
             ("inputs-nan", json.dumps({"inputs": [[math.nan, 3.5, 1.4, 0.2]]}), JSON, None),
             ("inputs-narrow", json.dumps({"inputs": [ROW[:3]]}), JSON, False),
             ("inputs-wide", json.dumps({"inputs": [[*ROW, 1.0]]}), JSON, False),
             ("inputs-ragged", json.dumps({"inputs": [ROW, ROW[:3]]}), JSON, False),
             ("inputs-flat", json.dumps({"inputs": ROW}), JSON, False),
             ("inputs-deeper", json.dumps({"inputs": [[ROW]]}), JSON, False),
             ("inputs-string", json.dumps({"inputs": [["5.1", 3.5, 1.4, 0.2]]}), JSON, False),
             ("inputs-null", json.dumps({"inputs": [[None, 3.5, 1.4, 0.2]]}), JSON, False),
             ("inputs-bool", json.dumps({"inputs": [[True, 3.5, 1.4, 0.2]]}), JSON, False),
             ("inputs-empty", json.dumps({"inputs": []}), JSON, False),
             ("inputs-records", json.dumps({"inputs": [_row(COLS, r) for r in ROWS]}), JSON,
              False),
             ("inputs-params", json.dumps({"inputs": ROWS, "params": {"a": 1}}), JSON, False),
             ("split", _split(ROWS), JSON, False),
             ("records", _records(ROWS), JSON, False),
             ("csv", _csv(ROWS), "text/csv", False),
             ("no-content-type", json.dumps({"inputs": ROWS}), None, False)]
    _compare(servers, "models:/tensor/1", kinds)


def test_a_model_without_signature_is_answered_by_mlflow(servers):
    kinds = [(n, b, t, False) for n, b, t, _ in cases()]
    _compare(servers, "models:/nosig/1", kinds)
