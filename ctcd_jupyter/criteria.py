"""Deployment criteria as data: when a newly trained model may replace the one being served.

`threshold(metric, min_value)` and `better_than_champion(metric, scorer=None,
min_improvement=0.0)`, combined with `&`. Each evaluates to a `Verdict` saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import CriterionError, unknown_name

__all__ = ["CRITERIA", "AllOf", "BetterThanChampion", "Champion", "Criterion", "Threshold",
           "Verdict", "better_than_champion", "criterion_from_dict", "threshold"]

Predict = Callable[[Any], Any]


@dataclass(frozen=True)
class Champion:
    """The model being served now: its registry version, the metrics recorded when it was
    deployed, and a `predict` to re-score it."""

    version: str | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    predict: Predict | None = None


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    metric: str | None = None
    value: float | None = None
    champion_value: float | None = None


class Criterion:
    """Base of the criteria; `a & b` passes when both pass."""

    kind: ClassVar[str] = "criterion"

    def evaluate(self, metrics: Mapping[str, float], champion: Champion | None,
                 candidate_predict: Predict | None = None) -> Verdict:
        raise NotImplementedError

    def metric_names(self) -> list[str]:
        return []

    def __and__(self, other: Criterion) -> AllOf:
        if not isinstance(other, Criterion):
            return NotImplemented
        parts = [*(self.parts if isinstance(self, AllOf) else (self,)),
                 *(other.parts if isinstance(other, AllOf) else (other,))]
        return AllOf(tuple(parts))

    def to_dict(self) -> dict:
        raise NotImplementedError


def _pick_metric(metric: str | None, metrics: Mapping[str, float]) -> str:
    if metric is not None:
        if metric not in metrics:
            raise CriterionError(
                f"the criterion needs metric {metric!r}, which was not given (given: "
                f"{', '.join(sorted(metrics)) or 'none'}); log it with "
                f"ctcd.log_metric({metric!r}, value) in a step that runs before, or pass it")
        return metric
    if len(metrics) == 1:
        return next(iter(metrics))
    raise CriterionError("name the metric the criterion compares: several or no metrics were "
                         f"given ({', '.join(sorted(metrics)) or 'none'})")


@dataclass(frozen=True)
class Threshold(Criterion):
    metric: str | None
    min_value: float | None = None
    max_value: float | None = None
    kind: ClassVar[str] = "threshold"

    def __post_init__(self) -> None:
        if self.min_value is None and self.max_value is None:
            raise CriterionError("threshold needs min_value or max_value")

    def evaluate(self, metrics: Mapping[str, float], champion: Champion | None,
                 candidate_predict: Predict | None = None) -> Verdict:
        name = _pick_metric(self.metric, metrics)
        value = float(metrics[name])
        if not math.isfinite(value):
            return Verdict(False, f"{name} is {value}", name, value)
        if self.min_value is not None and value < self.min_value:
            return Verdict(False, f"{name} {value:.4g} < {self.min_value:g}", name, value)
        if self.max_value is not None and value > self.max_value:
            return Verdict(False, f"{name} {value:.4g} > {self.max_value:g}", name, value)
        bound = (f">= {self.min_value:g}" if self.min_value is not None else "") + (
            f"{' and ' if self.min_value is not None and self.max_value is not None else ''}"
            f"<= {self.max_value:g}" if self.max_value is not None else "")
        return Verdict(True, f"{name} {value:.4g} {bound}", name, value)

    def metric_names(self) -> list[str]:
        return [self.metric] if self.metric else []

    def to_dict(self) -> dict:
        return {"kind": self.kind, "metric": self.metric, "min_value": self.min_value,
                "max_value": self.max_value}


@dataclass(frozen=True)
class BetterThanChampion(Criterion):
    """Passes when the candidate beats the champion by `min_improvement` on `metric`. With a
    `scorer(predict) -> float`, the champion is re-scored now on this run's evaluation data
    (fair when the data drifted); otherwise its metric recorded at deployment is used."""

    metric: str | None = None
    scorer: Predict | None = field(default=None, compare=False)
    min_improvement: float = 0.0
    greater_is_better: bool = True
    kind: ClassVar[str] = "better_than_champion"

    def evaluate(self, metrics: Mapping[str, float], champion: Champion | None,
                 candidate_predict: Predict | None = None) -> Verdict:
        if self.scorer is not None and self.metric is None and not metrics \
                and candidate_predict is not None:
            metrics = {"score": float(self.scorer(candidate_predict))}
        name = _pick_metric(self.metric, metrics)
        value = float(metrics[name])
        if champion is None:
            return Verdict(True, f"no champion yet; {name} {value:.4g}", name, value)
        if self.scorer is not None and champion.predict is not None:
            theirs = float(self.scorer(champion.predict))
            how = "re-scored on this run's data"
        elif name in champion.metrics:
            theirs = float(champion.metrics[name])
            how = "as recorded at its deployment"
        else:
            return Verdict(True, f"champion v{champion.version} has no {name} to compare; "
                                 f"{name} {value:.4g}", name, value)
        gain = value - theirs if self.greater_is_better else theirs - value
        # Strictly better by default; at least `min_improvement` better when one is given.
        needed = gain >= self.min_improvement if self.min_improvement > 0 else gain > 0
        passed = math.isfinite(gain) and needed
        word = "beats" if passed else "does not beat"
        reason = (f"{name} {value:.4g} {word} champion v{champion.version}'s {theirs:.4g} "
                  f"({how})" + (f" by {self.min_improvement:g}" if self.min_improvement else ""))
        return Verdict(passed, reason, name, value, theirs)

    def metric_names(self) -> list[str]:
        return [self.metric] if self.metric else []

    def to_dict(self) -> dict:
        if self.scorer is not None:
            raise CriterionError("a criterion with a scorer function cannot be stored as data")
        return {"kind": self.kind, "metric": self.metric,
                "min_improvement": self.min_improvement,
                "greater_is_better": self.greater_is_better}


@dataclass(frozen=True)
class AllOf(Criterion):
    parts: tuple[Criterion, ...]
    kind: ClassVar[str] = "all"

    def evaluate(self, metrics: Mapping[str, float], champion: Champion | None,
                 candidate_predict: Predict | None = None) -> Verdict:
        verdicts = [p.evaluate(metrics, champion, candidate_predict) for p in self.parts]
        failed = [v for v in verdicts if not v.passed]
        main = next((v for v in verdicts if v.champion_value is not None), verdicts[0])
        chosen = failed[0] if failed else main
        return Verdict(not failed, "; ".join(v.reason for v in verdicts), chosen.metric,
                       chosen.value, main.champion_value)

    def metric_names(self) -> list[str]:
        return [n for p in self.parts for n in p.metric_names()]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "parts": [p.to_dict() for p in self.parts]}


CRITERIA: dict[str, type[Criterion]] = {
    "threshold": Threshold, "better_than_champion": BetterThanChampion, "all": AllOf}


def criterion_from_dict(data: Mapping[str, Any]) -> Criterion:
    kind = data.get("kind")
    if kind not in CRITERIA:
        raise CriterionError(unknown_name("criterion kind", str(kind), CRITERIA))
    fields = {k: v for k, v in data.items() if k != "kind"}
    if kind == "all":
        return AllOf(tuple(criterion_from_dict(p) for p in fields["parts"]))
    return CRITERIA[kind](**fields)


def threshold(metric: str | None, min_value: float | None = None, *,
              max_value: float | None = None) -> Threshold:
    """Deploy only when `metric` >= `min_value` (and/or <= `max_value`)."""
    return Threshold(metric, min_value, max_value)


def better_than_champion(metric: str | None = None, scorer: Predict | None = None,
                         min_improvement: float = 0.0, *, min_value: float | None = None,
                         greater_is_better: bool = True) -> Criterion:
    """Deploy only when the candidate beats the served champion (always, when there is none).
    `min_value` also requires an absolute threshold."""
    better = BetterThanChampion(metric, scorer, float(min_improvement), greater_is_better)
    return better & Threshold(metric, min_value) if min_value is not None else better
