# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
Noise for the Gumbel-max and logistic tricks, drawn in the compute dtype.

Every draw is finite: uniform noise lies in ``[tiny, 1)``, so that its logarithm
and logit are finite (``torch.rand`` returns exact zeros about once in ``2**24``
float32 draws, and ``Tensor.exponential_`` exact zeros in float16). Noise is
drawn out of place with ``torch.rand``, so that it is also random per example
under :func:`torch.func.vmap` (``randomness="different"``).
"""

import torch
import torch.nn.functional as F

from pyro_concrete.ops.special import log1mexp

__all__ = [
    "add_logits",
    "conditional_gumbel_noise",
    "conditional_logistic_noise",
    "log_exponential_noise",
    "logistic_noise",
    "uniform_noise",
]


def uniform_noise(shape, dtype: torch.dtype, device) -> torch.Tensor:
    """Uniform noise on ``[tiny, 1)``, where ``tiny`` is the smallest normal number."""
    return torch.rand(shape, dtype=dtype, device=device).clamp_min_(torch.finfo(dtype).tiny)


def log_exponential_noise(shape, dtype: torch.dtype, device) -> torch.Tensor:
    """``log E`` for ``E ~ Exponential(1)``: negated standard Gumbel noise, always finite."""
    return uniform_noise(shape, dtype, device).log_().neg_().log_()


def logistic_noise(shape, dtype: torch.dtype, device) -> torch.Tensor:
    """Standard logistic noise ``log U - log(1 - U)``, finite for every draw."""
    return uniform_noise(shape, dtype, device).logit_()


def add_logits(noise: torch.Tensor, logits: torch.Tensor, *, subtract: bool = False):
    """
    ``noise + logits`` (``noise - logits`` with ``subtract``), written into ``noise``,
    a fresh buffer: one pass and no allocation. Under a :mod:`torch.func` transform
    the result is a new tensor, since ``vmap(randomness="same")`` draws unbatched
    noise that batched logits cannot be written into.
    """
    if torch._C._are_functorch_transforms_active():
        return noise - logits if subtract else noise + logits
    return noise.sub_(logits) if subtract else noise.add_(logits)


def conditional_gumbel_noise(
    logits: torch.Tensor, index: torch.Tensor, num_samples: int
) -> torch.Tensor:
    r"""
    Gumbel noise :math:`G` conditioned on :math:`\arg\max_k (\theta_k + G_k) = i`,
    ``num_samples`` draws, for Gumbel-Rao. With :math:`E_k \sim \mathrm{Exp}(1)`
    and :math:`\log Z = \mathrm{logsumexp}(\theta)`:
    :math:`(\theta + G)_i = \log Z - \log E_i` and, for :math:`j \ne i`,
    :math:`(\theta + G)_j = -\log(E_j e^{-\theta_j} + E_i / Z)`, computed in log space.

    The draws are differentiable in ``logits``: Gumbel-Rao passes detached logits
    (its draws are constants), REBAR live ones (its conditional relaxed sample is a
    function of the logits).

    :param torch.Tensor logits: unnormalised log-probabilities ``(..., K)``.
    :param torch.Tensor index: the sampled categories, of shape ``batch + (1,)``
        where ``batch`` broadcasts with ``logits.shape[:-1]``.
    :param int num_samples: the number of draws, a new leftmost dimension.
    :returns: the noise, of shape ``(num_samples,) + index.shape[:-1] + (K,)``.
    """
    shape = (num_samples,) + index.shape[:-1] + logits.shape[-1:]
    log_exponential = log_exponential_noise(shape, logits.dtype, logits.device)
    index = index.expand(shape[:-1] + (1,))
    log_normalizer = logits.logsumexp(-1, keepdim=True)
    log_exponential_top = log_exponential.gather(-1, index)
    perturbed = -torch.logaddexp(log_exponential - logits, log_exponential_top - log_normalizer)
    perturbed = perturbed.scatter(-1, index, log_normalizer - log_exponential_top)
    # A category ruled out (logit -inf) stays out: its noise is 0, not -inf - (-inf).
    return (perturbed - logits).masked_fill(logits.isinf(), 0.0)


def conditional_logistic_noise(
    logits: torch.Tensor, positive: torch.Tensor, num_samples: int
) -> torch.Tensor:
    r"""
    Logistic noise :math:`L` conditioned on the sign of :math:`\theta + L`, by
    inverting the CDF in log space: with :math:`s = \pm 1` the sign and
    :math:`W \sim \mathrm{Uniform}(0, 1)`,
    :math:`\log \sigma(-s L) = \log \sigma(s \theta) + \log W`. The draws are
    differentiable in ``logits``, as those of :func:`conditional_gumbel_noise`.

    :param torch.Tensor logits: log-odds :math:`\theta`.
    :param torch.Tensor positive: the sampled bits, as booleans.
    :param int num_samples: the number of draws, a new leftmost dimension.
    """
    shape = (num_samples,) + torch.broadcast_shapes(logits.shape, positive.shape)
    sign = positive.to(logits.dtype) * 2 - 1
    log_tail = (
        -F.softplus(-sign * logits) + uniform_noise(shape, logits.dtype, logits.device).log_()
    )
    return sign * (log1mexp(log_tail) - log_tail)
