# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
The hard-sample kernel: exact one-hot vectors (or 0/1 bits) by the Gumbel-max
(logistic) trick, with the gradient of a straight-through estimator.

Forward, the category is the index of the largest perturbed logit
:math:`\theta + G`, taken before any division by the temperature and in the
compute dtype, so its law is exactly ``Categorical(softmax(logits))`` in every
dtype. Backward, the gradient is that of the estimator (see
:mod:`pyro_concrete.estimators` for the rules):

- ``"straight_through"``: the gradient of :math:`\mathrm{softmax}((\theta + G)/\tau)`;
- ``"gumbel_rao"``: that gradient averaged over draws of the noise conditioned on
  the sampled category (the draws are constants);
- ``"reinmax"``: ReinMax's second-order rule at temperature :math:`\max(\tau, 1)`.

Every function here is the same sequence of tensor operations whatever the data,
so ``torch.jit.trace``, ``torch.compile`` and ``torch.func`` see what eager mode
computes. The only branches are on metadata (whether a gradient can flow).
"""

from typing import Union

import torch

from pyro_concrete.ops.noise import conditional_gumbel_noise, conditional_logistic_noise
from pyro_concrete.ops.special import fast_softmax, max_index, softmax_vjp

__all__ = [
    "ESTIMATORS",
    "divide_by_temperature",
    "hard_sample",
    "reinmax_temperature",
    "straight_through_bits",
    "straight_through_one_hot",
    "temperature_requires_grad",
]

#: Names of the gradient estimators of straight-through samples.
ESTIMATORS = ("straight_through", "gumbel_rao", "reinmax")

Temperature = Union[float, torch.Tensor]


def temperature_requires_grad(temperature: Temperature) -> bool:
    """Whether ``temperature`` is a tensor that requires a gradient."""
    return isinstance(temperature, torch.Tensor) and temperature.requires_grad


def divide_by_temperature(
    scores: torch.Tensor, temperature: Temperature, *, in_place: bool = False
) -> torch.Tensor:
    """
    ``scores / temperature``. Infinite scores (logits of probabilities 0, or 1 for
    bits) stay infinite; when the temperature requires a gradient they are kept out
    of the division, whose gradient ``-scores / temperature**2`` would put
    ``0 * inf = NaN`` into the temperature's gradient.

    :param bool in_place: ``scores`` is a fresh buffer that may hold the result.
    """
    if temperature_requires_grad(temperature):
        infinite = scores.isinf()
        return torch.where(infinite, scores, scores.masked_fill(infinite, 0.0) / temperature)
    return scores.div_(temperature) if in_place else scores / temperature


def reinmax_temperature(temperature: Temperature) -> Temperature:
    """ReinMax's temperature, :math:`\\max(\\tau, 1)`, with no gradient."""
    if isinstance(temperature, torch.Tensor):
        return temperature.detach().clamp_min(1.0)
    return max(float(temperature), 1.0)


def _needs_gradient(perturbed: torch.Tensor, temperature: Temperature) -> bool:
    return torch.is_grad_enabled() and (
        perturbed.requires_grad or temperature_requires_grad(temperature)
    )


def _hard_value(choice, like, binary):
    """The exact 0/1 value of ``choice`` (bits, or indices of one-hot vectors)."""
    if binary:
        return choice.to(like.dtype)
    return torch.zeros_like(like).scatter(-1, choice, 1.0)


class _StraightThrough(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(choice, surrogate, binary):
        return _hard_value(choice, surrogate, binary)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return None, grad, None


def straight_through_one_hot(index: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """
    The one-hot vectors of ``index`` (exact zeros and ones, in the dtype of
    ``surrogate``) whose gradient is passed unchanged to ``surrogate``.
    ``hard - soft.detach() + soft`` would cost two more passes.
    """
    return _StraightThrough.apply(index, surrogate, False)


def straight_through_bits(positive: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """The booleans ``positive`` as exact 0/1 whose gradient passes unchanged to ``surrogate``."""
    return _StraightThrough.apply(positive, surrogate, True)


class _ReinMax(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(choice, logits, temperature, binary):
        return _hard_value(choice, logits, binary)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, logits, temperature, ctx.binary = inputs
        if isinstance(temperature, torch.Tensor):
            ctx.scalar_temperature = None
            ctx.save_for_backward(output, logits, temperature)
        else:
            ctx.scalar_temperature = temperature
            ctx.save_for_backward(output, logits)

    @staticmethod
    def backward(ctx, grad):
        hard, logits, *temperature = ctx.saved_tensors
        temperature = temperature[0] if temperature else ctx.scalar_temperature
        if ctx.binary:
            probs = logits.sigmoid()
            shifted_probs = 0.5 * ((logits / temperature).sigmoid() + hard)
            slope = 2 * shifted_probs * (1 - shifted_probs) - 0.5 * probs * (1 - probs)
            return None, grad * slope, None, None
        probs = fast_softmax(logits)
        shifted_probs = 0.5 * (fast_softmax(logits / temperature) + hard)
        grad_logits = 2 * softmax_vjp(shifted_probs, grad) - 0.5 * softmax_vjp(probs, grad)
        return None, grad_logits, None, None


def hard_sample(
    logits: torch.Tensor,
    perturbed: torch.Tensor,
    temperature: Temperature,
    estimator: str,
    rao_samples: int,
    *,
    binary: bool = False,
) -> torch.Tensor:
    r"""
    The one-hot vector of :math:`\arg\max_k (\theta_k + G_k)` -- or with
    ``binary=True`` the bits :math:`[\theta + L > 0]` -- as exact zeros and ones,
    with the gradient of ``estimator``.

    :param torch.Tensor logits: the logits :math:`\theta` (log-odds for bits) in
        the compute dtype, which broadcast against ``perturbed``; ``-inf`` rules a
        category out.
    :param torch.Tensor perturbed: :math:`\theta + G`, Gumbel noise added
        (logistic noise for bits).
    :param temperature: :math:`\tau`, a number or a tensor that broadcasts against
        ``perturbed`` (with a category dimension of size 1).
    :param str estimator: one of :data:`ESTIMATORS`.
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :param bool binary: sample bits rather than one-hot vectors.
    :returns: exact zeros and ones, in the dtype of ``perturbed``.
    """
    choice = perturbed > 0 if binary else max_index(perturbed)
    if not _needs_gradient(perturbed, temperature):
        return _hard_value(choice, perturbed, binary)
    if estimator == "reinmax":
        logits = logits.expand(perturbed.shape)
        return _ReinMax.apply(choice, logits, reinmax_temperature(temperature), binary)
    relax = torch.sigmoid if binary else fast_softmax
    if estimator == "gumbel_rao":
        conditional_noise = conditional_logistic_noise if binary else conditional_gumbel_noise
        noise = conditional_noise(logits.detach(), choice, rao_samples)
        surrogate = relax(divide_by_temperature(logits + noise, temperature)).mean(0)
    else:
        surrogate = relax(divide_by_temperature(perturbed, temperature))
    return _StraightThrough.apply(choice, surrogate, binary)
