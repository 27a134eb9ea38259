"""Rollout guards on constructed arms: pass, fail, inconclusive, and their combination."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ctcd_jupyter.errors import CriterionError
from ctcd_jupyter.monitoring import guards


def _arm(n: int, *, error_rate: float = 0.0, latency: float = 20.0, shift: float = 0.0,
         accuracy: float | None = None, seed: int = 0, share: float = 0.5) -> pd.DataFrame:
    """n rows of one arm; requests arrive at `share` of a 1-request-per-second stream."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    prediction = rng.normal(size=n) + shift
    if accuracy is not None:
        right = rng.random(n) < accuracy
        prediction = np.where(right, labels, 1 - labels)
    return pd.DataFrame({
        "request_id": [f"{seed}-{i}" for i in range(n)],
        "time": np.sort(rng.uniform(0, n / share, n)),
        "status": np.where(rng.random(n) < error_rate, 500, 200),
        "latency_ms": latency * np.exp(0.3 * rng.standard_normal(n)),
        "prediction": prediction,
        "label": labels if accuracy is not None else None,
    })


def _stable(n: int = 3000, **kw) -> pd.DataFrame:
    return _arm(n, seed=1, share=0.9, **kw)


def test_error_rate_fails_a_bad_candidate_and_says_where():
    verdict = guards.error_rate()(_stable(error_rate=0.01), _arm(400, error_rate=0.10, share=0.1))
    assert verdict.state == "failing" and verdict.failing
    assert verdict.statistic >= verdict.threshold == pytest.approx(np.log(0.95 / 0.01))
    assert verdict.evidence["decided_at"] <= 400
    assert "SPRT" in verdict.reason and "candidate" in verdict.reason


def test_error_rate_passes_a_candidate_as_good_as_stable():
    verdict = guards.error_rate()(_stable(error_rate=0.01), _arm(1000, error_rate=0.0, share=0.1))
    assert verdict.state == "passing" and verdict.statistic <= np.log(0.05 / 0.99)


def test_error_rate_is_inconclusive_below_min_requests_and_says_how_many_more():
    verdict = guards.error_rate(min_requests=30)(_stable(), _arm(10, error_rate=0.0))
    assert verdict.state == "inconclusive" and verdict.needed == 20
    assert "fewer than 30 per arm" in verdict.reason
    # enough requests, not enough evidence yet: Wald's estimate of what is left
    verdict = guards.error_rate()(_stable(error_rate=0.02), _arm(40, error_rate=0.025, share=0.1))
    assert verdict.state == "inconclusive" and verdict.needed and verdict.needed > 0


def test_the_sprt_decision_is_sticky_once_crossed():
    # ten errors in a row at the start, then a long clean run: the rollback stands
    candidate = _arm(2000, error_rate=0.0, share=0.1)
    candidate.loc[:40, "status"] = 500
    verdict = guards.error_rate()(_stable(error_rate=0.01), candidate)
    assert verdict.state == "failing" and verdict.evidence["decided_at"] <= 41


def test_latency_fails_a_slower_candidate_and_passes_an_equal_one():
    stable = _stable(latency=20.0)
    assert guards.latency()(stable, _arm(600, latency=30.0)).state == "failing"
    assert guards.latency()(stable, _arm(2000, latency=20.0)).state == "passing"
    verdict = guards.latency()(stable, _arm(40, latency=22.0))
    assert verdict.state == "inconclusive" and "straddles 1.2" in verdict.reason
    assert verdict.evidence["ratio_low"] < 1.2 < verdict.evidence["ratio_high"]


def test_latency_ignores_failed_requests():
    candidate = _arm(600, latency=20.0, seed=3)
    candidate.loc[:100, ["status", "latency_ms"]] = [500, 10_000.0]
    assert guards.latency()(_stable(latency=20.0), candidate).state == "passing"


def test_prediction_shift_needs_significance_and_the_psi_floor():
    stable = _stable()
    assert guards.prediction_shift()(stable, _arm(500, shift=1.0)).state == "failing"
    assert guards.prediction_shift()(stable, _arm(500)).state == "passing"
    classes = _stable(accuracy=0.9)
    assert guards.prediction_shift()(classes, _arm(500, accuracy=0.9)).state == "passing"


def test_accuracy_waits_for_labels_then_compares_with_a_margin():
    stable = _stable(accuracy=0.90)
    assert guards.accuracy()(stable, _arm(30, accuracy=0.9)).state == "inconclusive"
    assert guards.accuracy()(stable, _arm(2000, accuracy=0.80)).state == "failing"
    verdict = guards.accuracy()(stable, _arm(3000, accuracy=0.91, seed=4))
    assert verdict.state == "passing" and verdict.evidence["low"] >= -0.02
    no_labels = _arm(500)
    assert guards.accuracy()(stable, no_labels).state == "inconclusive"


def test_and_needs_all_to_pass_and_fails_on_any():
    stable = _stable(error_rate=0.01, latency=20.0)
    good = _arm(3000, error_rate=0.0, latency=20.0, share=0.1)
    slow = _arm(3000, error_rate=0.0, latency=40.0, share=0.1)
    both = guards.error_rate() & guards.latency()
    assert both(stable, good).state == "passing"
    verdict = both(stable, slow)
    assert verdict.state == "failing" and [p.state for p in verdict.parts] == ["passing",
                                                                              "failing"]
    assert verdict.reason.startswith("latency: failing")
    triple = both & guards.prediction_shift()
    assert [g.name for g in triple.guards] == ["error_rate", "latency", "prediction_shift"]
    waiting = both(stable, good.head(10))
    assert waiting.state == "inconclusive" and waiting.needed == 20


def test_the_default_guard_is_errors_and_latency():
    assert guards.default().name == "error_rate & latency"


@pytest.mark.parametrize(("make", "match"), [
    (lambda: guards.error_rate(alpha=0.7), "alpha and beta between 0 and 0.5"),
    (lambda: guards.latency(quantile=95), "0 < quantile < 1"),
    (lambda: guards.prediction_shift(psi=-1), "psi > 0"),
    (lambda: guards.accuracy(max_drop=2), "0 <= max_drop < 1"),
])
def test_bad_options_are_one_line_errors(make, match):
    with pytest.raises(CriterionError, match=match) as info:
        make()
    assert "\n" not in str(info.value)


def test_a_frame_without_status_is_a_clear_error():
    with pytest.raises(CriterionError, match="'status' column"):
        guards.error_rate()(pd.DataFrame({"time": [1.0]}), pd.DataFrame({"time": [1.0]}))


def test_prediction_shift_near_the_floor_waits_instead_of_passing():
    # psi ~0.15: under the 0.2 floor but not clearly (< 0.1) a candidate that can be promoted
    verdict = guards.prediction_shift()(_stable(n=20_000), _arm(5000, shift=0.4, seed=5))
    assert 0.1 < verdict.statistic < 0.2
    assert verdict.state == "inconclusive" and "neither shifted nor clearly not" in verdict.reason


def test_a_verdict_and_its_parts_are_json_for_the_deployment_record():
    import json

    verdict = (guards.error_rate() & guards.latency())(_stable(error_rate=0.01),
                                                       _arm(400, error_rate=0.10, share=0.1))
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    assert data["state"] == "failing" and data["guard"] == "error_rate & latency"
    assert data["parts"][0]["evidence"]["decided_at"] == verdict.parts[0].evidence["decided_at"]
    assert data["parts"][1]["evidence"]["quantile"] == 0.95
