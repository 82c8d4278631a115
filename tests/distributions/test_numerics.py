# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Numerics at the extremes: no NaN or infinity in samples, densities and gradients
over the grid of the core issue, accuracy against a float64 evaluation at the same
point, half precision, and the fallback for values that lost their coordinates.
"""

import itertools
import math

import pytest
import torch
from torch.distributions import RelaxedOneHotCategorical

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.ops.carry import LOG, attach
from tests.common import STRAIGHT_THROUGH, ignore_reinmax_temperature_warning

pytestmark = ignore_reinmax_temperature_warning

TEMPERATURES = [1e-3, 1e-2, 0.1, 0.5, 1.0, 10.0, 1e3]
LOGIT_SCALES = [0.0, 1.0, 10.0, 100.0, 1e4]
NUM_CATEGORIES = [2, 10, 1000]
DTYPES = [torch.float32, torch.float64]
CATEGORICAL = [
    RelaxedCategoricalConcrete,
    ExpRelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
]
BERNOULLI = [RelaxedBernoulliConcrete, RelaxedBernoulliConcreteStraightThrough]


def _hint(x):
    """The log coordinates a sample carries (unverified: for checking them here)."""
    return x._pyro_concrete_hint[1]


def _all_finite(*tensors):
    return all(bool(torch.isfinite(t).all()) for t in tensors if t is not None)


def _params(shape, scale, temperature, dtype, generator):
    logits = torch.randn(shape, dtype=torch.float64, generator=generator) * scale
    logits = logits.to(dtype).requires_grad_()
    temperature = torch.tensor(temperature, dtype=dtype, requires_grad=True)
    return logits, temperature


def _grid(num_categories):
    return itertools.product(TEMPERATURES, LOGIT_SCALES, num_categories, DTYPES)


def _failures_own_samples(dist_class, param_shape, **kwargs):
    """Cells of the grid whose samples, log_prob or gradients are not finite."""
    generator = torch.Generator().manual_seed(0)
    reinmax = dist_class in STRAIGHT_THROUGH and kwargs.get("estimator", "reinmax") == "reinmax"
    failures = []
    cells = 0
    for temperature, scale, num_categories, dtype in _grid(NUM_CATEGORIES if param_shape else [1]):
        logits, tau = _params(
            (8,) + (num_categories,) * bool(param_shape), scale, temperature, dtype, generator
        )
        # ReinMax's gradient does not reach the temperature (a learnable one is an error).
        leaves = [logits] if reinmax else [logits, tau]
        d = dist_class(tau.detach() if reinmax else tau, logits=logits, **kwargs)
        x = d.rsample((4,))
        log_prob = d.log_prob(x)
        loss = log_prob.sum() + (x * torch.randn(x.shape, dtype=dtype, generator=generator)).sum()
        grads = torch.autograd.grad(loss, leaves)
        cells += 1
        if not _all_finite(x, log_prob, *grads):
            failures.append((temperature, scale, num_categories, dtype))
    return cells, failures


@pytest.mark.parametrize("dist_class", CATEGORICAL + BERNOULLI, ids=lambda c: c.__name__)
def test_grid_own_samples_finite(dist_class):
    param_shape = (None,) if dist_class in CATEGORICAL else ()
    cells, failures = _failures_own_samples(dist_class, param_shape)
    assert cells == len(TEMPERATURES) * len(LOGIT_SCALES) * len(DTYPES) * (3 if param_shape else 1)
    assert failures == []


@pytest.mark.parametrize("estimator", ["straight_through", "gumbel_rao"])
@pytest.mark.parametrize("dist_class", STRAIGHT_THROUGH, ids=lambda c: c.__name__)
def test_grid_own_samples_finite_with_other_estimators(dist_class, estimator):
    param_shape = (None,) if dist_class in CATEGORICAL else ()
    _, failures = _failures_own_samples(dist_class, param_shape, estimator=estimator)
    assert failures == []


GUIDE_PRIOR_PAIRS = [
    (RelaxedCategoricalConcrete, RelaxedCategoricalConcrete),
    (ExpRelaxedCategoricalConcrete, ExpRelaxedCategoricalConcrete),
    (RelaxedBernoulliConcrete, RelaxedBernoulliConcrete),
]


@pytest.mark.parametrize("guide_class, prior_class", GUIDE_PRIOR_PAIRS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("prior_temperature", [0.01, 2 / 3, 5.0])
def test_grid_guide_to_prior_finite(guide_class, prior_class, prior_temperature):
    """The guide draws, the model's prior scores: Trace_ELBO's pattern."""
    categorical = guide_class is not RelaxedBernoulliConcrete
    generator = torch.Generator().manual_seed(1)
    failures = []
    for temperature, scale, num_categories, dtype in _grid(NUM_CATEGORIES if categorical else [1]):
        if temperature < 0.01:
            continue
        shape = (8, num_categories) if categorical else (8,)
        guide_logits, guide_tau = _params(shape, scale, temperature, dtype, generator)
        prior_logits, prior_tau = _params(shape, scale, prior_temperature, dtype, generator)
        x = guide_class(guide_tau, logits=guide_logits).rsample((4,))
        log_prob = prior_class(prior_tau, logits=prior_logits).log_prob(x)
        grads = torch.autograd.grad(
            log_prob.sum(), [guide_logits, guide_tau, prior_logits, prior_tau]
        )
        if not _all_finite(x, log_prob, *grads):
            failures.append((temperature, scale, num_categories, dtype))
    assert failures == []


def _reference_log_density(logits, temperature, log_value):
    """The Concrete log density on the simplex, in float64, from its closed form."""
    logits, log_value = logits.double(), log_value.double()
    num_categories = logits.size(-1)
    scores = logits - temperature * log_value
    return (
        math.lgamma(num_categories)
        + (num_categories - 1) * math.log(temperature)
        + (scores - log_value).sum(-1)
        - num_categories * scores.logsumexp(-1)
    )


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("num_categories", NUM_CATEGORIES)
def test_float32_log_prob_is_backward_stable(temperature, num_categories):
    """
    float32 ``log_prob`` of our own samples against the float64 closed form at the
    same point. At logits of 1e4 and a temperature of 1e-3 the terms of the sum
    reach 1e7 and cancel, so the error is bounded relative to the magnitude of the
    terms: within 8 units of float32 rounding of it (backward stability).
    """
    eps = torch.finfo(torch.float32).eps
    for scale in LOGIT_SCALES:
        logits = (torch.randn(64, num_categories) * scale).float()
        d = RelaxedCategoricalConcrete(temperature, logits=logits)
        x = d.rsample()
        log_value = _hint(x)
        expected = _reference_log_density(logits, temperature, log_value)
        magnitude = (logits.double().abs() + (temperature + 1) * log_value.double().abs()).sum(-1)
        error = (d.log_prob(x).double() - expected).abs()
        assert (error <= 8 * eps * (1 + magnitude)).all(), (
            scale,
            (error / (1 + magnitude)).max() / eps,
        )


def test_underflowed_samples_are_scored_exactly():
    """
    float32, K = 100, temperature 0.1: many samples have coordinates that underflow
    to exactly 0, where log x is lost. ``log_prob`` uses the carried coordinates and
    matches the float64 closed form; the detached value (coordinates lost) still
    gets a finite fallback.
    """
    logits = torch.randn(1000, 100).float()
    d = RelaxedCategoricalConcrete(0.1, logits=logits)
    x = d.rsample()
    has_zero = (x == 0).any(-1)
    assert has_zero.float().mean() > 0.05
    expected = _reference_log_density(logits, 0.1, _hint(x))
    torch.testing.assert_close(d.log_prob(x).double(), expected, rtol=1e-5, atol=1e-3)
    fallback = d.log_prob(x.detach())
    assert torch.isfinite(fallback).all()
    # Where nothing underflowed, the fallback is the same density.
    torch.testing.assert_close(fallback[~has_zero], d.log_prob(x)[~has_zero], rtol=1e-4, atol=1e-2)


def test_fallback_definition():
    """Without carried coordinates, zero coordinates count as the smallest positive number."""
    d = RelaxedCategoricalConcrete(0.5, logits=torch.zeros(3))
    x = torch.tensor([1.0, 0.0, 0.0], requires_grad=True)
    smallest = torch.finfo(torch.float64).tiny * torch.finfo(torch.float64).eps
    log_value = torch.tensor([0.0, math.log(smallest), math.log(smallest)])
    expected = d.log_prob(attach(x.detach().clone(), LOG, log_value))
    log_prob = d.log_prob(x)
    torch.testing.assert_close(log_prob, expected)
    (grad,) = torch.autograd.grad(log_prob, [x])
    assert torch.isfinite(grad).all()


def test_in_place_change_is_scored_from_the_new_value():
    d = RelaxedCategoricalConcrete(0.5, logits=torch.randn(5, 4))
    x = d.rsample()
    other = d.rsample()
    x.data.copy_(other)  # leaves x's version counter unchanged
    torch.testing.assert_close(d.log_prob(x), d.log_prob(other.clone()))


def test_matches_torch_where_torch_is_finite():
    logits = torch.randn(50, 6) * 2
    temperature = torch.rand(50) + 0.2
    d = RelaxedCategoricalConcrete(temperature, logits=logits)
    x = d.sample((10,))
    expected = torch.stack(
        [
            RelaxedOneHotCategorical(temperature[i], logits=logits[i]).log_prob(x[:, i])
            for i in range(50)
        ],
        -1,
    )
    torch.testing.assert_close(d.log_prob(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dist_class", CATEGORICAL + BERNOULLI, ids=lambda c: c.__name__)
def test_large_num_categories(dist_class):
    shape = (4, 100_000) if dist_class in CATEGORICAL else (4,)
    for temperature, scale in itertools.product([1e-3, 1.0, 1e3], [1.0, 1e4]):
        logits = (torch.randn(shape) * scale).float().requires_grad_()
        d = dist_class(temperature, logits=logits)
        x = d.rsample()
        log_prob = d.log_prob(x)
        (grad,) = torch.autograd.grad(log_prob.sum() + x.sum(), [logits])
        assert _all_finite(x, log_prob, grad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("dist_class", CATEGORICAL + BERNOULLI, ids=lambda c: c.__name__)
def test_half_precision_computes_in_float32(dist_class, dtype):
    """Half-precision parameters: noise drawn and reduced in float32, the result cast."""
    shape = (200, 10) if dist_class in CATEGORICAL else (200,)
    logits = torch.randn(shape).to(dtype)
    for temperature in [1e-2, 0.5, 10.0]:
        torch.manual_seed(0)
        x = dist_class(temperature, logits=logits).rsample((5,))
        torch.manual_seed(0)
        x32 = dist_class(temperature, logits=logits.float()).rsample((5,))
        assert x.dtype == dtype
        # float32 then rounded: the same bits as the float32 computation, cast
        # (saturating at the largest finite half-precision number).
        finfo = torch.finfo(dtype)
        assert torch.equal(x, x32.clamp(finfo.min, finfo.max).to(dtype))
        log_prob = dist_class(temperature, logits=logits).log_prob(x)
        assert log_prob.dtype == dtype
        assert not torch.isnan(log_prob).any()


@pytest.mark.parametrize("dist_class", CATEGORICAL + BERNOULLI, ids=lambda c: c.__name__)
@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16], ids=str)
def test_temperature_tensor_keeps_float32_with_half_parameters(dist_class, half):
    shape = (4, 3) if dist_class in CATEGORICAL else (4,)
    temperature = torch.tensor(0.3, dtype=torch.float32)
    d = dist_class(temperature, logits=torch.randn(shape).to(half))
    assert d.temperature.dtype == torch.float32
    assert d.temperature.unique().item() == temperature.item()  # not rounded to 0.30005
    assert d.dtype == half


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_exp_concrete_at_low_temperature_has_finite_gradients(half):
    logits = torch.randn(16, 10).to(half).requires_grad_()
    temperature = torch.tensor(1e-3, requires_grad=True)
    d = ExpRelaxedCategoricalConcrete(temperature, logits=logits)
    y = d.rsample()
    loss = d.log_prob(y).sum() + (y.float() * torch.randn(16, 10)).sum()
    grads = torch.autograd.grad(loss, [logits, temperature])
    assert all(torch.isfinite(g).all() for g in grads)
