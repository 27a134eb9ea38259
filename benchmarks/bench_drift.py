"""Simulated windows for ctcd_jupyter.monitoring.drift.detect_drift, beside a plain KS baseline.

Per window size: the share of windows flagged "drift" when nothing drifted (false alarms over
5 features), when one feature moved by a negligible 0.05 sd (it should stay "ok" however large
the window: the PSI floor), and when one feature moved by 0.7 sd (PSI ~0.4: it should drift);
then the rows a streaming window needs to flag a 0.55 sd shift. The baseline flags a column
when a two-sample KS test has p < 0.05, with no correction and no floor (Evidently's small-data
default applied at every size).

    python benchmarks/bench_drift.py [--trials 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from ctcd_jupyter.monitoring.drift import detect_drift

FEATURES = 5
REFERENCE = 5000
SIZES = (200, 1000, 5000, 20000)


def _frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    data = rng.standard_normal((n, FEATURES))
    data[:, 0] += shift
    return pd.DataFrame(data, columns=[f"x{i}" for i in range(FEATURES)])


def _ks_baseline(reference: pd.DataFrame, window: pd.DataFrame) -> bool:
    return any(ks_2samp(reference[c], window[c]).pvalue < 0.05 for c in window)


def bench_sizes(trials: int, seed: int) -> None:
    print(f"# share of windows flagged, {FEATURES} features, reference {REFERENCE} rows, "
          f"{trials} trials per cell, seeds {seed}..{seed + trials - 1}")
    print(f"{'window':>8} {'shift':>6} {'detect_drift':>13} {'warn':>7} {'KS p<.05':>9}")
    for n in SIZES:
        for shift in (0.0, 0.05, 0.7):
            flagged = warned = naive = 0
            for i in range(trials):
                rng = np.random.default_rng([seed + i, n])
                reference, window = _frame(rng, REFERENCE, 0.0), _frame(rng, n, shift)
                result = detect_drift(reference, window)
                flagged += result.drifted
                warned += any(f.verdict == "warn" for f in result.features)
                naive += _ks_baseline(reference, window)
            print(f"{n:>8} {shift:>6} {flagged / trials:>13.2%} {warned / trials:>7.2%} "
                  f"{naive / trials:>9.2%}")


def bench_detection_time(trials: int, seed: int, step: int = 50) -> None:
    print(f"\n# rows until a growing window flags a 0.55 sd shift (PSI ~0.25; checked every "
          f"{step} rows; minimum window 100), {trials} trials")
    found = []
    for i in range(trials):
        rng = np.random.default_rng([seed + i, 1])
        reference, stream = _frame(rng, REFERENCE, 0.0), _frame(rng, 2000, 0.55)
        for k in range(100, 2001, step):
            if detect_drift(reference, stream.iloc[:k]).drifted:
                found.append(k)
                break
    rows = np.array(found, dtype=float)
    print(f"detected {len(found) / trials:.2%}; rows mean {rows.mean():.0f}, "
          f"p50 {np.percentile(rows, 50):.0f}, p90 {np.percentile(rows, 90):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    bench_sizes(args.trials, args.seed)
    bench_detection_time(max(20, args.trials // 2), args.seed)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
