# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
Gradient estimators for straight-through samples.

All three share the forward value -- an exact one-hot vector (or 0/1 bit) drawn
by the Gumbel-max trick, distributed exactly as ``Categorical(softmax(logits))``
-- and differ in the gradient they pass backward:

- ``"straight_through"``: straight-through Gumbel-Softmax [1], the gradient of
  the relaxed sample :math:`\mathrm{softmax}((\theta + G) / \tau)`.
- ``"gumbel_rao"``: Gumbel-Rao [2], the straight-through gradient averaged over
  ``rao_samples`` draws of the Gumbel noise conditioned on the sampled category.
  The conditional draws are constants (no gradient flows through them), so the
  estimator is a Monte Carlo estimate of the conditional expectation of the
  straight-through gradient given the sample: the same mean, and less variance.
- ``"reinmax"``: ReinMax [3], a second-order accurate estimator. With
  :math:`\pi = \mathrm{softmax}(\theta)`,
  :math:`\pi_1 = (\mathrm{softmax}(\theta / \tau) + D) / 2`,
  :math:`J(p)^\top v = p \odot v - p\,(p^\top v)` and upstream gradient :math:`g`,

  .. math::

      \nabla_\theta = 2 J(\pi_1)^\top g - \tfrac{1}{2} J(\pi)^\top g .

  The temperature is ReinMax's hyperparameter: it receives no gradient, and the
  paper requires :math:`\tau \ge 1`.

**References**

[1] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization with
    Gumbel-Softmax. ICLR.
[2] Max B. Paulus, Chris J. Maddison, Andreas Krause (2021). Rao-Blackwellizing
    the Straight-Through Gumbel-Softmax Gradient Estimator. ICLR.
[3] Liyuan Liu, Chengyu Dong, Xiaodong Liu, Bin Yu, Jianfeng Gao (2023). Bridging
    Discrete and Backpropagation: Straight-Through and Beyond. NeurIPS.
"""

import math
from numbers import Integral

import torch
import torch.nn.functional as F

from pyro_concrete.distributions.util import log_exponential_noise, softmax, uniform_noise

__all__ = [
    "ESTIMATORS",
    "check_estimator",
    "conditional_gumbel_noise",
    "conditional_logistic_noise",
    "reinmax_binary",
    "reinmax_one_hot",
]

#: Names of the gradient estimators of straight-through samples.
ESTIMATORS = ("straight_through", "gumbel_rao", "reinmax")


def check_estimator(estimator: str, rao_samples: int) -> None:
    """Raises a ``ValueError`` for an unknown estimator or a bad ``rao_samples``."""
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"estimator must be one of {', '.join(map(repr, ESTIMATORS))}; got {estimator!r}."
        )
    if not isinstance(rao_samples, Integral) or isinstance(rao_samples, bool) or rao_samples < 1:
        raise ValueError(f"rao_samples must be a positive integer, got {rao_samples!r}.")


def check_reinmax_temperature(temperature, validate: bool) -> None:
    """ReinMax requires temperature >= 1 (Liu et al., 2023)."""
    if isinstance(temperature, torch.Tensor):
        if not validate or not temperature.numel():
            return
        low = float(temperature.detach().amin())
    else:
        low = temperature
    if not low >= 1:
        raise ValueError(
            f"temperature must be at least 1 for estimator='reinmax' (the ReinMax paper "
            f"requires it), got {low:g}. Use 'straight_through' or 'gumbel_rao' below 1."
        )


def conditional_gumbel_noise(
    logits: torch.Tensor, index: torch.Tensor, num_samples: int
) -> torch.Tensor:
    r"""
    Gumbel noise :math:`G` conditioned on :math:`\arg\max_k (\theta_k + G_k) = i`,
    ``num_samples`` draws, for Gumbel-Rao. With :math:`E_k \sim \mathrm{Exp}(1)`
    and :math:`\log Z = \mathrm{logsumexp}(\theta)`:
    :math:`(\theta + G)_i = \log Z - \log E_i` and, for :math:`j \ne i`,
    :math:`(\theta + G)_j = -\log(E_j e^{-\theta_j} + E_i / Z)`, computed in log space.

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
    return perturbed - logits


def _log1mexp(a):
    """log(1 - exp(a)) for a < 0, accurate on both sides of -log 2."""
    return torch.where(a > -math.log(2), torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))


def conditional_logistic_noise(
    logits: torch.Tensor, positive: torch.Tensor, num_samples: int
) -> torch.Tensor:
    r"""
    Logistic noise :math:`L` conditioned on the sign of :math:`\theta + L`, by
    inverting the CDF in log space: with :math:`s = \pm 1` the sign and
    :math:`W \sim \mathrm{Uniform}(0, 1)`,
    :math:`\log \sigma(-s L) = \log \sigma(s \theta) + \log W`.

    :param torch.Tensor logits: log-odds :math:`\theta`.
    :param torch.Tensor positive: the sampled bits, as booleans.
    :param int num_samples: the number of draws, a new leftmost dimension.
    """
    shape = (num_samples,) + torch.broadcast_shapes(logits.shape, positive.shape)
    sign = positive.to(logits.dtype) * 2 - 1
    log_tail = (
        -F.softplus(-sign * logits) + uniform_noise(shape, logits.dtype, logits.device).log_()
    )
    return sign * (_log1mexp(log_tail) - log_tail)


def _softmax_vjp(probs, grad):
    """J(p)^T v = p * v - p * (p^T v) for the softmax Jacobian J(p)."""
    product = probs * grad
    return product - probs * product.sum(-1, keepdim=True)


class _ReinMaxOneHot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, index, logits, temperature):
        one_hot = torch.zeros_like(logits).scatter_(-1, index, 1)
        ctx.save_for_backward(one_hot, logits)
        ctx.temperature = temperature
        return one_hot

    @staticmethod
    def backward(ctx, grad):
        one_hot, logits = ctx.saved_tensors
        probs = softmax(logits)
        shifted_probs = 0.5 * (softmax(logits / ctx.temperature) + one_hot)
        grad_logits = 2 * _softmax_vjp(shifted_probs, grad) - 0.5 * _softmax_vjp(probs, grad)
        return None, grad_logits, None


class _ReinMaxBinary(torch.autograd.Function):
    @staticmethod
    def forward(ctx, positive, logits, temperature):
        value = positive.to(logits.dtype)
        ctx.save_for_backward(value, logits)
        ctx.temperature = temperature
        return value

    @staticmethod
    def backward(ctx, grad):
        value, logits = ctx.saved_tensors
        probs = logits.sigmoid()
        shifted_probs = 0.5 * ((logits / ctx.temperature).sigmoid() + value)
        grad_logits = grad * (2 * shifted_probs * (1 - shifted_probs) - 0.5 * probs * (1 - probs))
        return None, grad_logits, None


def _detached_temperature(temperature, event_dim):
    if isinstance(temperature, torch.Tensor):
        temperature = temperature.detach()
        if event_dim and temperature.dim():
            temperature = temperature.unsqueeze(-1)
    return temperature


def reinmax_one_hot(index: torch.Tensor, logits: torch.Tensor, temperature) -> torch.Tensor:
    """
    The one-hot vectors of ``index`` with the ReinMax gradient with respect to
    ``logits`` (of the categorical distribution ``index`` was drawn from).

    :param torch.Tensor index: integer indices of shape ``batch + (1,)``.
    :param torch.Tensor logits: logits that broadcast to ``batch + (K,)``.
    :param temperature: ReinMax's temperature, a number or a tensor that
        broadcasts with ``batch`` (it receives no gradient).
    """
    shape = index.shape[:-1] + logits.shape[-1:]
    return _ReinMaxOneHot.apply(index, logits.expand(shape), _detached_temperature(temperature, 1))


def reinmax_binary(positive: torch.Tensor, logits: torch.Tensor, temperature) -> torch.Tensor:
    """
    The bits ``positive`` as 0/1 with the ReinMax gradient with respect to the
    log-odds ``logits``: the case ``K = 2`` of :func:`reinmax_one_hot`.
    """
    return _ReinMaxBinary.apply(
        positive, logits.expand(positive.shape), _detached_temperature(temperature, 0)
    )
