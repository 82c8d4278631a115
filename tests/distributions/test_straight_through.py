# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""Straight-through distributions: exact discrete forward values, relaxed gradients."""

import math
import pickle

import pytest
import scipy.stats
import torch
from torch.distributions import OneHotCategorical

from pyro_concrete import (
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.estimators import ESTIMATORS

P_VALUE = 1e-3


@pytest.mark.parametrize("temperature", [1e-3, 0.5, 1e3])
@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str
)
def test_values_are_exact_one_hot(temperature, dtype):
    logits = torch.randn(100, 7).to(dtype).requires_grad_()
    x = RelaxedCategoricalConcreteStraightThrough(
        temperature, logits=logits, estimator="straight_through"
    ).rsample((10,))
    assert x.dtype == dtype
    assert ((x == 0) | (x == 1)).all()
    assert (x.sum(-1) == 1).all()
    bits = RelaxedBernoulliConcreteStraightThrough(
        temperature, logits=logits[:, 0], estimator="straight_through"
    ).rsample((10,))
    assert ((bits == 0) | (bits == 1)).all()


@pytest.mark.parametrize("temperature", [0.01, 1.0, 100.0])
def test_categorical_law(temperature):
    """The forward values are distributed exactly as OneHotCategorical(probs)."""
    probs = torch.tensor([0.05, 0.15, 0.3, 0.5])
    d = RelaxedCategoricalConcreteStraightThrough(
        temperature, probs=probs, estimator="straight_through"
    )
    num_samples = 100000
    counts = d.rsample((num_samples,)).sum(0)
    assert scipy.stats.chisquare(counts.numpy(), (probs * num_samples).numpy()).pvalue > P_VALUE


@pytest.mark.parametrize("temperature", [0.01, 1.0, 100.0])
def test_bernoulli_law(temperature):
    probs = torch.tensor([0.02, 0.3, 0.9])
    d = RelaxedBernoulliConcreteStraightThrough(
        temperature, probs=probs, estimator="straight_through"
    )
    num_samples = 100000
    ones = d.rsample((num_samples,)).sum(0)
    for k in range(3):
        assert scipy.stats.binomtest(int(ones[k]), num_samples, float(probs[k])).pvalue > P_VALUE


@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_categorical_gradient_is_relaxed_gradient(temperature):
    """
    Reference in the test: with the same noise, the straight-through sample is the
    one-hot of the relaxed sample's argmax and has the relaxed sample's gradient.
    """
    logits = torch.randn(50, 6, requires_grad=True)
    tau = torch.tensor(temperature, requires_grad=True)
    upstream = torch.randn(3, 50, 6)

    torch.manual_seed(7)
    hard = RelaxedCategoricalConcreteStraightThrough(
        tau, logits=logits, estimator="straight_through"
    ).rsample((3,))
    hard_grads = torch.autograd.grad((hard * upstream).sum(), [logits, tau])
    torch.manual_seed(7)
    soft = RelaxedCategoricalConcrete(tau, logits=logits).rsample((3,))
    soft_grads = torch.autograd.grad((soft * upstream).sum(), [logits, tau])

    expected = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1)
    assert torch.equal(hard, expected)
    for actual, reference in zip(hard_grads, soft_grads):
        torch.testing.assert_close(actual, reference)


def test_bernoulli_gradient_is_relaxed_gradient():
    logits = torch.randn(50, requires_grad=True)
    tau = torch.tensor(0.7, requires_grad=True)
    upstream = torch.randn(3, 50)

    torch.manual_seed(7)
    hard = RelaxedBernoulliConcreteStraightThrough(
        tau, logits=logits, estimator="straight_through"
    ).rsample((3,))
    hard_grads = torch.autograd.grad((hard * upstream).sum(), [logits, tau])
    torch.manual_seed(7)
    soft = RelaxedBernoulliConcrete(tau, logits=logits).rsample((3,))
    soft_grads = torch.autograd.grad((soft * upstream).sum(), [logits, tau])

    assert torch.equal(hard, (soft > 0.5).to(soft.dtype))
    for actual, reference in zip(hard_grads, soft_grads):
        torch.testing.assert_close(actual, reference)


def test_log_prob_is_categorical_and_differentiable_in_value():
    logits = torch.randn(4, 5)
    d = RelaxedCategoricalConcreteStraightThrough(0.5, logits=logits, estimator="straight_through")
    value = torch.eye(5)[torch.tensor([0, 3, 1, 4])].requires_grad_()
    log_prob = d.log_prob(value)
    expected = torch.distributions.OneHotCategorical(logits=logits).log_prob(value)
    torch.testing.assert_close(log_prob, expected)
    (grad,) = torch.autograd.grad(log_prob.sum(), [value])
    torch.testing.assert_close(grad, d.logits)


def test_log_prob_survives_detach_clone_to_and_pickle():
    """The discrete log_prob needs nothing but the value (unlike Pyro's class)."""
    d = RelaxedCategoricalConcreteStraightThrough(
        1e-3, logits=torch.randn(8, 5).requires_grad_(), estimator="straight_through"
    )
    x = d.rsample()
    expected = d.log_prob(x)
    for value in [
        x.detach(),
        x.clone(),
        x.to(torch.float32),
        x.reshape(4, 2, 5).reshape(8, 5),
        pickle.loads(pickle.dumps(x.detach())),
    ]:
        torch.testing.assert_close(
            d.log_prob(value).to(expected.dtype), expected, check_dtype=False
        )


def test_zero_probabilities():
    """Zero probabilities, as OneHotCategorical allows: never sampled, -inf log_prob, no NaN."""
    probs = torch.tensor([[0.0, 0.4, 0.6], [0.5, 0.0, 0.5]], requires_grad=True)
    tau = torch.tensor(0.5, requires_grad=True)
    d = RelaxedCategoricalConcreteStraightThrough(tau, probs=probs, estimator="straight_through")
    x = d.rsample((1000,))
    assert (x[:, 0, 0] == 0).all() and (x[:, 1, 1] == 0).all()
    log_prob = d.log_prob(x)
    assert torch.isfinite(log_prob).all()
    grads = torch.autograd.grad(log_prob.sum() + (x * torch.randn(x.shape)).sum(), [probs, tau])
    assert all(torch.isfinite(g).all() for g in grads)
    impossible = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert (d.log_prob(impossible) == float("-inf")).all()
    torch.testing.assert_close(
        d.entropy(), torch.distributions.OneHotCategorical(probs=probs).entropy()
    )

    bernoulli_probs = torch.tensor([0.0, 1.0, 0.3])
    b = RelaxedBernoulliConcreteStraightThrough(
        0.5, probs=bernoulli_probs, estimator="straight_through"
    )
    bits = b.rsample((1000,))
    assert (bits[:, 0] == 0).all() and (bits[:, 1] == 1).all()
    assert torch.isfinite(b.log_prob(bits)).all()
    assert (b.log_prob(torch.tensor([1.0, 0.0, 1.0]))[:2] == float("-inf")).all()


def test_moments_and_mode():
    probs = torch.tensor([0.2, 0.5, 0.3])
    d = RelaxedCategoricalConcreteStraightThrough(0.5, probs=probs, estimator="straight_through")
    torch.testing.assert_close(d.mean, probs)
    torch.testing.assert_close(d.variance, probs * (1 - probs))
    assert torch.equal(d.mode, torch.tensor([0.0, 1.0, 0.0]))
    b = RelaxedBernoulliConcreteStraightThrough(
        0.5, probs=torch.tensor([0.2, 0.7]), estimator="straight_through"
    )
    torch.testing.assert_close(b.mean, torch.tensor([0.2, 0.7]))
    assert torch.equal(b.mode, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(
        b.entropy(), torch.distributions.Bernoulli(probs=torch.tensor([0.2, 0.7])).entropy()
    )


@pytest.mark.parametrize("validate_args", [True, False])
def test_minus_inf_logits_rule_categories_out(validate_args):
    """The usual masking trick, as OneHotCategorical accepts it."""
    mask = torch.tensor([[True, False, True, False], [False, False, True, False]])
    raw = torch.randn(2, 4, requires_grad=True)
    temperature = torch.tensor(0.5, requires_grad=True)
    for estimator in ESTIMATORS:
        logits = raw.masked_fill(~mask, -math.inf)
        d = RelaxedCategoricalConcreteStraightThrough(
            # ReinMax passes no gradient to the temperature (a learnable one is an error).
            temperature.detach() if estimator == "reinmax" else temperature,
            logits=logits,
            estimator=estimator,
            validate_args=validate_args,
        )
        x = d.rsample((500,))
        assert (x[..., ~mask] == 0).all()
        log_prob = d.log_prob(x)
        entropy = d.entropy()
        assert torch.isfinite(log_prob).all() and torch.isfinite(entropy).all()
        reference = OneHotCategorical(logits=logits)
        torch.testing.assert_close(log_prob, reference.log_prob(x))
        torch.testing.assert_close(entropy, reference.entropy())
        loss = (x * torch.randn(4)).sum() + log_prob.sum() + entropy.sum()
        grads = torch.autograd.grad(loss, [raw, temperature], allow_unused=True)
        assert all(g is None or torch.isfinite(g).all() for g in grads)
        impossible = torch.zeros(2, 4)
        impossible[:, 1] = 1
        assert (d.log_prob(impossible) == -math.inf).all()


def test_infinite_bernoulli_logits_are_certain_outcomes():
    logits = torch.tensor([-math.inf, math.inf, 0.3], requires_grad=True)
    d = RelaxedBernoulliConcreteStraightThrough(
        torch.tensor(0.5, requires_grad=True), logits=logits, estimator="straight_through"
    )
    x = d.rsample((200,))
    assert (x[:, 0] == 0).all() and (x[:, 1] == 1).all()
    log_prob = d.log_prob(x)
    assert torch.isfinite(log_prob).all() and torch.isfinite(d.entropy()).all()
    (grad,) = torch.autograd.grad(log_prob.sum() + x.sum(), [logits])
    assert torch.isfinite(grad).all()
    assert d.log_prob(torch.tensor([1.0, 0.0, 1.0]))[:2].eq(-math.inf).all()
