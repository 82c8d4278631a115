# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import math

import pytest

from pyro_concrete.schedules import ConstantTemperature, CosineDecay, ExponentialDecay, LinearDecay


def test_exponential_decay_jang_et_al():
    """max(0.5, exp(-r t)) recomputed every N steps, r = 3e-5, N = 1000 (Jang et al.'s notebook)."""
    schedule = ExponentialDecay(initial=1.0, rate=3e-5, minimum=0.5, every=1000)
    assert schedule(0) == 1.0
    assert schedule(999) == 1.0  # held until the next update
    assert schedule(1000) == pytest.approx(math.exp(-0.03))
    assert schedule(1999) == pytest.approx(math.exp(-0.03))
    assert schedule(20000) == pytest.approx(math.exp(-0.6))
    assert schedule(30000) == 0.5  # exp(-0.9) < 0.5: clamped at the minimum
    values = [schedule(t) for t in range(0, 50000, 500)]
    assert values == sorted(values, reverse=True)


def test_linear_decay():
    schedule = LinearDecay(initial=1.0, final=0.2, steps=100)
    assert [schedule(t) for t in (0, 50, 100, 1000)] == pytest.approx([1.0, 0.6, 0.2, 0.2])


def test_cosine_decay_dalle():
    schedule = CosineDecay(1.0, 1 / 16, 150_000)
    assert schedule(0) == 1.0
    assert schedule(75_000) == pytest.approx((1 + 1 / 16) / 2)
    assert schedule(150_000) == pytest.approx(1 / 16)
    assert schedule(10**6) == pytest.approx(1 / 16)


def test_constant():
    assert ConstantTemperature(2 / 3)(12345) == pytest.approx(2 / 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="minimum"):
        ExponentialDecay(minimum=0.0)
    with pytest.raises(ValueError, match="every"):
        ExponentialDecay(every=0)
    with pytest.raises(ValueError, match="steps"):
        CosineDecay(1.0, 0.5, steps=0)
    with pytest.raises(ValueError, match="step"):
        LinearDecay()(-1)
    with pytest.raises(ValueError, match="temperature"):
        ConstantTemperature(-1.0)
