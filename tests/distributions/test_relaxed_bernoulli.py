# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""The binary Concrete distribution against its closed forms and its sampler."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch.distributions import biject_to

from pyro_concrete import RelaxedBernoulliConcrete, RelaxedCategoricalConcrete

P_VALUE = 1e-3


def _closed_form_log_density(logits, temperature, x):
    """tau alpha x^(-tau-1) (1-x)^(-tau-1) / (alpha x^(-tau) + (1-x)^(-tau))^2, in float64."""
    alpha = logits.double().exp()
    x = x.double()
    density = (
        temperature
        * alpha
        * x ** (-temperature - 1)
        * (1 - x) ** (-temperature - 1)
        / (alpha * x ** (-temperature) + (1 - x) ** (-temperature)) ** 2
    )
    return density.log()


@pytest.mark.parametrize("temperature", [0.2, 1.0, 3.0])
def test_log_prob_matches_closed_form(temperature):
    logits = torch.randn(10)
    d = RelaxedBernoulliConcrete(temperature, logits=logits)
    x = d.sample((100,))
    x = x[(x > 1e-6) & (x < 1 - 1e-6)]  # the closed form in x loses precision at the ends
    expected = _closed_form_log_density(
        logits.expand(100, 10)[:, :].reshape(-1)[: len(x)], temperature, x
    )
    d_flat = RelaxedBernoulliConcrete(
        temperature, logits=logits.expand(100, 10).reshape(-1)[: len(x)]
    )
    torch.testing.assert_close(d_flat.log_prob(x), expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_equals_categorical_with_two_categories(temperature):
    logits = torch.randn(20)
    x = RelaxedBernoulliConcrete(temperature, logits=logits).sample((50,))
    categorical = RelaxedCategoricalConcrete(
        temperature, logits=torch.stack([logits, torch.zeros(20)], -1)
    )
    pairs = torch.stack([x, 1 - x], -1)
    keep = (x > 1e-8) & (x < 1 - 1e-8)  # 1 - x must not round to 0
    torch.testing.assert_close(
        RelaxedBernoulliConcrete(temperature, logits=logits).log_prob(x)[keep],
        categorical.log_prob(pairs)[keep],
        rtol=1e-9,
        atol=1e-9,
    )


@pytest.mark.parametrize("temperature", [0.2, 1.0, 3.0])
def test_ks_against_cdf_of_density(temperature):
    logits = torch.tensor(0.6)
    d = RelaxedBernoulliConcrete(temperature, logits=logits)
    samples = d.sample((20000,))
    sample_logits = (samples.log() - (1 - samples).log()).numpy()
    grid = torch.linspace(-60 / temperature, 60 / temperature, 200001)
    # Points of the unit interval that carry their logit (sigmoid rounds to 1 here).
    x = biject_to(d.support)(grid)
    log_abs_det = torch.nn.functional.softplus(grid) + torch.nn.functional.softplus(-grid)
    density = (d.log_prob(x) - log_abs_det).exp()
    cdf = np.concatenate(
        [[0.0], np.cumsum((density[1:] + density[:-1]).numpy() / 2 * np.diff(grid.numpy()))]
    )
    assert abs(cdf[-1] - 1) < 1e-6
    assert np.abs(cdf - torch.sigmoid(temperature * grid - logits).numpy()).max() < 1e-6
    assert (
        scipy.stats.kstest(sample_logits, lambda t: np.interp(t, grid.numpy(), cdf)).pvalue
        > P_VALUE
    )


def test_log_prob_exact_where_sigmoid_rounds():
    """float32 samples that round to exactly 0 or 1 are scored from their carried logit."""
    d = RelaxedBernoulliConcrete(0.01, logits=torch.randn(5000).float())
    x = d.rsample()
    assert ((x == 0) | (x == 1)).float().mean() > 0.5
    d64 = RelaxedBernoulliConcrete(0.01, logits=d.logits.double())
    logit = (x._pyro_concrete_hint[1]).double()
    temperature = 0.01
    scores = d64.logits - temperature * logit
    expected = (
        math.log(temperature)
        + scores
        - 2 * torch.nn.functional.softplus(scores)
        + torch.nn.functional.softplus(logit)
        + torch.nn.functional.softplus(-logit)
    )
    torch.testing.assert_close(d.log_prob(x).double(), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_pathwise_gradient_equals_score_function_gradient(temperature):
    num_samples = 200000
    base_logits = torch.tensor(0.3)

    def leaves():
        return (
            base_logits.expand(num_samples).clone().requires_grad_(),
            torch.full((num_samples,), temperature, requires_grad=True),
        )

    def f(x):
        return torch.sin(3 * x) + x**2

    logits, tau = leaves()
    pathwise = torch.stack(
        torch.autograd.grad(
            f(RelaxedBernoulliConcrete(tau, logits=logits).rsample()).sum(), [logits, tau]
        ),
        -1,
    )
    baseline = f(
        RelaxedBernoulliConcrete(temperature, logits=base_logits).sample((num_samples,))
    ).mean()
    logits, tau = leaves()
    d = RelaxedBernoulliConcrete(tau, logits=logits)
    x = d.sample()
    score = torch.stack(
        torch.autograd.grad(((f(x) - baseline) * d.log_prob(x)).sum(), [logits, tau]), -1
    )
    z = (pathwise.mean(0) - score.mean(0)) / (
        pathwise.var(0) / num_samples + score.var(0) / num_samples
    ).sqrt()
    assert z.abs().max() < 4.5, z


def test_importance_identity_through_biject_to():
    d = RelaxedBernoulliConcrete(0.4, logits=torch.tensor(0.5))
    transform = biject_to(d.support)
    pilot = transform.inv(d.sample((20000,)))
    proposal = torch.distributions.Normal(pilot.mean(), 0.9 * pilot.std())
    x = d.sample((100000,))
    z = transform.inv(x)
    ratio = (
        proposal.log_prob(z) - transform.log_abs_det_jacobian(z, transform(z)) - d.log_prob(x)
    ).exp()
    standard_error = ratio.std() / math.sqrt(len(ratio))
    assert abs(ratio.mean() - 1) < 4.5 * standard_error
    assert standard_error < 0.01
