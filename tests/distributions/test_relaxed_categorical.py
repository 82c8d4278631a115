# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The categorical Concrete distributions: sampler against density (KS test,
quadrature, the rounding property, pathwise against score-function gradients),
the closed forms, and the properties of the papers.
"""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch
from torch.distributions import biject_to

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from tests.common import ignore_reinmax_temperature_warning

pytestmark = ignore_reinmax_temperature_warning

# A fixed seed makes each statistical test deterministic; thresholds are chosen
# so that a correct sampler fails a test with probability about 1e-3 or less.
P_VALUE = 1e-3


def _product_form_density(logits, temperature, x):
    """The density as printed in Maddison et al., evaluated with products in float64."""
    alpha = logits.double().exp()
    x = x.double()
    num_categories = x.size(-1)
    terms = alpha * x ** (-temperature - 1) / (alpha * x ** (-temperature)).sum(-1, keepdim=True)
    return math.factorial(num_categories - 1) * temperature ** (num_categories - 1) * terms.prod(-1)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("num_categories", [2, 3, 6])
def test_log_prob_matches_product_form(temperature, num_categories):
    logits = torch.randn(num_categories)
    d = RelaxedCategoricalConcrete(temperature, logits=logits)
    x = d.sample((200,))
    expected = _product_form_density(logits, temperature, x).log()
    torch.testing.assert_close(d.log_prob(x), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_exp_relaxed_relation(temperature):
    """``E.log_prob(y) == R.log_prob(exp(y)) + sum(y)`` to float64 rounding."""
    logits = torch.randn(4, 5)
    y = ExpRelaxedCategoricalConcrete(temperature, logits=logits).sample((100,))
    assert (y.exp() > 0).all()
    expected = RelaxedCategoricalConcrete(temperature, logits=logits).log_prob(y.exp()) + y.sum(-1)
    actual = ExpRelaxedCategoricalConcrete(temperature, logits=logits).log_prob(y)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("temperature", [0.2, 1.0, 3.0])
def test_ks_two_categories(temperature):
    """
    K = 2: the first coordinate's samples against the CDF of ``log_prob``, computed
    by quadrature in logit space (where the density is smooth), then checked
    against the logistic closed form.
    """
    logits = torch.tensor([0.7, -0.4])
    d = RelaxedCategoricalConcrete(temperature, logits=logits)
    samples = d.sample((20000,))
    sample_logits = (samples[:, 0].log() - samples[:, 1].log()).numpy()

    # Density of l = logit(x_1) is p(x) * x_1 * x_2.
    grid = torch.linspace(-60 / temperature, 60 / temperature, 200001)
    x = torch.stack([grid.sigmoid(), (-grid).sigmoid()], -1)
    density = (d.log_prob(x) + x.log().sum(-1)).exp().numpy()
    cdf = scipy.integrate.cumulative_trapezoid(density, grid.numpy(), initial=0.0)
    assert abs(cdf[-1] - 1) < 1e-6
    closed_form = torch.sigmoid(temperature * grid - (logits[0] - logits[1])).numpy()
    assert np.abs(cdf - closed_form).max() < 1e-6

    result = scipy.stats.kstest(sample_logits, lambda t: np.interp(t, grid.numpy(), cdf))
    assert result.pvalue > P_VALUE


@pytest.mark.parametrize(
    "dist_class",
    [
        RelaxedCategoricalConcrete,
        ExpRelaxedCategoricalConcrete,
        RelaxedCategoricalConcreteStraightThrough,
    ],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("temperature", [0.05, 1.0, 5.0])
@pytest.mark.parametrize("num_categories", [3, 10])
def test_rounding_property(dist_class, temperature, num_categories):
    """``P(argmax_k x_k = k) = probs_k`` at every temperature (chi-square test)."""
    probs = torch.distributions.Dirichlet(torch.full((num_categories,), 2.0)).sample()
    d = dist_class(temperature, probs=probs)
    num_samples = 50000
    counts = torch.bincount(d.sample((num_samples,)).argmax(-1), minlength=num_categories)
    result = scipy.stats.chisquare(counts.numpy(), (probs * num_samples).numpy())
    assert result.pvalue > P_VALUE


def _integrate_over_alr(log_density_of_z, num_categories, temperature):
    """
    Integrates exp(log_density) over additive-log-ratio coordinates z in R^(K-1),
    by the trapezoidal rule in u = temperature * z, where the integrand's tails
    are logistic, exp(-|u|): on [-60, 60] the truncation error is below 1e-20 and
    the rule converges exponentially for such smooth integrands.
    """
    u = torch.linspace(-60, 60, 2001)
    grids = torch.meshgrid(*[u] * (num_categories - 1), indexing="ij")
    z = torch.stack(grids, -1) / temperature
    values = log_density_of_z(z).exp() / temperature ** (num_categories - 1)
    for _ in range(num_categories - 1):
        values = torch.trapezoid(values, u, dim=0)
    return float(values)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.0])
@pytest.mark.parametrize("num_categories", [2, 3])
def test_density_integrates_to_one(temperature, num_categories):
    logits = torch.tensor([0.5, -0.3, 0.1][:num_categories])
    relaxed = RelaxedCategoricalConcrete(temperature, logits=logits)
    exp_relaxed = ExpRelaxedCategoricalConcrete(temperature, logits=logits)

    def log_simplex_point(z):
        return torch.nn.functional.pad(z, (0, 1)).log_softmax(-1)

    # The Concrete density on x_{1:K-1}, times |det dx/dz| = prod_k x_k.
    def relaxed_log_density(z):
        y = log_simplex_point(z)
        return relaxed.log_prob(y.exp()) + y.sum(-1)

    # The ExpConcrete density is defined in the z chart itself.
    def exp_relaxed_log_density(z):
        return exp_relaxed.log_prob(log_simplex_point(z))

    assert abs(_integrate_over_alr(relaxed_log_density, num_categories, temperature) - 1) < 1e-8
    assert abs(_integrate_over_alr(exp_relaxed_log_density, num_categories, temperature) - 1) < 1e-8


def _test_function(x):
    weights = torch.tensor([1.0, -2.0, 0.5])[: x.size(-1)]
    return (weights * x**2).sum(-1) + torch.sin(3 * x[..., 0])


def _z_scores(per_sample_a, per_sample_b):
    """z-scores of the difference of the means of two independent samples (rows)."""
    n_a, n_b = per_sample_a.shape[0], per_sample_b.shape[0]
    difference = per_sample_a.mean(0) - per_sample_b.mean(0)
    std_error = (per_sample_a.var(0) / n_a + per_sample_b.var(0) / n_b).sqrt()
    return difference / std_error


@pytest.mark.parametrize(
    "dist_class",
    [RelaxedCategoricalConcrete, ExpRelaxedCategoricalConcrete],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_pathwise_gradient_equals_score_function_gradient(dist_class, temperature):
    """
    d/d(logits, temperature) E[f(x)]: the reparameterised (pathwise) estimator and
    the score-function estimator, which uses ``log_prob``, agree in expectation.
    A sharp test that sampler and density agree, including in the temperature.
    Per-sample gradients come from one leaf per sample; agreement within 4.5
    standard errors for each of the 4 components.
    """
    transform = torch.exp if dist_class is ExpRelaxedCategoricalConcrete else (lambda x: x)
    base_logits = torch.tensor([0.3, -0.5, 0.2])
    num_samples = 200000

    def leaves():
        logits = base_logits.expand(num_samples, 3).clone().requires_grad_()
        tau = torch.full((num_samples,), temperature, requires_grad=True)
        return logits, tau

    logits, tau = leaves()
    f = _test_function(transform(dist_class(tau, logits=logits).rsample()))
    pathwise = torch.cat(
        [g.reshape(num_samples, -1) for g in torch.autograd.grad(f.sum(), [logits, tau])], -1
    )

    baseline = _test_function(
        transform(dist_class(temperature, logits=base_logits).sample((num_samples,)))
    ).mean()
    logits, tau = leaves()
    d = dist_class(tau, logits=logits)
    x = d.sample()
    surrogate = (_test_function(transform(x)) - baseline) * d.log_prob(x)
    score = torch.cat(
        [g.reshape(num_samples, -1) for g in torch.autograd.grad(surrogate.sum(), [logits, tau])],
        -1,
    )

    # Logit gradients sum to zero (shift invariance); compare the first two and tau.
    keep = [0, 1, 3]
    z = _z_scores(pathwise[:, keep], score[:, keep])
    assert z.abs().max() < 4.5, z


@pytest.mark.parametrize(
    "dist_class",
    [RelaxedCategoricalConcrete, ExpRelaxedCategoricalConcrete],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("temperature", [0.3, 1.0])
def test_importance_identity_through_biject_to(dist_class, temperature):
    """
    ``E_p[r(x) / p(x)] = 1`` for r a Normal on the unconstrained space pushed
    through ``biject_to(support)``: the registered bijection's Jacobian is in the
    chart of ``log_prob``. The Normal is fitted to a pilot sample (and narrowed,
    so that r/p stays bounded) to keep the ratio's variance small; agreement within
    4.5 standard errors. A Jacobian in another chart shifts the mean by orders of
    magnitude.
    """
    d = dist_class(temperature, logits=torch.tensor([0.4, -0.6, 0.1, 0.0]))
    transform = biject_to(d.support)
    pilot = transform.inv(d.sample((20000,)))
    proposal = torch.distributions.MultivariateNormal(pilot.mean(0), 0.8 * torch.cov(pilot.T))

    x = d.sample((100000,))
    z = transform.inv(x)
    log_r = proposal.log_prob(z) - transform.log_abs_det_jacobian(z, transform(z))
    ratio = (log_r - d.log_prob(x)).exp()
    assert abs(ratio.mean() - 1) < 4.5 * ratio.std() / math.sqrt(len(ratio))
    assert ratio.std() / math.sqrt(len(ratio)) < 0.01  # the test has power


def test_zero_temperature_limit():
    """
    As the temperature goes to 0, samples approach one-hot vectors: the mean
    distance to the nearest vertex, 1 - max_k x_k, decreases to 0, and at
    temperature 1e-3 almost every sample is within 1e-3 of a vertex.
    """
    logits = torch.randn(5)
    distances = []
    for temperature in [1.0, 0.1, 0.01, 0.001]:
        x = RelaxedCategoricalConcrete(temperature, logits=logits).sample((4000,))
        distances.append(1 - x.max(-1).values)
    means = [float(distance.mean()) for distance in distances]
    assert means == sorted(means, reverse=True)
    assert means[-1] < 1e-3
    assert (distances[-1] < 1e-3).float().mean() > 0.99


@pytest.mark.parametrize("num_categories", [2, 3, 5])
def test_log_convex_at_low_temperature(num_categories):
    """
    For temperature <= 1/(K-1) the density is log-convex: its second differences
    along random segments inside the simplex are non-negative. Above that
    temperature (at temperature 1 for K >= 3, 2 for K = 2) interior modes appear,
    with negative second differences.
    """
    logits = torch.randn(num_categories)
    points = torch.distributions.Dirichlet(torch.full((num_categories,), 3.0)).sample((2000,))
    direction = torch.randn(2000, num_categories)
    direction = direction - direction.mean(-1, keepdim=True)
    step = 1e-3 * points.min(-1, keepdim=True).values / direction.abs().max(-1, keepdim=True).values

    def second_differences(temperature):
        d = RelaxedCategoricalConcrete(temperature, logits=logits)
        lp = [d.log_prob(points + k * step * direction) for k in (-1, 0, 1)]
        return lp[0] - 2 * lp[1] + lp[2]

    assert (second_differences(1 / (num_categories - 1)) >= -1e-9).all()
    assert (second_differences(2.0) < 0).any()
