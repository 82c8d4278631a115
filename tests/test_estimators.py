# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""Straight-through, Gumbel-Rao and ReinMax: forward laws, gradients, variances."""

import math
import warnings

import pytest
import scipy.stats
import torch

from pyro_concrete import (
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.estimators import (
    ESTIMATORS,
    conditional_gumbel_noise,
    conditional_logistic_noise,
)
from pyro_concrete.examples import gradient_estimators
from pyro_concrete.functional import gumbel_softmax

P_VALUE = 1e-3


def _temperature(estimator):
    return 1.5 if estimator == "reinmax" else 0.5


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_categorical_forward_law(estimator):
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    logits = probs.log().expand(50000, 4).clone().requires_grad_()
    d = RelaxedCategoricalConcreteStraightThrough(
        _temperature(estimator), logits=logits, estimator=estimator
    )
    x = d.rsample()
    assert x.requires_grad
    assert ((x == 0) | (x == 1)).all() and (x.sum(-1) == 1).all()
    counts = x.detach().sum(0)
    assert scipy.stats.chisquare(counts.numpy(), (probs * 50000).numpy()).pvalue > P_VALUE


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_bernoulli_forward_law(estimator):
    logits = torch.tensor(0.7).expand(50000).clone().requires_grad_()
    d = RelaxedBernoulliConcreteStraightThrough(
        _temperature(estimator), logits=logits, estimator=estimator
    )
    x = d.rsample()
    assert ((x == 0) | (x == 1)).all()
    assert (
        scipy.stats.binomtest(int(x.sum()), 50000, float(torch.sigmoid(torch.tensor(0.7)))).pvalue
        > P_VALUE
    )


def test_conditional_gumbel_noise():
    """
    Conditioned on the argmax i, the perturbed logits have their maximum at i;
    mixed over i ~ Categorical(softmax(logits)), they are independent Gumbels
    with locations logits (KS test on each coordinate).
    """
    logits = torch.tensor([0.5, -1.0, 0.2])
    index = torch.distributions.Categorical(logits=logits).sample((20000,)).unsqueeze(-1)
    noise = conditional_gumbel_noise(logits, index, 1)[0]
    perturbed = logits + noise
    assert torch.equal(perturbed.argmax(-1, keepdim=True), index)
    for k in range(3):
        result = scipy.stats.kstest(noise[:, k].numpy(), scipy.stats.gumbel_r.cdf)
        assert result.pvalue > P_VALUE


def test_conditional_logistic_noise():
    logits = torch.tensor([0.5, -2.0])
    positive = torch.distributions.Bernoulli(logits=logits).sample((20000,)).bool()
    noise = conditional_logistic_noise(logits, positive, 1)[0]
    assert torch.equal((logits + noise) > 0, positive)
    for k in range(2):
        assert scipy.stats.kstest(noise[:, k].numpy(), scipy.stats.logistic.cdf).pvalue > P_VALUE


@pytest.mark.parametrize("temperature", [0.3, 1.0])
def test_straight_through_matches_reference(temperature):
    """ST-GS: the one-hot of the relaxed sample's argmax, with its gradient (same noise)."""
    logits = torch.randn(20, 5, requires_grad=True)
    upstream = torch.randn(20, 5)
    torch.manual_seed(3)
    hard = RelaxedCategoricalConcreteStraightThrough(
        temperature, logits=logits, estimator="straight_through"
    ).rsample()
    (grad,) = torch.autograd.grad((hard * upstream).sum(), [logits])
    torch.manual_seed(3)
    scores = (
        logits + -torch.empty(20, 5).uniform_(torch.finfo().tiny, 1).log().neg().log()
    ) / temperature
    soft = scores.softmax(-1)
    (expected,) = torch.autograd.grad((soft * upstream).sum(), [logits])
    assert torch.equal(hard, torch.zeros(20, 5).scatter_(-1, scores.argmax(-1, keepdim=True), 1))
    torch.testing.assert_close(grad, expected)


def _per_sample_gradients(estimator, temperature, num_samples, logits, weights, rao_samples=10):
    """Gradients of f(D) = (D . weights)^2 w.r.t. one copy of the logits per sample."""
    leaves = logits.expand(num_samples, -1).clone().requires_grad_()
    d = RelaxedCategoricalConcreteStraightThrough(
        temperature, logits=leaves, estimator=estimator, rao_samples=rao_samples
    )
    value = d.rsample()
    (grads,) = torch.autograd.grad(((value * weights).sum(-1) ** 2).sum(), [leaves])
    return value.detach(), grads


@pytest.mark.parametrize("temperature", [0.5, 1.0])
def test_gumbel_rao_same_mean_lower_variance(temperature):
    """
    Gumbel-Rao is the conditional expectation of ST-GS given the sample: the same
    expected gradient (z-test, 4.5 standard errors per component) and a strictly
    lower variance (the total variance ratio is below 0.9; its sampling error at
    this size is under 2%).
    """
    logits = torch.tensor([0.4, -0.3, 0.1, -0.8])
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0])
    num_samples = 100000
    _, straight_through = _per_sample_gradients(
        "straight_through", temperature, num_samples, logits, weights
    )
    _, gumbel_rao = _per_sample_gradients("gumbel_rao", temperature, num_samples, logits, weights)
    difference = straight_through.mean(0) - gumbel_rao.mean(0)
    standard_error = ((straight_through.var(0) + gumbel_rao.var(0)) / num_samples).sqrt()
    assert (difference.abs() < 4.5 * standard_error).all()
    assert gumbel_rao.var(0).sum() < 0.9 * straight_through.var(0).sum()


def test_gumbel_rao_variance_decreases_with_rao_samples():
    logits = torch.tensor([0.4, -0.3, 0.1, -0.8])
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0])
    variances = [
        _per_sample_gradients("gumbel_rao", 0.5, 50000, logits, weights, rao_samples=m)[1]
        .var(0)
        .sum()
        for m in (1, 10, 100)
    ]
    assert variances[0] > variances[1] > variances[2]


def _reinmax_formula(logits, temperature, one_hot, upstream):
    """The published backward formula, written out in the test."""
    probs = logits.softmax(-1)
    shifted = 0.5 * ((logits / temperature).softmax(-1) + one_hot)

    def vjp(p, v):
        return p * v - p * (p * v).sum(-1, keepdim=True)

    return 2 * vjp(shifted, upstream) - 0.5 * vjp(probs, upstream)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_reinmax_gradient_matches_formula(temperature):
    """Per sample, and in expectation against the formula averaged exactly over D."""
    logits = torch.tensor([0.4, -0.3, 0.1, -0.8])
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0])
    num_samples = 100000
    values, grads = _per_sample_gradients("reinmax", temperature, num_samples, logits, weights)
    upstream = 2 * (values * weights).sum(-1, keepdim=True) * weights
    torch.testing.assert_close(grads, _reinmax_formula(logits, temperature, values, upstream))

    eye = torch.eye(4)
    exact = sum(
        logits.softmax(-1)[k]
        * _reinmax_formula(logits, temperature, eye[k], 2 * weights[k] * weights)
        for k in range(4)
    )
    z = (grads.mean(0) - exact) / (grads.var(0) / num_samples).sqrt()
    assert z.abs().max() < 4.5


@pytest.mark.parametrize(
    "make",
    [
        lambda tau, logits: RelaxedCategoricalConcreteStraightThrough(tau, logits=logits).rsample(),
        lambda tau, logits: RelaxedBernoulliConcreteStraightThrough(tau, logits=logits).rsample(),
        lambda tau, logits: gumbel_softmax(logits, tau, hard=True, estimator="reinmax"),
    ],
    ids=["categorical", "bernoulli", "functional"],
)
def test_reinmax_with_a_learnable_temperature_is_an_error(make):
    # ReinMax's gradient never reaches the temperature: learning it would silently fail.
    logits = torch.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="passes no gradient to the temperature.*learn"):
        make(torch.tensor(1.5, requires_grad=True), logits)
    value = make(torch.tensor(1.5), logits)
    (grad,) = torch.autograd.grad((value * torch.randn(3)).sum(), [logits])
    assert grad.abs().sum() > 0


def test_reinmax_warning_names_the_callers_line_once_per_loop():
    # An annealing loop below 1 warns once (the default filter), at the user's line,
    # not inside Pyro's metaclass.
    logits = torch.zeros(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for temperature in (0.9, 0.8, 0.7):
            RelaxedCategoricalConcreteStraightThrough(temperature, logits=logits)
    assert len(caught) == 1
    assert caught[0].filename == __file__
    assert "pass estimator='straight_through' or 'gumbel_rao'" in str(caught[0].message)


@pytest.mark.parametrize("estimator", ["gumbel_rao", "reinmax"])
def test_bernoulli_estimators_match_categorical_with_two_categories(estimator):
    """
    A bit b is the one-hot (b, 1 - b) of logits (theta, 0): the Bernoulli
    estimators' expected gradients equal the categorical ones (z-test).
    """
    temperature = _temperature(estimator)
    num_samples = 100000
    theta = torch.tensor(0.6)
    weight = 1.7

    bits_leaves = theta.expand(num_samples).clone().requires_grad_()
    bits = RelaxedBernoulliConcreteStraightThrough(
        temperature, logits=bits_leaves, estimator=estimator
    ).rsample()
    (bernoulli,) = torch.autograd.grad(((weight * bits - 0.4) ** 2).sum(), [bits_leaves])

    pair_leaves = theta.expand(num_samples).clone().requires_grad_()
    logits = torch.stack([pair_leaves, torch.zeros(num_samples)], -1)
    pairs = RelaxedCategoricalConcreteStraightThrough(
        temperature, logits=logits, estimator=estimator
    ).rsample()
    (categorical,) = torch.autograd.grad(((weight * pairs[:, 0] - 0.4) ** 2).sum(), [pair_leaves])

    z = (bernoulli.mean() - categorical.mean()) / (
        (bernoulli.var() + categorical.var()) / num_samples
    ).sqrt()
    assert abs(z) < 4.5


def test_bernoulli_straight_through_matches_reference():
    logits = torch.randn(30, requires_grad=True)
    torch.manual_seed(5)
    bits = RelaxedBernoulliConcreteStraightThrough(
        0.4, logits=logits, estimator="straight_through"
    ).rsample()
    (grad,) = torch.autograd.grad(bits.sum(), [logits])
    torch.manual_seed(5)
    soft = RelaxedBernoulliConcrete(0.4, logits=logits).rsample()
    (expected,) = torch.autograd.grad(soft.sum(), [logits])
    torch.testing.assert_close(grad, expected)


def test_bad_estimator_arguments():
    with pytest.raises(
        ValueError, match="estimator must be one of 'straight_through', 'gumbel_rao', 'reinmax'"
    ):
        RelaxedCategoricalConcreteStraightThrough(0.5, logits=torch.zeros(3), estimator="rao")
    with pytest.raises(ValueError, match="rao_samples"):
        RelaxedCategoricalConcreteStraightThrough(
            0.5, logits=torch.zeros(3), estimator="gumbel_rao", rao_samples=0
        )
    with pytest.raises(TypeError, match="rao_samples"):
        RelaxedCategoricalConcreteStraightThrough(
            0.5, logits=torch.zeros(3), estimator="gumbel_rao", rao_samples=2.5
        )


def test_estimator_survives_expand():
    d = RelaxedCategoricalConcreteStraightThrough(
        0.5, logits=torch.zeros(3), estimator="gumbel_rao", rao_samples=3
    )
    expanded = d.expand((4,))
    assert expanded.estimator == "gumbel_rao" and expanded.rao_samples == 3


def test_bias_variance_table():
    """
    The tutorials' script: the score function is unbiased, ReinMax is unbiased for
    a quadratic objective at temperature 1, and Gumbel-Rao has less variance than ST-GS.
    """
    rows = {
        (estimator, temperature): (bias, error, std)
        for estimator, temperature, bias, error, std in gradient_estimators.table(
            temperatures=(0.5, 1.0), num_samples=20000
        )
    }
    assert len(rows) == 9  # ReinMax only at temperature >= 1
    for temperature in (0.5, 1.0):
        bias, error, _ = rows["score_function", temperature]
        assert bias < 4.5 * error * math.sqrt(5)  # the norm of a 5-dimensional error
        assert rows["gumbel_rao", temperature][2] < rows["straight_through", temperature][2]
    bias, error, _ = rows["reinmax", 1.0]  # exact for a quadratic objective at temperature 1
    assert bias < 4.5 * error * math.sqrt(5)
    assert gradient_estimators.main(["--num-samples", "200"]) == 0


def test_relaxed_reference_for_exp_relaxed_temperature_gradient():
    """The relaxed sample's temperature gradient is finite (used by ST-GS)."""
    tau = torch.tensor(0.3, requires_grad=True)
    x = RelaxedCategoricalConcrete(tau, logits=torch.randn(5)).rsample((10,))
    (grad,) = torch.autograd.grad((x**2).sum(), [tau])
    assert torch.isfinite(grad)
