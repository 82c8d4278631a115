# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import math

import pyro.distributions as dist
import pytest
import torch
from torch.distributions import Bernoulli, Categorical, OneHotCategorical, kl_divergence

from pyro_concrete import (
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)


def _exact_categorical_kl(p, q):
    """Sum over categories, by enumeration."""
    return sum(p[..., k] * (p[..., k].log() - q[..., k].log()) for k in range(p.size(-1)))


@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 3)], ids=str)
def test_categorical_kl(batch_shape):
    p_probs = torch.distributions.Dirichlet(torch.ones(5)).sample(batch_shape)
    q_probs = torch.distributions.Dirichlet(torch.ones(5)).sample(batch_shape)
    p = RelaxedCategoricalConcreteStraightThrough(0.3, probs=p_probs, estimator="straight_through")
    expected = _exact_categorical_kl(p_probs, q_probs)
    for q in [
        OneHotCategorical(probs=q_probs),
        RelaxedCategoricalConcreteStraightThrough(2.0, probs=q_probs, estimator="straight_through"),
    ]:
        kl = kl_divergence(p, q)
        assert kl.shape == batch_shape
        torch.testing.assert_close(kl, expected)
    torch.testing.assert_close(
        expected, kl_divergence(Categorical(probs=p_probs), Categorical(probs=q_probs))
    )


def test_categorical_kl_broadcasts_batch_shapes():
    p = RelaxedCategoricalConcreteStraightThrough(
        0.5, logits=torch.randn(4, 1, 3), estimator="straight_through"
    )
    q = OneHotCategorical(logits=torch.randn(5, 3))
    assert kl_divergence(p, q).shape == (4, 5)


def test_categorical_kl_with_zero_probabilities():
    p_probs = torch.tensor([[0.0, 0.3, 0.7], [0.5, 0.5, 0.0]], requires_grad=True)
    q_probs = torch.tensor([[0.2, 0.3, 0.5], [0.5, 0.0, 0.5]])
    p = RelaxedCategoricalConcreteStraightThrough(0.5, probs=p_probs, estimator="straight_through")
    kl = kl_divergence(
        p,
        RelaxedCategoricalConcreteStraightThrough(0.5, probs=q_probs, estimator="straight_through"),
    )
    expected_first = 0.3 * torch.log(torch.tensor(0.3 / 0.3)) + 0.7 * torch.log(
        torch.tensor(0.7 / 0.5)
    )
    torch.testing.assert_close(kl[0], expected_first)
    assert kl[1] == float("inf")  # q puts zero mass where p does not
    (grad,) = torch.autograd.grad(kl[0], [p_probs])
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("probs", [[0.2, 0.5, 0.9], [0.0, 1.0, 0.4]])
def test_bernoulli_kl(probs):
    p_probs = torch.tensor(probs)
    q_probs = torch.tensor([0.3, 0.6, 0.1])
    p = RelaxedBernoulliConcreteStraightThrough(0.5, probs=p_probs, estimator="straight_through")
    expected = kl_divergence(Bernoulli(probs=p_probs), Bernoulli(probs=q_probs))
    for q in [
        Bernoulli(probs=q_probs),
        RelaxedBernoulliConcreteStraightThrough(1.0, probs=q_probs, estimator="straight_through"),
    ]:
        torch.testing.assert_close(kl_divergence(p, q), expected)


def test_no_kl_for_relaxed_pairs():
    """The KL between two Concrete distributions has no closed form: none is registered."""
    p = RelaxedCategoricalConcrete(0.5, logits=torch.randn(3))
    with pytest.raises(NotImplementedError):
        kl_divergence(p, RelaxedCategoricalConcrete(0.5, logits=torch.randn(3)))
    with pytest.raises(NotImplementedError):
        kl_divergence(
            RelaxedBernoulliConcrete(0.5, logits=torch.randn(3)), Bernoulli(logits=torch.randn(3))
        )


def test_delta_kl_keeps_log_density():
    """AutoGuides' Delta carries the Jacobian in log_density; Pyro's generic rule drops it."""
    q = RelaxedCategoricalConcrete(0.5, logits=torch.randn(3))
    value = q.sample()
    delta = dist.Delta(value, log_density=torch.tensor(1.25), event_dim=1)
    torch.testing.assert_close(kl_divergence(delta, q), 1.25 - q.log_prob(value))
    # Other distributions keep Pyro's rule.
    normal = dist.Normal(0.0, 1.0)
    torch.testing.assert_close(
        kl_divergence(dist.Delta(torch.tensor(0.3), log_density=torch.tensor(1.25)), normal),
        -normal.log_prob(torch.tensor(0.3)),
    )


@pytest.mark.parametrize("given", ["probs", "logits"])
def test_kl_to_a_prior_with_exact_zeros_is_infinite(given):
    """torch's logits of a distribution built from probs are clamped; the divergence is not."""
    q_probs = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    q = (
        OneHotCategorical(probs=q_probs)
        if given == "probs"
        else OneHotCategorical(logits=q_probs.log())
    )
    logits = torch.zeros(2, 3, requires_grad=True)
    p = RelaxedCategoricalConcreteStraightThrough(0.5, logits=logits, estimator="straight_through")
    kl = kl_divergence(p, q)
    assert kl[0] == math.inf
    expected = (p.probs[1] * (p.logits[1] - q_probs[1].log())).sum()
    torch.testing.assert_close(kl[1], expected)
    (grad,) = torch.autograd.grad(kl[1], [logits])
    assert torch.isfinite(grad).all()
    # A guide that rules the impossible category out has a finite divergence.
    masked = RelaxedCategoricalConcreteStraightThrough(
        0.5, probs=torch.tensor([0.3, 0.7, 0.0]), estimator="straight_through"
    )
    assert torch.isfinite(kl_divergence(masked, OneHotCategorical(probs=q_probs[0])))


def test_bernoulli_kl_to_a_certain_prior_is_infinite():
    p = RelaxedBernoulliConcreteStraightThrough(
        0.5, logits=torch.zeros(3), estimator="straight_through"
    )
    q = Bernoulli(probs=torch.tensor([0.0, 1.0, 0.25]))
    kl = kl_divergence(p, q)
    assert kl[0] == math.inf and kl[1] == math.inf
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl[2].item() == pytest.approx(expected)
