from __future__ import annotations

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter.criteria import Champion, CriterionError, criterion_from_dict


def test_threshold():
    crit = ctcd.threshold("acc", 0.9)
    assert crit.evaluate({"acc": 0.95}, None).passed
    verdict = crit.evaluate({"acc": 0.85}, None)
    assert not verdict.passed and verdict.reason == "acc 0.85 < 0.9"
    assert not ctcd.threshold("loss", max_value=0.2).evaluate({"loss": 0.3}, None).passed
    assert not crit.evaluate({"acc": float("nan")}, None).passed
    with pytest.raises(CriterionError, match=r"needs metric 'acc', which was not given"):
        crit.evaluate({"f1": 0.9}, None)


def test_better_than_champion_recorded_and_rescored():
    crit = ctcd.better_than_champion("acc")
    assert crit.evaluate({"acc": 0.5}, None).passed  # no champion yet
    champ = Champion("3", {"acc": 0.9})
    assert not crit.evaluate({"acc": 0.9}, champ).passed  # equal is not better
    verdict = crit.evaluate({"acc": 0.92}, champ)
    assert verdict.passed and verdict.champion_value == 0.9 and "v3" in verdict.reason
    assert not ctcd.better_than_champion("acc", min_improvement=0.05).evaluate(
        {"acc": 0.92}, champ).passed
    # with a scorer the champion is re-scored now, on this run's data
    rescored = ctcd.better_than_champion("acc", scorer=lambda predict: predict("data"))
    live = Champion("3", {"acc": 0.99}, predict=lambda data: 0.5)
    verdict = rescored.evaluate({"acc": 0.6}, live)
    assert verdict.passed and verdict.champion_value == 0.5 and "re-scored" in verdict.reason
    lower = ctcd.better_than_champion("rmse", greater_is_better=False)
    assert lower.evaluate({"rmse": 1.0}, Champion("1", {"rmse": 2.0})).passed


def test_combined_and_as_data():
    crit = ctcd.better_than_champion(min_value=0.9)  # the DESIGN.md form: one metric given
    assert not crit.evaluate({"acc": 0.85}, None).passed
    assert crit.evaluate({"acc": 0.95}, Champion("1", {"acc": 0.93})).passed
    both = ctcd.threshold("acc", 0.8) & ctcd.better_than_champion("acc")
    assert criterion_from_dict(both.to_dict()) == both
    with pytest.raises(CriterionError,
                       match="no criterion kind named 'nope'; known: all, better_than_champion"):
        criterion_from_dict({"kind": "nope"})
    with pytest.raises(CriterionError, match="name the metric"):
        ctcd.better_than_champion().evaluate({"a": 1, "b": 2}, None)
