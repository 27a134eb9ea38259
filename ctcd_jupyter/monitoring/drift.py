"""Data drift and prediction drift of a live window against a reference sample, per column.

A test while the samples are small, a distance once they are large, and always the PSI floor, so
that a verdict means "a change big enough to matter" and does not flip as the window grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CriterionError

__all__ = ["DriftResult", "FeatureDrift", "benjamini_hochberg", "detect_drift", "feature_drift",
           "histogram", "psi"]

VERDICTS = ("ok", "warn", "drift", "inconclusive")
# Evidently's split (FACTS.md): up to this many rows a test, above it a distance.
SMALL_MAX = 1000
MIN_WINDOW = 100
WARN_PSI, ALERT_PSI = 0.1, 0.2
DISTANCE_THRESHOLD = 0.1  # Evidently's default for Wasserstein (normalised) and Jensen-Shannon
MAX_CATEGORIES = 10  # a numeric column with at most this many values is treated as categories


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one column: which test, its statistic, the PSI floor, and the verdict.

    `p_value` is the test's raw p-value, `q_value` the Benjamini-Hochberg adjusted one (the
    verdict uses `q_value`); `distance` is set when the samples were large enough for one.
    """

    feature: str
    kind: str  # "numeric" | "categorical"
    test: str  # "ks" | "chi2" | "wasserstein" | "jensen_shannon" | "none"
    statistic: float | None
    p_value: float | None
    q_value: float | None
    distance: float | None
    psi: float | None
    verdict: str  # one of VERDICTS
    n: int
    n_reference: int
    reason: str = ""


@dataclass
class DriftResult:
    """The drift of every column of a window; `drifted` when any column's verdict is "drift"."""

    features: list[FeatureDrift] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return any(f.verdict == "drift" for f in self.features)

    @property
    def drifting(self) -> list[str]:
        """Names of the columns whose verdict is "drift"."""
        return [f.feature for f in self.features if f.verdict == "drift"]

    def __getitem__(self, feature: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == feature:
                return f
        from ..errors import unknown_name

        raise KeyError(unknown_name("feature", feature, [f.feature for f in self.features]))

    def to_frame(self) -> pd.DataFrame:
        columns = list(FeatureDrift.__dataclass_fields__)
        return pd.DataFrame([asdict(f) for f in self.features], columns=columns)

    def __repr__(self) -> str:
        lines = [f"DriftResult(drifted={self.drifted}, features={len(self.features)})"]
        lines += [f"  {f.feature}: {f.verdict} ({f.test}, psi={_fmt(f.psi)}, n={f.n}) {f.reason}"
                  for f in self.features]
        return "\n".join(lines)


def psi(reference: Sequence[Any], current: Sequence[Any], *, bins: int = 10,
        kind: str | None = None) -> float:
    """Population Stability Index: sum over bins of (q - p) * ln(q / p).

    The symmetrised Kullback-Leibler divergence (Jeffreys' J) of the binned distributions, the
    credit-scoring industry's effect size for a shifted population: below 0.1 no real change,
    0.1-0.25 some, above 0.25 a major one (Siddiqi, "Credit Risk Scorecards", Wiley 2006, ch. 8;
    properties: Yurdakul & Naranjo, "Statistical properties of the population stability index",
    J. Risk Model Validation 14(4), 2020). Numeric columns are cut at the reference's deciles;
    counts get +0.5 (Jeffreys' prior) so an empty bin gives a large, finite value.
    """
    ref, cur = _series(reference), _series(current)
    kind = kind or _kind(ref)
    p, q = _binned_counts(ref, cur, kind, bins)
    return _psi_of_counts(p, q)


def feature_drift(reference: Sequence[Any], current: Sequence[Any], *, name: str = "value",
                  min_window: int = MIN_WINDOW, small_max: int = SMALL_MAX, bins: int = 10,
                  ) -> FeatureDrift:
    """One column's drift, before any multiple-testing correction (`q_value` = `p_value`).

    While the smaller sample has at most `small_max` rows: the two-sample Kolmogorov-Smirnov
    test for a numeric column (Massey, JASA 46, 1951; exact for small samples, Hodges 1958) or
    Pearson's chi-square test of homogeneity on the category counts for a categorical one
    (Agresti, "Categorical Data Analysis", 3rd ed. 2013, §3.2). Above it every test rejects for
    a negligible change (the complaint in evidently#50), so a distance is reported instead: the
    Wasserstein-1 distance divided by the reference's standard deviation (in units of the
    feature's spread, as Evidently does; Ramdas, Garcia & Cuturi, Entropy 19(2), 2017), or the
    Jensen-Shannon distance in bits for categories (Lin, IEEE Trans. Inf. Theory 37(1), 1991).
    Verdicts: see `detect_drift`.
    """
    return _verdicts([_raw(name, _series(reference), _series(current), min_window, small_max,
                           bins)], alpha=0.05, warn_psi=WARN_PSI, alert_psi=ALERT_PSI,
                     distance_threshold=DISTANCE_THRESHOLD, adjust=False)[0]


def detect_drift(reference: pd.DataFrame, current: pd.DataFrame, *,
                 columns: Iterable[str] | None = None, alpha: float = 0.05,
                 min_window: int = MIN_WINDOW, small_max: int = SMALL_MAX,
                 warn_psi: float = WARN_PSI, alert_psi: float = ALERT_PSI,
                 distance_threshold: float = DISTANCE_THRESHOLD, bins: int = 10) -> DriftResult:
    """The drift of each column of `current` (the live window) against `reference`.

    The test or distance per column is chosen by `feature_drift`'s rule on the smaller of the
    two samples (usually the window: its noise is what a test guards against). The p-values of
    all tested columns are adjusted together with Benjamini-Hochberg (JRSS B 57(1), 1995), which
    keeps the expected share of false alarms among flagged columns at `alpha` however many
    features the model has. Verdict per column:

    - "inconclusive": either sample has fewer than `min_window` non-missing rows;
    - small samples: "drift" when q < alpha and PSI >= `alert_psi`, "warn" when q < alpha and
      PSI >= `warn_psi` (a significant but tiny change is "ok": the effect-size floor);
    - large samples: "drift" when the distance >= `distance_threshold` and PSI >= `alert_psi`,
      "warn" when the distance >= `distance_threshold` and PSI >= `warn_psi`.

    Both PSI and the distances converge to the true shift as the samples grow, so once a window
    is large the verdict stops depending on its size.
    """
    if not 0 < alpha < 1 or not 0 <= warn_psi <= alert_psi or min_window < 2:
        raise CriterionError(
            f"drift needs 0 < alpha < 1, 0 <= warn_psi <= alert_psi and min_window >= 2 "
            f"(got alpha={alpha}, warn_psi={warn_psi}, alert_psi={alert_psi}, "
            f"min_window={min_window})")
    names = list(columns) if columns is not None else [c for c in current.columns
                                                       if c in reference.columns]
    missing = [c for c in names if c not in reference.columns or c not in current.columns]
    if missing:
        raise CriterionError(f"no column {missing[0]!r} in both the reference and the window; "
                             f"common columns: {sorted(set(reference) & set(current))}")
    raw = [_raw(c, _series(reference[c]), _series(current[c]), min_window, small_max, bins)
           for c in names]
    return DriftResult(_verdicts(raw, alpha=alpha, warn_psi=warn_psi, alert_psi=alert_psi,
                                 distance_threshold=distance_threshold, adjust=True))


def histogram(reference: Sequence[Any], current: Sequence[Any], *, bins: int = 20,
              max_categories: int = 20) -> dict[str, Any]:
    """Reference and window side by side for a chart: shares per bin (they sum to 1 per side).

    Numeric columns get `bins` equal-width bins over the central 99 % of both samples together
    (outliers counted in the end bins), so the two shapes are comparable by eye; categorical
    ones their `max_categories` most frequent values, the rest as "other".
    """
    ref, cur = _series(reference), _series(current)
    kind = _kind(ref if len(ref) else cur)
    out: dict[str, Any] = {"kind": kind, "edges": None, "categories": None,
                           "reference": [], "window": [], "n_reference": len(ref),
                           "n": len(cur)}
    if not len(ref) and not len(cur):
        return out
    if kind == "numeric":
        both = np.concatenate([ref.to_numpy(float), cur.to_numpy(float)])
        low, high = np.quantile(both, [0.005, 0.995])
        edges = np.linspace(low, high, bins + 1) if high > low else np.array([low - .5, low + .5])
        counts = [np.histogram(np.clip(s.to_numpy(float), edges[0], edges[-1]), edges)[0]
                  for s in (ref, cur)]
        out["edges"] = edges.tolist()
    else:
        a, b = ref.astype(str), cur.astype(str)
        top = pd.concat([a, b]).value_counts().index[:max_categories]
        a, b = a.where(a.isin(top), "other"), b.where(b.isin(top), "other")
        cats = list(top) + (["other"] if (a == "other").any() or (b == "other").any() else [])
        counts = [s.value_counts().reindex(cats, fill_value=0).to_numpy() for s in (a, b)]
        out["categories"] = cats
    for side, c in zip(("reference", "window"), counts, strict=True):
        out[side] = (c / c.sum()).tolist() if c.sum() else [0.0] * len(c)
    return out


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input's order.

    Reject every hypothesis with q <= alpha to control the false discovery rate at alpha for
    independent or positively dependent tests (Benjamini & Hochberg, JRSS B 57(1), 1995).
    """
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]  # step-up: monotone from the largest p down
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


# ---------------------------------------------------------------------------------------------

def _raw(name: str, ref: pd.Series, cur: pd.Series, min_window: int, small_max: int,
         bins: int) -> dict[str, Any]:
    kind = _kind(ref if len(ref) else cur)
    base = dict(feature=str(name), kind=kind, n=len(cur), n_reference=len(ref), statistic=None,
                p_value=None, distance=None, psi=None, test="none", reason="")
    if min(len(ref), len(cur)) < min_window:
        which = "window" if len(cur) < min_window else "reference"
        base["reason"] = (f"{which} has {min(len(ref), len(cur))} rows, fewer than "
                          f"min_window={min_window}")
        return base
    p, q = _binned_counts(ref, cur, kind, bins)
    base["psi"] = _psi_of_counts(p, q)
    if min(len(ref), len(cur)) <= small_max:
        if kind == "numeric":
            from scipy.stats import ks_2samp

            res = ks_2samp(ref.to_numpy(float), cur.to_numpy(float))
            base.update(test="ks", statistic=float(res.statistic), p_value=float(res.pvalue))
        else:
            stat, pval = _chi2(p, q)
            base.update(test="chi2", statistic=stat, p_value=pval)
    elif kind == "numeric":
        from scipy.stats import wasserstein_distance

        a, b = ref.to_numpy(float), cur.to_numpy(float)
        spread = float(np.std(a)) or 1.0  # a constant reference: distance in the raw unit
        d = float(wasserstein_distance(a, b)) / spread
        base.update(test="wasserstein", statistic=d, distance=d)
    else:
        from scipy.spatial.distance import jensenshannon

        d = float(jensenshannon(p / p.sum(), q / q.sum(), base=2))
        base.update(test="jensen_shannon", statistic=d, distance=d)
    return base


def _verdicts(raw: list[dict[str, Any]], *, alpha: float, warn_psi: float, alert_psi: float,
              distance_threshold: float, adjust: bool) -> list[FeatureDrift]:
    tested = [r for r in raw if r["p_value"] is not None]
    qs = benjamini_hochberg([r["p_value"] for r in tested]) if adjust else \
        [r["p_value"] for r in tested]
    for r, q in zip(tested, qs, strict=True):
        r["q_value"] = float(q)
    out = []
    for r in raw:
        r.setdefault("q_value", None)
        if r["psi"] is None:
            verdict = "inconclusive"
        else:
            if r["q_value"] is not None:
                evidence = r["q_value"] < alpha
                why = f"q={r['q_value']:.3g} {'<' if evidence else '>='} {alpha}"
            else:
                evidence = r["distance"] >= distance_threshold
                why = (f"{r['test']}={r['distance']:.3g} "
                       f"{'>=' if evidence else '<'} {distance_threshold}")
            level = "drift" if r["psi"] >= alert_psi else "warn" if r["psi"] >= warn_psi else "ok"
            verdict = level if evidence else "ok"
            r["reason"] = f"{why}, psi={r['psi']:.3g}"
        out.append(FeatureDrift(verdict=verdict, **r))
    return out


def _series(values: Any) -> pd.Series:
    s = (values if isinstance(values, pd.Series) else pd.Series(list(values))).dropna()
    if s.dtype == object and len(s) and not all(isinstance(v, (str, int, float, bool, np.generic))
                                                for v in s.iloc[:50]):
        s = s.map(str)  # lists/dicts a pyfunc returned: compare their text
    return s.reset_index(drop=True)


def _kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return "categorical"
    return "numeric" if s.nunique() > MAX_CATEGORIES else "categorical"


def _binned_counts(ref: pd.Series, cur: pd.Series, kind: str, bins: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Counts of reference and window on common bins (deciles of the reference, or categories),
    each +0.5 so that no bin is empty."""
    if kind == "numeric":
        a, b = ref.to_numpy(float), cur.to_numpy(float)
        edges = np.unique(np.quantile(a, np.linspace(0, 1, bins + 1)[1:-1]))
        p = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1)
        q = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1)
    else:
        cats = pd.Index(pd.unique(pd.concat([ref.astype(str), cur.astype(str)])))
        p = ref.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
        q = cur.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
    return p.astype(float) + 0.5, q.astype(float) + 0.5


def _psi_of_counts(p: np.ndarray, q: np.ndarray) -> float:
    pp, qq = p / p.sum(), q / q.sum()
    return float(np.sum((qq - pp) * np.log(qq / pp)))


def _chi2(p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    from scipy.stats import chi2_contingency

    table = np.vstack([p, q]) - 0.5  # the raw counts: the +0.5 is for PSI only
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0  # one category on both sides: nothing to compare
    stat, pval, _, _ = chi2_contingency(table, correction=False)
    return float(stat), float(pval)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"
