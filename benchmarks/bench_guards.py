"""Simulated rollouts for the guards of ctcd_jupyter.monitoring.guards, beside naive baselines.

For each guard: the false-alarm rate on a healthy candidate (A/A) and the candidate requests
until a decision for a bad one, over many seeded trials. Baselines, measured in the same run:
a Flagger-style fixed threshold (success rate >= 99 % per 1-minute check, rollback after 5
failed checks) and a one-sided two-proportion z-test re-run after every candidate request.

    python benchmarks/bench_guards.py [--trials 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ctcd_jupyter.monitoring import guards
from ctcd_jupyter.monitoring.sequential import sprt_error_rate

SHARE = 0.10  # the canary's share of the traffic
RATE = 10.0  # requests per second over both arms (for the minute-based baseline)
HORIZON = 3000  # candidate requests before a trial stops undecided


def _stream(rng: np.random.Generator, p_stable: float, p_cand: float
            ) -> tuple[np.ndarray, np.ndarray]:
    n = int(HORIZON / SHARE * 1.2)
    cand = rng.random(n) < SHARE
    err = rng.random(n) < np.where(cand, p_cand, p_stable)
    return cand, err


def _flagger(cand: np.ndarray, err: np.ndarray) -> tuple[str | None, int | None]:
    """Flagger's default analysis: each minute, fail the check when the canary's success rate
    is below 99 %; roll back at the 5th failed check, promote after 10 checks."""
    per_minute = int(RATE * 60)
    failed = 0
    for check in range(1, 11):
        window = slice((check - 1) * per_minute, check * per_minute)
        c, e = cand[window], err[window] & cand[window]
        if c.sum() and e.sum() / c.sum() > 0.01:
            failed += 1
        if failed >= 5:
            return "failing", int(cand[:check * per_minute].sum())
    return "passing", int(cand[:10 * per_minute].sum())


def _peeking_z(cand: np.ndarray, err: np.ndarray, min_requests: int = 30
               ) -> tuple[str | None, int | None]:
    """A one-sided two-proportion z-test at 1 %, re-run after every candidate request."""
    nc = np.cumsum(cand)[cand]
    ns = np.cumsum(~cand)[cand]
    ec = np.cumsum(err & cand)[cand]
    es = np.cumsum(err & ~cand)[cand]
    pooled = (ec + es) / (nc + ns)
    se = np.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / np.maximum(ns, 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (ec / nc - es / np.maximum(ns, 1)) / se
    hit = np.flatnonzero((nc >= min_requests) & (nc <= HORIZON) & (z > 2.326))
    return ("failing", int(hit[0]) + 1) if len(hit) else (None, None)


def _sprt(cand: np.ndarray, err: np.ndarray, **options: float) -> tuple[str | None, int | None]:
    keep = np.cumsum(cand) <= HORIZON
    path = sprt_error_rate(cand[keep], err[keep], alpha=0.01, beta=0.05, **options)
    return path.decision, path.at


def _summarise(results: list[tuple[str | None, int | None]], bad: bool) -> str:
    states = [s for s, _ in results]
    fail = np.mean([s == "failing" for s in states])
    undecided = np.mean([s is None for s in states])
    at = np.array([n for s, n in results if s == "failing"], dtype=float)
    times = f"{at.mean():7.0f} {np.percentile(at, 50):7.0f} {np.percentile(at, 90):7.0f}" \
        if len(at) else f"{'-':>7} {'-':>7} {'-':>7}"
    label = "rolled back" if bad else "FALSE rollbacks"
    passed = [n for s, n in results if s == "passing"]
    promoted = f"promoted {len(passed) / len(results):6.2%}" + (
        f" (mean {np.mean(passed):4.0f})" if passed else " " * 12)
    return (f"{label:>16} {fail:7.2%}  requests mean/p50/p90 {times}  {promoted}  "
            f"undecided {undecided:6.2%}")


def bench_error_rate(trials: int, seed: int) -> None:
    print(f"\n# error_rate: canary share {SHARE:.0%}, stable at 1 %, {trials} trials, "
          f"horizon {HORIZON} candidate requests, seeds {seed}..{seed + trials - 1}")
    methods = {
        "SPRT, known 1 % baseline (FACTS)": lambda c, e: _sprt(
            c, np.where(c, e, False), ratio=3.0, min_rate=0.01, min_requests=1,
            baseline_confidence=0),
        "guards.error_rate() (stable's rate)": lambda c, e: _sprt(
            c, e, ratio=3.0, min_rate=0.005, min_requests=30),
        "baseline: z-test after every request": _peeking_z,
        "baseline: Flagger 99 %/min, 5 checks": _flagger,
    }
    for p_cand in (0.01, 0.03, 0.05):
        print(f"candidate at {p_cand:.0%} errors")
        streams = [_stream(np.random.default_rng(seed + i), 0.01, p_cand) for i in range(trials)]
        for name, method in methods.items():
            started = time.perf_counter()
            results = [method(c, e) for c, e in streams]
            print(f"  {name:<38}{_summarise(results, p_cand > 0.01)}"
                  f"  ({time.perf_counter() - started:.1f} s)")


def _checkpoints(guard_decide, stable: np.ndarray, cand: np.ndarray, every: int
                 ) -> tuple[str | None, int | None]:
    for k in range(every, len(cand) + 1, every):
        verdict = guard_decide(stable[:int(k * (1 - SHARE) / SHARE)], cand[:k])
        if verdict.state != "inconclusive":
            return verdict.state, k
    return None, None


def bench_latency(trials: int, seed: int) -> None:
    guard = guards.latency()
    limit, every = 2000, 50
    print(f"\n# latency(quantile=0.95, max_ratio=1.2): lognormal latencies (median 20 ms, "
          f"sigma 0.5), checked every {every} candidate requests up to {limit}, {trials} trials")
    for factor in (1.0, 1.5):
        rows = {"guard": [], "baseline: p95 ratio > 1.2": []}
        for i in range(trials):
            rng = np.random.default_rng(seed + i)
            stable = 20 * np.exp(0.5 * rng.standard_normal(int(limit * 9)))
            cand = 20 * factor * np.exp(0.5 * rng.standard_normal(limit))
            rows["guard"].append(_checkpoints(guard.decide, stable, cand, every))
            naive = None, None
            for k in range(every, limit + 1, every):
                s = stable[:k * 9]
                if np.quantile(cand[:k], 0.95) > 1.2 * np.quantile(s, 0.95):
                    naive = "failing", k
                    break
            rows["baseline: p95 ratio > 1.2"].append(naive)
        print(f"candidate x{factor:g}")
        for name, results in rows.items():
            print(f"  {name:<38}{_summarise(results, factor > 1.2)}")


def bench_prediction_shift(trials: int, seed: int) -> None:
    guard = guards.prediction_shift()
    limit, every = 1000, 25
    print(f"\n# prediction_shift(psi=0.2): normal predictions, checked every {every} candidate "
          f"requests up to {limit}, {trials} trials")
    for shift in (0.0, 0.5, 1.0):
        results = []
        for i in range(trials):
            rng = np.random.default_rng(seed + i)
            stable = rng.standard_normal(limit * 9)
            cand = rng.standard_normal(limit) + shift
            results.append(_checkpoints(guard.decide, stable, cand, every))
        print(f"  shift {shift:g} sd{'':<28}{_summarise(results, shift > 0)}")


def bench_accuracy(trials: int, seed: int) -> None:
    guard = guards.accuracy()
    limit, every = 3000, 50
    print(f"\n# accuracy(max_drop=0.02): stable right 90 % of the time, checked every {every} "
          f"candidate labels up to {limit}, {trials} trials")
    for acc in (0.90, 0.85):
        results = []
        for i in range(trials):
            rng = np.random.default_rng(seed + i)
            stable = np.cumsum(rng.random(limit * 9) < 0.90)
            cand = np.cumsum(rng.random(limit) < acc)
            decided = None, None
            for k in range(every, limit + 1, every):
                verdict = guard.decide(int(stable[k * 9 - 1]), k * 9, int(cand[k - 1]), k)
                if verdict.state != "inconclusive":
                    decided = verdict.state, k
                    break
            results.append(decided)
        print(f"  candidate right {acc:.0%}{'':<23}{_summarise(results, acc < 0.88)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    bench_error_rate(args.trials, args.seed)
    bench_latency(max(50, args.trials // 10), args.seed)
    bench_prediction_shift(max(50, args.trials // 10), args.seed)
    bench_accuracy(max(50, args.trials // 10), args.seed)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
