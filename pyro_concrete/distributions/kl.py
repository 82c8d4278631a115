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

import torch
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


def _categorical_kl(p_probs, p_logits, q_logits):
    # Terms with p_k == 0 are 0 (no NaN from 0 * log 0, also in the gradient);
    # terms with q_k == 0 < p_k are +inf.
    impossible = p_probs == 0
    p_logits = p_logits.masked_fill(impossible, 0.0)
    q_logits = q_logits.masked_fill(impossible, 0.0)
    return (p_probs * (p_logits - q_logits)).sum(-1)


def _bernoulli_kl(p_probs, p_logits, q_logits):
    log_ratio_one = F.softplus(-q_logits) - F.softplus(-p_logits)
    log_ratio_zero = F.softplus(q_logits) - F.softplus(p_logits)
    term_one = (p_probs * log_ratio_one).masked_fill(p_probs == 0, 0.0)
    term_zero = ((1 - p_probs) * log_ratio_zero).masked_fill(p_probs == 1, 0.0)
    return term_one + term_zero


@register_kl(RelaxedCategoricalConcreteStraightThrough, RelaxedCategoricalConcreteStraightThrough)
@register_kl(RelaxedCategoricalConcreteStraightThrough, OneHotCategorical)
def _kl_relaxedcategoricalconcretestraightthrough_onehotcategorical(p, q):
    return _categorical_kl(p.probs, p.logits, q.logits)


@register_kl(RelaxedBernoulliConcreteStraightThrough, RelaxedBernoulliConcreteStraightThrough)
@register_kl(RelaxedBernoulliConcreteStraightThrough, Bernoulli)
def _kl_relaxedbernoulliconcretestraightthrough_bernoulli(p, q):
    return _bernoulli_kl(p.probs, p.logits, q.logits)


@register_kl(Delta, ExpRelaxedCategoricalConcrete)
@register_kl(Delta, RelaxedCategoricalConcrete)
@register_kl(Delta, RelaxedBernoulliConcrete)
def _kl_delta_relaxedcategoricalconcrete(p, q):
    return p.log_density - q.log_prob(p.v)


__all__ = []
