"""Labels that arrive late, joined to logged requests by request id.

One home for what `svc.log_labels`, `ctcd labels` and the model server's `POST /feedback` do:
check each label against the log (unknown ids and labels of the wrong shape are counted, never
an error for the whole batch), note which replace an earlier label (the last one wins on read),
and append the rest. A label for a batch request labels every row of it, unless it is a list as
long as the request's rows (one label per row). Standard library only: run in the server too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .prediction_log import PredictionLog

__all__ = ["LabelResult", "apply_labels", "feedback_labels"]

MAX_FEEDBACK_BYTES = 1 << 20


@dataclass
class LabelResult:
    """What became of a batch of labels."""

    joined: int = 0  # labels written for logged requests
    unknown: int = 0  # request ids the log does not have
    replaced: int = 0  # of the joined, labels that replace an earlier one
    invalid: int = 0  # labels of the wrong shape (a list not as long as the request's rows)
    unknown_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"joined": self.joined, "unknown": self.unknown, "replaced": self.replaced,
                "invalid": self.invalid, "unknown_ids": self.unknown_ids[:100]}

    def __str__(self) -> str:
        text = f"{self.joined} label(s) joined"
        if self.replaced:
            text += f" ({self.replaced} replacing an earlier label: the last one is kept)"
        if self.unknown:
            text += f", {self.unknown} unknown request id(s)"
        if self.invalid:
            text += f", {self.invalid} of the wrong shape"
        return text


def apply_labels(log: PredictionLog, service: str, pairs: list[tuple[str, Any]],
                 known: Mapping[str, int] | None = None) -> LabelResult:
    """Write `pairs` (request id, label); `known` holds the row counts of requests the caller
    just wrote (saves reading the log for them)."""
    result = LabelResult()
    latest: dict[str, Any] = {}
    for rid, label in pairs:  # the same id twice in one batch: the last is kept
        if rid in latest:
            result.replaced += 1
        latest[str(rid)] = label
    known = known or {}  # the writer thread adds to it meanwhile: looked up, never iterated
    rows = {rid: n for rid in latest if (n := known.get(rid)) is not None}
    missing = [rid for rid in latest if rid not in rows]
    if missing:
        rows.update(log.rows_of(service, missing))
    labelled = _labelled(log, service)
    now = time.time()
    records = []
    for rid, label in latest.items():
        if rid not in rows:
            result.unknown += 1
            result.unknown_ids.append(rid)
            continue
        if isinstance(label, (list, tuple)):
            if len(label) != rows[rid]:
                result.invalid += 1
                continue
            records += [{"request_id": rid, "row": i, "label": _plain(v), "time": now}
                        for i, v in enumerate(label)]
        else:
            records.append({"request_id": rid, "row": -1, "label": _plain(label), "time": now})
        result.joined += 1
        result.replaced += rid in labelled
    log.append_labels(service, records)
    return result


def _labelled(log: PredictionLog, service: str) -> set[str]:
    frame = log.labels(service)
    return set(frame["request_id"]) if len(frame) else set()


def _plain(value: Any) -> Any:
    """A label as stored: a scalar (numpy scalars made plain), else JSON text."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def feedback_labels(body: bytes) -> list[tuple[str, Any]]:
    """The (request id, label) pairs of a `POST /feedback` body: `{"request_id": ...,
    "label": ...}` or `{"labels": [{...}, ...]}`; ValueError naming what is wrong."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"the body is not JSON ({exc})") from None
    if isinstance(data, dict) and "labels" in data:
        items = data["labels"]
        if not isinstance(items, list) or not items:
            raise ValueError('"labels" must be a non-empty list of {"request_id", "label"}')
    else:
        items = [data]
    pairs = []
    for i, item in enumerate(items):
        where = f"labels[{i}]" if len(items) > 1 or "labels" in data else "the body"
        if not isinstance(item, dict) or "request_id" not in item or "label" not in item:
            raise ValueError(f'{where} needs "request_id" and "label"')
        rid = item["request_id"]
        if not isinstance(rid, str) or not rid or len(rid) > 200:
            raise ValueError(f'{where}: "request_id" must be a non-empty string')
        if item["label"] is None or isinstance(item["label"], dict):
            raise ValueError(f'{where}: "label" must be a value or a list of values')
        pairs.append((rid, item["label"]))
    return pairs
