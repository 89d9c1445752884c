"""Calibrators: the lean and the batch form agree, fitting picks a sane method, and the
measures (ECE, Brier) are what they say."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from model.calibration import IDENTITY, Calibrator
from training import calibration


def test_isotonic_one_value_at_a_time_is_numpys_interp() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-2 * z))).astype(int)
    fitted = calibration.fit_isotonic(z, y)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(z, y)
    probe = np.concatenate([rng.normal(scale=3, size=500), np.asarray(fitted.x), [-50.0, 50.0]])
    batch = fitted.many(probe)
    np.testing.assert_allclose(batch, reference.predict(probe), rtol=0, atol=1e-12)
    np.testing.assert_allclose([fitted.one(v) for v in probe], batch, rtol=0, atol=1e-12)


def test_platt_one_value_at_a_time_is_the_vectorised_sigmoid() -> None:
    c = Calibrator("platt", a=0.7, b=-1.3)
    z = np.array([-800.0, -5.0, 0.0, 0.3, 4.0, 800.0])
    np.testing.assert_allclose([c.one(v) for v in z], c.many(z), rtol=0, atol=1e-15)
    assert c.many(np.array([-5000.0]))[0] == 0.0  # no overflow warning (warnings are errors)


def test_choose_prefers_the_better_method_and_never_an_upside_down_platt() -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(size=2000)
    # a step: below 0 never, above 0 always - isotonic fits it, a sigmoid cannot
    y = (z > 0).astype(int)
    chosen, brier = calibration.choose(z, y, seed=1)
    assert chosen.method == "isotonic" and brier["isotonic"] < brier["platt"]
    # scores that run against the labels: Platt would need a negative slope
    chosen, _ = calibration.choose(-z, (rng.random(2000) < 1 / (1 + np.exp(-z))).astype(int), 1)
    assert chosen.method == "isotonic"


def test_too_few_positives_keep_the_plain_sigmoid() -> None:
    z = np.linspace(-3, 3, 200)
    y = np.zeros(200, dtype=int)
    y[-calibration.MIN_EXAMPLES + 1 :] = 1
    assert calibration.choose(z, y, seed=1) == (IDENTITY, {})


def test_ece_and_brier_on_known_cases() -> None:
    y = np.array([0, 0, 1, 1])
    assert calibration.ece(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0
    assert calibration.brier(y, np.array([0.5] * 4)) == 0.25
    # one bin holding every item: |mean score 0.5 - rate 0.5| = 0, though no item is sure
    assert calibration.ece(y, np.array([0.55] * 4)) == pytest.approx(0.05)


def test_a_calibrator_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibrator("magic")
    with pytest.raises(ValueError, match="as many x as y"):
        Calibrator("isotonic", x=(0.0, 1.0), y=(0.5,))
