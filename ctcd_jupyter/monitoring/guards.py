"""Rollout guards: statistical tests of a candidate arm against the stable arm in the same window.

A guard takes the two arms' rows of the prediction log and returns a `Verdict`: "inconclusive"
(not enough evidence yet: neither promote nor abort), "passing" or "failing". `&` combines them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CriterionError

__all__ = ["AllOf", "Guard", "Verdict", "accuracy", "default", "error_rate", "latency",
           "prediction_shift"]

STATES = ("inconclusive", "passing", "failing")  # a guard's states, weakest evidence first
ERROR_STATUS = 400  # an HTTP status from which an answer counts as an error


@dataclass(frozen=True)
class Verdict:
    """A guard's decision and its evidence.

    `statistic` and `threshold` are the number the guard decided on and the limit it was held
    to; `needed` estimates how many more candidate requests (or labels) a decision takes
    while inconclusive; `parts` are the verdicts of combined guards.
    """

    state: str  # one of STATES
    guard: str
    reason: str
    statistic: float | None = None
    threshold: float | None = None
    n_stable: int = 0
    n_candidate: int = 0
    needed: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    parts: tuple[Verdict, ...] = ()

    @property
    def passing(self) -> bool:
        return self.state == "passing"

    @property
    def failing(self) -> bool:
        return self.state == "failing"

    def __str__(self) -> str:
        return f"{self.guard}: {self.state} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the deployment record and the MLflow run of a decision."""
        from .jsonable import json_safe

        fields = {k: v for k, v in self.__dict__.items() if k != "parts"}
        return json_safe({**fields, "parts": [p.to_dict() for p in self.parts]})


class Guard:
    """A test of candidate rows against stable rows. Subclasses implement `evaluate`."""

    name = "guard"
    min_requests = 30

    def evaluate(self, stable: pd.DataFrame, candidate: pd.DataFrame) -> Verdict:
        raise NotImplementedError

    def __call__(self, stable: pd.DataFrame, candidate: pd.DataFrame) -> Verdict:
        return self.evaluate(stable, candidate)

    def __and__(self, other: Guard) -> AllOf:
        if not isinstance(other, Guard):
            return NotImplemented
        return AllOf([*_flat(self), *_flat(other)])

    def _too_few(self, n_stable: int, n_candidate: int, minimum: int, what: str = "requests"
                 ) -> Verdict | None:
        if min(n_stable, n_candidate) >= minimum:
            return None
        return Verdict("inconclusive", self.name,
                       f"{n_candidate} candidate and {n_stable} stable {what}, fewer than "
                       f"{minimum} per arm", n_stable=n_stable, n_candidate=n_candidate,
                       needed=max(0, minimum - n_candidate))


class AllOf(Guard):
    """All guards must pass; any failing guard fails the whole; otherwise inconclusive."""

    def __init__(self, guards: list[Guard]):
        self.guards = list(guards)
        self.name = " & ".join(g.name for g in self.guards)

    def evaluate(self, stable: pd.DataFrame, candidate: pd.DataFrame) -> Verdict:
        parts = tuple(g.evaluate(stable, candidate) for g in self.guards)
        failing = [p for p in parts if p.state == "failing"]
        waiting = [p for p in parts if p.state == "inconclusive"]
        if failing:
            state, reason = "failing", "; ".join(str(p) for p in failing)
        elif waiting:
            state, reason = "inconclusive", "; ".join(str(p) for p in waiting)
        else:
            state, reason = "passing", "all guards pass"
        needed = [p.needed for p in waiting if p.needed is not None]
        return Verdict(state, self.name, reason, n_stable=len(stable),
                       n_candidate=len(candidate), needed=max(needed) if needed else None,
                       parts=parts)

    def __repr__(self) -> str:
        return " & ".join(repr(g) for g in self.guards)


class _ErrorRate(Guard):
    name = "error_rate"

    def __init__(self, alpha: float, beta: float, ratio: float, min_rate: float,
                 min_requests: int):
        _check(0 < alpha < 0.5 and 0 < beta < 0.5, "alpha and beta between 0 and 0.5",
               alpha=alpha, beta=beta)
        _check(ratio > 1 and 0 < min_rate < 1 and min_requests >= 1,
               "ratio > 1, 0 < min_rate < 1, min_requests >= 1", ratio=ratio,
               min_rate=min_rate, min_requests=min_requests)
        self.alpha, self.beta, self.ratio = alpha, beta, ratio
        self.min_rate, self.min_requests = min_rate, min_requests

    def __repr__(self) -> str:
        return (f"error_rate(alpha={self.alpha}, beta={self.beta}, ratio={self.ratio}, "
                f"min_rate={self.min_rate}, min_requests={self.min_requests})")

    def evaluate(self, stable: pd.DataFrame, candidate: pd.DataFrame) -> Verdict:
        from .sequential import sprt_error_rate

        both = pd.concat([_arm(stable, False), _arm(candidate, True)], ignore_index=True)
        both = both.sort_values("time", kind="stable")
        path = sprt_error_rate(both["candidate"].to_numpy(), both["error"].to_numpy(),
                               alpha=self.alpha, beta=self.beta, ratio=self.ratio,
                               min_rate=self.min_rate, min_requests=self.min_requests)
        n_s, n_c = len(stable), len(candidate)
        e_s, e_c = int(_errors(stable).sum()), int(_errors(candidate).sum())
        evidence = {"stable_errors": e_s, "candidate_errors": e_c, "p0": path.p0,
                    "p1": path.p1, "llr": path.llr, "upper": path.upper, "lower": path.lower,
                    "decided_at": path.at, "alpha": self.alpha, "beta": self.beta}
        rates = f"candidate {e_c}/{n_c} errors vs stable {e_s}/{n_s}"
        if path.decision is not None:
            bound = path.upper if path.decision == "failing" else path.lower
            word = ">=" if path.decision == "failing" else "<="
            hyp = f"{self.ratio:g}x" if path.decision == "failing" else "the same as"
            return Verdict(path.decision, self.name,
                           f"SPRT log-LR {path.llr:.2f} {word} {bound:.2f} at candidate request "
                           f"{path.at}: error rate {hyp} stable's ({rates})", path.llr, bound,
                           n_s, n_c, None, evidence)
        too_few = self._too_few(n_s, n_c, self.min_requests)
        if too_few is not None:
            return replace(too_few, evidence=evidence)
        return Verdict("inconclusive", self.name,
                       f"SPRT log-LR {path.llr:.2f} within ({path.lower:.2f}, {path.upper:.2f}) "
                       f"({rates})", path.llr, None, n_s, n_c,
                       _wald_needed(path, e_c / n_c), evidence)


class _Latency(Guard):
    name = "latency"

    def __init__(self, quantile: float, max_ratio: float, alpha: float, min_requests: int):
        _check(0 < quantile < 1 and max_ratio > 0 and 0 < alpha < 0.5 and min_requests >= 1,
               "0 < quantile < 1, max_ratio > 0, 0 < alpha < 0.5, min_requests >= 1",
               quantile=quantile, max_ratio=max_ratio, alpha=alpha, min_requests=min_requests)
        self.quantile, self.max_ratio, self.alpha = quantile, max_ratio, alpha
        self.min_requests = min_requests

    def __repr__(self) -> str:
        return (f"latency(quantile={self.quantile}, max_ratio={self.max_ratio}, "
                f"alpha={self.alpha}, min_requests={self.min_requests})")

    def evaluate(self, stable: pd.DataFrame, candidate: pd.DataFrame) -> Verdict:
        """The ratio of the candidate's latency quantile to the stable's, with distribution-free
        bounds: each arm's quantile gets an order-statistic interval at 1 - alpha/2, so the
        ratio's interval [low_c / high_s, high_c / low_s] covers the true ratio with
        probability >= 1 - alpha (Bonferroni). Failing when even its low end exceeds
        `max_ratio`, passing when its high end is within it. Only answered requests count."""
        return self.decide(_latencies(stable), _latencies(candidate))

    def decide(self, stable_ms: np.ndarray, candidate_ms: np.ndarray) -> Verdict:
        """The verdict on two arrays of latencies (the benchmark calls this directly)."""
        from .sequential import quantile_bounds

        a, b = np.sort(stable_ms), np.sort(candidate_ms)
        too_few = self._too_few(len(a), len(b), self.min_requests)
        if too_few is not None:
            return too_few
        level = 1 - self.alpha / 2
        ls, hs = quantile_bounds(a, self.quantile, level)
        lc, hc = quantile_bounds(b, self.quantile, level)
        qs, qc = float(np.quantile(a, self.quantile)), float(np.quantile(b, self.quantile))
        ratio = qc / qs if qs > 0 else math.inf
        low = lc / hs if hs > 0 else math.inf
        high = hc / ls if ls > 0 else math.inf
        evidence = {"stable_quantile_ms": qs, "candidate_quantile_ms": qc, "ratio_low": low,
                    "ratio_high": high, "quantile": self.quantile, "alpha": self.alpha}
        p = f"p{self.quantile * 100:g}"
        what = (f"{p} {qc:.1f} ms vs {qs:.1f} ms, ratio {ratio:.2f} "
                f"[{low:.2f}, {high:.2f}]")
        if low > self.max_ratio:
            return Verdict("failing", self.name, f"{what} > {self.max_ratio:g}", ratio,
                           self.max_ratio, len(a), len(b), None, evidence)
        if high <= self.max_ratio:
            return Verdict("passing", self.name, f"{what} <= {self.max_ratio:g}", ratio,
                           self.max_ratio, len(a), len(b), None, evidence)
        return Verdict("inconclusive", self.name, f"{what} straddles {self.max_ratio:g}", ratio,
                       self.max_ratio, len(a), len(b), None, evidence)


class _PredictionShift(Guard):
    name = "prediction_shift"

    def __init__(self, psi: float, alpha: float, min_requests: int, bins: int):
        _check(psi > 0 and 0 < alpha < 0.5 and min_requests >= 1 and bins >= 2,
               "psi > 0, 0 < alpha < 0.5, min_requests >= 1, bins >= 2", psi=psi,
               alpha=alpha, min_requests=min_requests, bins=bins)
        self.psi, self.alpha, self.min_requests, self.bins = psi, alpha, min_requests, bins

    def __repr__(self) -> str:
        return (f"prediction_shift(psi={self.psi}, alpha={self.alpha}, "
                f"min_requests={self.min_requests})")

    def evaluate(self, stable: pd.DataFrame, candidate: pd.DataFrame) -> Verdict:
        """Pearson's chi-square test of homogeneity on the counts of classes (or of the stable
        arm's decile bins for numeric predictions) paired with a PSI floor: failing needs both
        a significant difference and PSI >= `psi`; passing needs PSI < `psi` / 2, a clear
        margin: a candidate near the floor waits rather than passes on a lucky window
        (passing at PSI < `psi` promoted 20 % of 0.5 sd shifts in simulation). Small-sample
        PSI is biased upwards, so early windows wait too. See `drift.psi`."""
        return self.decide(_answered(stable)["prediction"], _answered(candidate)["prediction"])

    def decide(self, stable: Any, candidate: Any) -> Verdict:
        """The verdict on the two arms' predictions (the benchmark calls this directly)."""
        from .drift import _binned_counts, _chi2, _kind, _psi_of_counts, _series

        a, b = _series(stable), _series(candidate)
        too_few = self._too_few(len(a), len(b), self.min_requests)
        if too_few is not None:
            return too_few
        p, q = _binned_counts(a, b, _kind(a), self.bins)
        value = _psi_of_counts(p, q)
        stat, pval = _chi2(p, q)
        evidence = {"psi": value, "chi2": stat, "p_value": pval, "alpha": self.alpha}
        what = f"psi {value:.3f}, chi-square p={pval:.3g}"
        if pval < self.alpha and value >= self.psi:
            return Verdict("failing", self.name, f"{what}: shifted (psi >= {self.psi:g})",
                           value, self.psi, len(a), len(b), None, evidence)
        if value < self.psi / 2:
            return Verdict("passing", self.name, f"{what} < {self.psi / 2:g}", value,
                           self.psi, len(a), len(b), None, evidence)
        return Verdict("inconclusive", self.name, f"{what}: neither shifted nor clearly not",
                       value, self.psi, len(a), len(b), None, evidence)


class _Accuracy(Guard):
    name = "accuracy"

    def __init__(self, max_drop: float, alpha: float, min_labels: int):
        _check(0 <= max_drop < 1 and 0 < alpha < 0.5 and min_labels >= 1,
               "0 <= max_drop < 1, 0 < alpha < 0.5, min_labels >= 1", max_drop=max_drop,
               alpha=alpha, min_labels=min_labels)
        self.max_drop, self.alpha, self.min_requests = max_drop, alpha, min_labels

    def __repr__(self) -> str:
        return (f"accuracy(max_drop={self.max_drop}, alpha={self.alpha}, "
                f"min_labels={self.min_requests})")

    def evaluate(self, stable: pd.DataFrame, candidate: pd.DataFrame) -> Verdict:
        """A non-inferiority comparison of the labelled rows' accuracy: Newcombe's interval for
        candidate - stable at 1 - 2*alpha (each side one-sided at alpha); failing when its high
        end is below -max_drop, passing when its low end is at or above -max_drop (Newcombe
        1998; non-inferiority margins: Wellek, "Testing Statistical Hypotheses of Equivalence
        and Noninferiority", 2nd ed. 2010, ch. 6)."""
        return self.decide(*_hits(stable), *_hits(candidate))

    def decide(self, hs: int, ns: int, hc: int, nc: int) -> Verdict:
        """The verdict on counts of right predictions among labelled rows, stable then
        candidate (the benchmark calls this directly)."""
        from .sequential import newcombe_difference

        too_few = self._too_few(ns, nc, self.min_requests, "labels")
        if too_few is not None:
            return too_few
        d, low, high = newcombe_difference(hc, nc, hs, ns, 1 - 2 * self.alpha)
        evidence = {"stable_accuracy": hs / ns, "candidate_accuracy": hc / nc, "difference": d,
                    "low": low, "high": high, "alpha": self.alpha}
        what = (f"accuracy {hc / nc:.3f} vs {hs / ns:.3f}, difference {d:+.3f} "
                f"[{low:+.3f}, {high:+.3f}]")
        if high < -self.max_drop:
            return Verdict("failing", self.name, f"{what}: dropped more than {self.max_drop:g}",
                           d, -self.max_drop, ns, nc, None, evidence)
        if low >= -self.max_drop:
            return Verdict("passing", self.name, f"{what}: within {self.max_drop:g}", d,
                           -self.max_drop, ns, nc, None, evidence)
        return Verdict("inconclusive", self.name, f"{what} straddles -{self.max_drop:g}", d,
                       -self.max_drop, ns, nc, None, evidence)


def error_rate(alpha: float = 0.01, beta: float = 0.05, *, ratio: float = 3.0,
               min_rate: float = 0.005, min_requests: int = 30) -> Guard:
    """Is the candidate's error rate (status >= 400) `ratio` times the stable's?

    Wald's sequential probability ratio test (Wald, "Sequential Analysis", 1947) on the
    candidate's requests in time order, H0: p = p0 against H1: p = ratio * p0, with p0 the
    stable arm's error rate in the same window (its 75 % upper Wilson bound, at least
    `min_rate`: see `sequential.sprt_error_rate`). It may look after every request and still
    keeps false rollbacks at about `alpha` (missed bad candidates near the alternative rise
    above `beta`: the price of an estimated baseline; benchmarks/bench_guards.py), unlike a
    threshold or a z-test re-run at every check (Armitage, McPherson & Rowe, JRSS A 132(2),
    1969: repeated significance tests inflate the error rate).
    """
    return _ErrorRate(alpha, beta, ratio, min_rate, min_requests)


def latency(quantile: float = 0.95, max_ratio: float = 1.2, *, alpha: float = 0.01,
            min_requests: int = 30) -> Guard:
    """Is the candidate's latency quantile more than `max_ratio` times the stable's?
    Distribution-free order-statistic bounds; see `_Latency.evaluate`."""
    return _Latency(quantile, max_ratio, alpha, min_requests)


def prediction_shift(psi: float = 0.2, *, alpha: float = 0.01, min_requests: int = 30,
                     bins: int = 10) -> Guard:
    """Do the candidate's predictions differ in distribution from the stable's?
    Chi-square on class/bin counts plus a PSI floor; see `_PredictionShift.evaluate`."""
    return _PredictionShift(psi, alpha, min_requests, bins)


def accuracy(max_drop: float = 0.02, *, alpha: float = 0.01, min_labels: int = 50) -> Guard:
    """Is the candidate's accuracy on labelled rows more than `max_drop` below the stable's?
    Newcombe's interval of the difference; see `_Accuracy.evaluate`. It is re-checked as
    labels arrive, not a sequential test: alpha 1 % keeps false rollbacks near 0.5 % when
    checked every 50 labels (5 % gave 4 %; benchmarks/bench_guards.py)."""
    return _Accuracy(max_drop, alpha, min_labels)


def default() -> Guard:
    """The guard of a rollout that names none: errors and p95 latency."""
    return error_rate() & latency()


# ---------------------------------------------------------------------------------------------

def _flat(guard: Guard) -> list[Guard]:
    return list(guard.guards) if isinstance(guard, AllOf) else [guard]


def _check(ok: bool, need: str, **got: Any) -> None:
    if not ok:
        given = ", ".join(f"{k}={v!r}" for k, v in got.items())
        raise CriterionError(f"a guard needs {need} (got {given})")


def _errors(frame: pd.DataFrame) -> pd.Series:
    if "status" not in frame:
        raise CriterionError("a guard needs the log's 'status' column; columns: "
                             f"{list(frame.columns)}")
    return frame["status"].astype(int) >= ERROR_STATUS


def _arm(frame: pd.DataFrame, candidate: bool) -> pd.DataFrame:
    times = frame["time"].astype(float) if "time" in frame else pd.Series(
        np.arange(len(frame), dtype=float), index=frame.index)
    return pd.DataFrame({"time": times.to_numpy(), "error": _errors(frame).to_numpy(),
                         "candidate": candidate})


def _answered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~_errors(frame)] if "status" in frame else frame


def _latencies(frame: pd.DataFrame) -> np.ndarray:
    return _answered(frame)["latency_ms"].astype(float).dropna().to_numpy()


def _hits(frame: pd.DataFrame) -> tuple[int, int]:
    labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[:0]
    from .intervals import correct

    hits = int(correct(labelled["prediction"], labelled["label"]).sum())
    return hits, len(labelled)


def _wald_needed(path: Any, rate: float) -> int | None:
    """Wald's approximation of the requests still needed: the distance to the nearer boundary
    in the direction the statistic drifts, over its mean step at the observed rate."""
    step = rate * math.log(path.p1 / path.p0) + (1 - rate) * math.log((1 - path.p1) /
                                                                      (1 - path.p0))
    if abs(step) < 1e-12:
        return None
    distance = (path.upper - path.llr) if step > 0 else (path.llr - path.lower)
    return max(1, math.ceil(distance / abs(step)))
