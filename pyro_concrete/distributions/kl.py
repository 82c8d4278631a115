# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Kullback-Leibler divergences registered for the family.

Straight-through distributions are discrete -- their law is exactly
``OneHotCategorical(probs)`` or ``Bernoulli(probs)`` -- so their KL divergences
to each other and to torch's discrete distributions are the exact categorical
and Bernoulli ones, used by :class:`~pyro.infer.TraceMeanField_ELBO`.

AutoGuides (``AutoNormal`` and friends) emit a ``Delta`` whose ``log_density``
holds the log-Jacobian of the bijection to the support. Pyro's ``(Delta,
Distribution)`` rule drops it; for our relaxed distributions the more specific
rules below keep it, so ``TraceMeanField_ELBO`` agrees with ``Trace_ELBO``.
"""

import math

import torch.nn.functional as F
from pyro.distributions import Delta
from torch.distributions import Bernoulli, OneHotCategorical, register_kl

from pyro_concrete.distributions.relaxed_bernoulli import (
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
)
from pyro_concrete.distributions.relaxed_categorical import (
    ExpRelaxedCategoricalConcrete,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)


def _kl_term(weight, log_a, log_b):
    """
    ``weight * (log_a - log_b)``: 0 where ``weight`` is 0, +inf where ``b`` is 0 but
    ``weight`` is not, with the masked entries kept out of the gradient (a NaN
    from ``0 * inf`` would spread to every entry of the batch).
    """
    zero = weight == 0
    infinite = ~zero & (log_b == -math.inf)
    log_a = log_a.masked_fill(zero, 0.0)
    log_b = log_b.masked_fill(zero | infinite, 0.0)
    return (weight * (log_a - log_b)).masked_fill(infinite, math.inf)


def _given_probs(torch_dist):
    """The ``probs`` a torch distribution was built from, or None if built from logits."""
    probs = torch_dist.__dict__.get("probs")
    return probs if torch_dist._param is probs else None


def _exact_log_probs(q):
    """
    Normalised log-probabilities of a categorical ``q``, ``-inf`` where a probability
    is exactly 0. torch's ``logits`` of a distribution built from ``probs`` clamp the
    probabilities away from 0, which would make an infinite divergence finite.
    """
    if isinstance(q, RelaxedCategoricalConcreteStraightThrough):
        return q.logits
    probs = _given_probs(q._categorical)
    return q.logits if probs is None else q.logits.masked_fill(probs == 0, -math.inf)


def _exact_log_odds(q):
    """Log-odds of a Bernoulli ``q``, ``+-inf`` where a probability is exactly 1 or 0."""
    if isinstance(q, RelaxedBernoulliConcreteStraightThrough):
        return q.logits
    probs = _given_probs(q)
    if probs is None:
        return q.logits
    return q.logits.masked_fill(probs == 0, -math.inf).masked_fill(probs == 1, math.inf)


def _categorical_kl(p_probs, p_logits, q_logits):
    return _kl_term(p_probs, p_logits, q_logits).sum(-1)


def _bernoulli_kl(p_probs, p_logits, q_logits):
    log_p, log_not_p = -F.softplus(-p_logits), -F.softplus(p_logits)
    log_q, log_not_q = -F.softplus(-q_logits), -F.softplus(q_logits)
    return _kl_term(p_probs, log_p, log_q) + _kl_term(1 - p_probs, log_not_p, log_not_q)


@register_kl(RelaxedCategoricalConcreteStraightThrough, RelaxedCategoricalConcreteStraightThrough)
@register_kl(RelaxedCategoricalConcreteStraightThrough, OneHotCategorical)
def _kl_relaxedcategoricalconcretestraightthrough_onehotcategorical(p, q):
    return _categorical_kl(p.probs, p.logits, _exact_log_probs(q))


@register_kl(RelaxedBernoulliConcreteStraightThrough, RelaxedBernoulliConcreteStraightThrough)
@register_kl(RelaxedBernoulliConcreteStraightThrough, Bernoulli)
def _kl_relaxedbernoulliconcretestraightthrough_bernoulli(p, q):
    return _bernoulli_kl(p.probs, p.logits, _exact_log_odds(q))


@register_kl(Delta, ExpRelaxedCategoricalConcrete)
@register_kl(Delta, RelaxedCategoricalConcrete)
@register_kl(Delta, RelaxedBernoulliConcrete)
def _kl_delta_relaxedcategoricalconcrete(p, q):
    return p.log_density - q.log_prob(p.v)


__all__ = []
