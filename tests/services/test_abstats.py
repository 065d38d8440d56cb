"""The A/B statistics (``services.abstats``), each figure checked against an independent computation with scipy:
the normal and chi-square distributions, the two-proportion comparison (as a chi-square test of the 2-by-2
table), the always-valid interval (by integrating the mixture likelihood ratio numerically and solving for
where it crosses 1/alpha), the sample-ratio check, and a simulation showing that the always-valid interval keeps
its promise under daily peeking where the fixed-horizon one does not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from openplum.services import abstats


def test_normal_quantiles_and_tails_match_scipy() -> None:
    # Near 1 a double holds 1 - p to ~10 digits only, so both answers agree to about that.
    for p in (1e-12, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999999):
        assert abstats.normal_ppf(p) == pytest.approx(stats.norm.ppf(p), rel=1e-10, abs=1e-12)
    for z in (-8.0, -1.96, 0.0, 0.5, 3.0, 10.0, 30.0):
        assert abstats.normal_sf(z) == pytest.approx(stats.norm.sf(z), rel=1e-10)
        assert abstats.normal_cdf(z) == pytest.approx(stats.norm.cdf(z), rel=1e-10)


@pytest.mark.parametrize("df", range(1, 13))
def test_chi_square_tail_matches_scipy(df: int) -> None:
    for x in (0.0, 1e-6, 0.01, 0.5, 1.0, 3.84, 7.5, 20.0, 60.0, 300.0):
        assert abstats.chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-9, abs=1e-300)


def _mixture_ratio_by_integration(estimate: float, se: float, theta: float, tau: float) -> float:
    """Λ(θ) from its definition: the likelihood of ``estimate`` averaged over alternatives N(θ, τ²), divided by
    its likelihood under θ."""
    null = float(stats.norm.logpdf(estimate, theta, se))

    def integrand(alt: float) -> float:
        return math.exp(float(stats.norm.logpdf(estimate, alt, se) + stats.norm.logpdf(alt, theta, tau)) - null)

    width = 12 * max(se, tau)
    ratio, _ = integrate.quad(integrand, theta - width, theta + width, points=[estimate, theta], limit=400,
                              epsabs=0, epsrel=1e-12)
    return ratio


@pytest.mark.parametrize(("control", "treatment"), [
    ((120, 1000), (150, 1000)),
    ((30, 400), (22, 380)),
    ((5, 37), (11, 41)),
    ((2400, 20_000), (2500, 19_500)),
])
def test_a_comparison_matches_an_independent_computation(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    (x_c, n_c), (x_t, n_t) = control, treatment
    p_c, p_t = x_c / n_c, x_t / n_t

    found = abstats.compare(control, treatment)

    assert found.lift == pytest.approx(p_t - p_c, rel=1e-12)
    assert found.relative_lift == pytest.approx((p_t - p_c) / p_c, rel=1e-12)
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    z = stats.norm.ppf(0.975)
    assert found.interval == pytest.approx((p_t - p_c - z * se, p_t - p_c + z * se), rel=1e-10)
    table = [[x_t, n_t - x_t], [x_c, n_c - x_c]]
    _, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    assert found.p_value == pytest.approx(p_value, rel=1e-9)

    # The always-valid interval is where the mixture likelihood ratio stays below 1/alpha.
    tau, crossing = abstats.MIXING_SD, 1 / abstats.ALPHA
    d = p_t - p_c

    def excess(theta: float) -> float:
        return _mixture_ratio_by_integration(d, se, theta, tau) - crossing

    lo = optimize.brentq(excess, d - 15 * se, d, xtol=1e-14)
    hi = optimize.brentq(excess, d, d + 15 * se, xtol=1e-14)
    assert found.sequential_interval == pytest.approx((lo, hi), rel=1e-7)
    assert found.sequential_p_value == pytest.approx(min(1.0, 1 / _mixture_ratio_by_integration(d, se, 0.0, tau)),
                                                     rel=1e-7)
    assert found.sequential_interval is not None
    assert found.interval is not None
    assert found.sequential_interval[0] < found.interval[0] < found.interval[1] < found.sequential_interval[1]


def test_a_clear_difference_is_significant_both_ways() -> None:
    found = abstats.compare((1000, 10_000), (1300, 10_000))

    assert found.p_value is not None
    assert found.p_value < 1e-9
    assert found.sequential_p_value is not None
    assert found.sequential_p_value < 0.05
    assert found.sequential_interval is not None
    assert found.sequential_interval[0] > 0


def test_an_arm_without_users_has_no_statistics() -> None:
    assert abstats.compare((0, 0), (3, 10)) == abstats.Comparison(None, None, None, None, None, None)
    assert abstats.compare((3, 10), (0, 0)).lift is None


def test_no_conversions_anywhere_is_no_difference_and_no_interval() -> None:
    found = abstats.compare((0, 50), (0, 60))

    assert (found.lift, found.relative_lift, found.p_value) == (0.0, None, 1.0)
    assert found.interval is None
    assert found.sequential_interval is None


@pytest.mark.parametrize(("observed", "weights"), [
    ([480, 520, 1000], [25, 25, 50]),
    ([5000, 5210], [50, 50]),
    ([5000, 5500], [50, 50]),
    ([300, 310, 290, 305], [25, 25, 25, 25]),
    ([90, 200], [30, 70]),
])
def test_sample_ratio_check_matches_scipy(observed: list[int], weights: list[float]) -> None:
    expected = [sum(observed) * w / sum(weights) for w in weights]
    statistic, p_value = stats.chisquare(observed, expected)

    found = abstats.sample_ratio(observed, weights)

    assert found.chi_square == pytest.approx(statistic, rel=1e-12)
    assert found.degrees_of_freedom == len(observed) - 1
    assert found.p_value == pytest.approx(p_value, rel=1e-9)
    assert found.mismatch == (p_value < 0.001)


def test_a_lopsided_split_is_a_mismatch_and_a_fair_one_is_not() -> None:
    assert abstats.sample_ratio([5000, 5500], [50, 50]).mismatch is True
    assert abstats.sample_ratio([5000, 5030], [50, 50]).mismatch is False


def test_users_in_a_variant_of_weight_zero_are_a_mismatch() -> None:
    found = abstats.sample_ratio([50, 50, 3], [50, 50, 0])

    assert (found.chi_square, found.p_value, found.mismatch) == (None, 0.0, True)
    assert abstats.sample_ratio([50, 50, 0], [50, 50, 0]).degrees_of_freedom == 1


def test_no_users_is_no_mismatch() -> None:
    assert abstats.sample_ratio([0, 0], [50, 50]) == abstats.SampleRatio(0.0, 1, 1.0, False)


def test_the_sequential_interval_stays_valid_under_daily_peeking_where_the_fixed_one_does_not() -> None:
    """300 simulated tests with a true lift of 2 points, each looked at after every 100 users per arm up to 4000:
    the always-valid interval misses the true lift at some look in at most 5% of them; the fixed-horizon one,
    looked at as often, misses it in far more."""
    rng = np.random.default_rng(20240601)
    p_c, p_t, step, looks, runs = 0.10, 0.12, 100, 40, 300
    control = rng.random((runs, step * looks)) < p_c
    treatment = rng.random((runs, step * looks)) < p_t
    seq_missed = fixed_missed = 0
    for run in range(runs):
        c_conv = np.cumsum(control[run])[step - 1 :: step]
        t_conv = np.cumsum(treatment[run])[step - 1 :: step]
        seq_miss = fixed_miss = False
        for k in range(looks):
            n = step * (k + 1)
            found = abstats.compare((int(c_conv[k]), n), (int(t_conv[k]), n))
            assert found.sequential_interval is not None
            assert found.interval is not None
            seq_miss |= not found.sequential_interval[0] <= p_t - p_c <= found.sequential_interval[1]
            fixed_miss |= not found.interval[0] <= p_t - p_c <= found.interval[1]
        seq_missed += seq_miss
        fixed_missed += fixed_miss

    assert seq_missed / runs <= 0.05
    assert fixed_missed / runs > 0.12
