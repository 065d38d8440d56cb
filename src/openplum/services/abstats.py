"""The statistics of A/B test reports, in pure Python (the server does not depend on scipy; the tests check every
figure against it).

**Comparing a variant with the control** (per goal event). Each exposed user either converted (did the goal
event after exposure) or not; ``p_c = x_c / n_c`` and ``p_t = x_t / n_t`` are the conversion rates, and the
*lift* is their difference ``d = p_t - p_c`` (``relative lift`` ``d / p_c`` is given as a point estimate only).

1. Fixed-horizon 95% confidence interval: the normal approximation to the difference of two independent
   proportions (Wald), ``d ± z_{0.975} · s`` with ``s² = p_t(1-p_t)/n_t + p_c(1-p_c)/n_c``.
2. Two-sided p-value of "no difference": the two-proportion z-test with the pooled rate
   ``p = (x_t+x_c)/(n_t+n_c)``, ``z = d / sqrt(p(1-p)(1/n_t + 1/n_c))``, ``p-value = 2·(1 - Φ(|z|))``; this is the
   Pearson chi-square test of the 2-by-2 table without continuity correction. When nobody or everybody converted
   in both arms the rates are equal and the p-value is 1.
   Both assume independent users, randomised assignment, and enough users for the normal approximation (as a
   rule of thumb at least ~10 conversions and ~10 non-conversions per arm), and are valid only when looked at
   once, at a sample size fixed in advance: checked every day, they find "significant" differences that do
   not exist far more often than 5% of the time.
3. Sequential, always-valid 95% interval: a normal-mixture confidence sequence (Robbins' mixture sequential
   probability ratio test, as used for A/B tests in "always valid inference" by Johari, Koomen, Pekelis and
   Walsh, and the normal-mixture boundary of Howard, Ramdas, McAuliffe and Sekhon). If ``d`` is normal around
   the true lift ``θ`` with variance ``s²`` and its score ``(d-θ)/s²`` has independent increments as users
   arrive (true of a difference of means), then for a mixing distribution ``N(θ, τ²)`` over alternatives the
   mixture likelihood ratio ``Λ(θ) = sqrt(s²/(s²+τ²)) · exp(τ²(d-θ)² / (2s²(s²+τ²)))`` is a nonnegative
   martingale with mean 1, so by Ville's inequality ``P(Λ(θ) ≥ 1/alpha at any time) ≤ alpha``. The interval
   ``{θ : Λ(θ) < 1/alpha} = d ± sqrt(s²(s²+τ²)/τ² · ln((s²+τ²)/(alpha²·s²)))`` therefore covers the true lift at every
   moment simultaneously: it may be checked after every user and the test stopped whenever it excludes 0, at
   the price of being wider (about 1.5 to 2 times) than the fixed-horizon interval. ``1/Λ(0)`` (at most 1) is
   the matching always-valid p-value. Assumptions: as above (independent users, assignment independent of
   outcomes), plus the normal approximation in "information time"; ``s²`` is the plug-in estimate, so the
   guarantee is asymptotic (the asymptotic confidence sequences of Waudby-Smith, Arbour, Sinha, Kennedy and
   Ramdas); and the mixing scale ``τ`` is fixed before the data are seen: ``MIXING_SD`` = 0.05 (five points of
   conversion rate), which keeps the interval within 25% of the narrowest any ``τ`` could give for standard
   errors from 0.08 to 5 points (at a 10% conversion rate: from ~100 to ~300,000 users per arm).

**Sample ratio mismatch.** Pearson's chi-square goodness-of-fit test of the users exposed per variant against the
configured weights (``k-1`` degrees of freedom over the variants with a positive weight), flagged when its
p-value is below 0.001: a mismatch means assignment or exposure logging is broken, and the comparisons above
cannot be trusted. Users in a variant of weight 0 are a mismatch by themselves (p-value 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05
MIXING_SD = 0.05
SRM_THRESHOLD = 0.001
_SQRT2 = math.sqrt(2.0)


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / _SQRT2)


def normal_sf(z: float) -> float:
    """``1 - Φ(z)``, accurate far into the upper tail."""
    return 0.5 * math.erfc(z / _SQRT2)


def normal_ppf(p: float) -> float:
    """The ``p`` quantile of the standard normal distribution (bisection to the last bit of a double)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a probability strictly between 0 and 1 is needed, got {p}")
    lo, hi = -40.0, 40.0
    while True:
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            return mid
        if normal_cdf(mid) < p:
            lo = mid
        else:
            hi = mid


def chi2_sf(x: float, df: int) -> float:
    """``P(X ≥ x)`` for ``X`` chi-square with ``df`` (a positive integer) degrees of freedom.

    Closed forms: for even ``df`` the Poisson sum ``e^{-h} Σ_{j<df/2} h^j/j!`` with ``h = x/2``; for odd ``df``
    ``erfc(√h) + e^{-h} Σ_{j=1}^{(df-1)/2} h^{j-1/2}/Γ(j+1/2)``. Terms are summed in log space, so large ``x``
    underflows to 0 instead of overflowing.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df}")
    if x <= 0.0:
        return 1.0
    h = x / 2.0
    log_h = math.log(h)
    if df % 2 == 0:
        total = sum(math.exp(j * log_h - h - math.lgamma(j + 1)) for j in range(df // 2))
    else:
        total = math.erfc(math.sqrt(h)) + sum(
            math.exp((j - 0.5) * log_h - h - math.lgamma(j + 0.5)) for j in range(1, (df - 1) // 2 + 1)
        )
    return min(1.0, total)


@dataclass(frozen=True)
class Comparison:
    """A treatment variant against the control, for one goal; None where a figure is undefined (an arm with
    no users, or no variance observed yet)."""

    lift: float | None
    relative_lift: float | None
    interval: tuple[float, float] | None
    p_value: float | None
    sequential_interval: tuple[float, float] | None
    sequential_p_value: float | None


def mixture_ratio(estimate: float, variance: float, theta: float, mixing_sd: float = MIXING_SD) -> float:
    """``Λ(θ)``: the normal-mixture likelihood ratio of ``estimate`` (variance ``variance``) against ``θ``."""
    tau2 = mixing_sd**2
    total = variance + tau2
    exponent = tau2 * (estimate - theta) ** 2 / (2.0 * variance * total)
    return math.sqrt(variance / total) * math.exp(min(exponent, 700.0))


def confidence_sequence(
    estimate: float, variance: float, alpha: float = ALPHA, mixing_sd: float = MIXING_SD
) -> tuple[float, float]:
    """``{θ : Λ(θ) < 1/alpha}`` for a normal ``estimate`` with variance ``variance`` > 0."""
    tau2 = mixing_sd**2
    total = variance + tau2
    half = math.sqrt(variance * total / tau2 * math.log(total / (alpha**2 * variance)))
    return estimate - half, estimate + half


def compare(
    control: tuple[int, int], treatment: tuple[int, int], alpha: float = ALPHA, mixing_sd: float = MIXING_SD
) -> Comparison:
    """``control`` and ``treatment`` are (conversions, users)."""
    (x_c, n_c), (x_t, n_t) = control, treatment
    if n_c <= 0 or n_t <= 0:
        return Comparison(None, None, None, None, None, None)
    p_c, p_t = x_c / n_c, x_t / n_t
    lift = p_t - p_c
    relative = lift / p_c if p_c > 0 else None
    variance = p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c
    pooled = (x_c + x_t) / (n_c + n_t)
    pooled_variance = pooled * (1 - pooled) * (1 / n_t + 1 / n_c)
    p_value = 2.0 * normal_sf(abs(lift) / math.sqrt(pooled_variance)) if pooled_variance > 0 else 1.0
    if variance <= 0:
        return Comparison(lift, relative, None, min(1.0, p_value), None, None)
    half = normal_ppf(1 - alpha / 2) * math.sqrt(variance)
    sequential_p = min(1.0, 1.0 / mixture_ratio(lift, variance, 0.0, mixing_sd))
    return Comparison(
        lift, relative, (lift - half, lift + half), min(1.0, p_value),
        confidence_sequence(lift, variance, alpha, mixing_sd), sequential_p,
    )


@dataclass(frozen=True)
class SampleRatio:
    chi_square: float | None
    """None when a variant of weight 0 has users (the statistic is infinite)."""
    degrees_of_freedom: int
    p_value: float
    mismatch: bool


def sample_ratio(observed: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD) -> SampleRatio:
    """Chi-square goodness-of-fit of ``observed`` users per variant against the configured ``weights``."""
    if len(observed) != len(weights):
        raise ValueError("one weight per variant is needed")
    weighted = [(n, w) for n, w in zip(observed, weights, strict=True) if w > 0]
    df = len(weighted) - 1
    if any(n > 0 and w <= 0 for n, w in zip(observed, weights, strict=True)):
        return SampleRatio(None, max(df, 0), 0.0, True)
    total = sum(n for n, _ in weighted)
    if df < 1 or total == 0:
        return SampleRatio(0.0, max(df, 0), 1.0, False)
    weight = sum(w for _, w in weighted)
    expected = [(n, total * w / weight) for n, w in weighted]
    statistic = sum((n - e) ** 2 / e for n, e in expected)
    p_value = chi2_sf(statistic, df)
    return SampleRatio(statistic, df, p_value, p_value < threshold)
