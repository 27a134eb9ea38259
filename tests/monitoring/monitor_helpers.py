"""Traffic for monitor tests: the shipped drifting stream sent to a real served model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ctcd_jupyter.datasource import drifting_classification, feature_names

NAMES = feature_names()
FEEDBACK = """
import json, sys, urllib.request
url, labels = sys.argv[1], json.loads(sys.argv[2])
body = json.dumps({"labels": labels}).encode()
request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(request, timeout=30).read().decode())
"""


def frame(X) -> pd.DataFrame:
    return pd.DataFrame(X, columns=NAMES)


def stream(run: int, n: int, seed: int, **kwargs):
    """All `n` rows (features, labels) of step `run` of the shipped drifting stream."""
    X_train, X_test, y_train, y_test = drifting_classification(run, n, seed=seed, **kwargs)
    return np.vstack([X_train, X_test]), np.concatenate([y_train, y_test])


def send(svc, X, rows_per_request: int = 10) -> list[str]:
    """Predict `X` in requests of `rows_per_request` rows; the request ids."""
    import requests

    ids, session = [], requests.Session()
    for start in range(0, len(X), rows_per_request):
        chunk = frame(X[start:start + rows_per_request])
        body = {"dataframe_split": chunk.to_dict(orient="split", index=False)}
        answer = session.post(svc.endpoint, json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        ids.append(answer.headers["X-Request-Id"])
    return ids


