# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Gumbel-Softmax as functions, for code outside Pyro: GANs over discrete
sequences, discrete attention, mixtures of experts.

The numerics are those of the distributions: noise from ``torch.rand`` mapped to
``[tiny, 1)`` (``F.gumbel_softmax`` draws ``exponential_()``, which returns exact
zeros in float16), computed in float32 or wider and returned in the dtype of
``logits``; hard samples are exact one-hot vectors with any of the estimators of
:mod:`pyro_concrete.estimators`.
"""

from numbers import Real

import torch
from torch import Tensor
from torch.distributions import Distribution

from pyro_concrete.distributions.util import (
    argmax,
    compute_dtype,
    log_exponential_noise,
    logistic_noise,
    noisy_scores,
    softmax,
)
from pyro_concrete.estimators import (
    check_estimator,
    check_reinmax_temperature,
    conditional_gumbel_noise,
    conditional_logistic_noise,
    reinmax_binary,
    reinmax_one_hot,
)
from pyro_concrete.transforms.straight_through import (
    straight_through_binary,
    straight_through_one_hot,
)

__all__ = ["binary_gumbel_softmax", "gumbel_softmax"]


def _check_inputs(logits, temperature, hard, estimator, rao_samples):
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating point Tensor, got {type(logits).__name__}.")
    if isinstance(temperature, Real) and not isinstance(temperature, bool):
        if not temperature > 0 or temperature == float("inf"):
            raise ValueError(f"temperature must be positive and finite, got {temperature}.")
    elif not isinstance(temperature, Tensor) or not temperature.is_floating_point():
        raise TypeError(
            "temperature must be a positive number or a floating point Tensor, "
            f"got {temperature!r}."
        )
    check_estimator(estimator, rao_samples)
    validate = Distribution._validate_args
    if hard and estimator == "reinmax":
        check_reinmax_temperature(temperature, validate)
    if validate:
        checks = [torch.isnan(logits).any() | (logits == float("inf")).any()]
        if isinstance(temperature, Tensor):
            checks.append(~((temperature > 0) & torch.isfinite(temperature)).all())
        bad_logits, *bad_temperature = torch.stack(checks).tolist()
        if bad_logits:
            raise ValueError("logits must not be NaN or +inf (-inf rules a category out).")
        if bad_temperature and bad_temperature[0]:
            raise ValueError("temperature must be positive and finite.")


def _prepare(logits, temperature):
    """Logits in the compute dtype, the temperature for them, and the infinite entries."""
    dtype = compute_dtype(logits.dtype)
    logits = logits.to(dtype)
    degenerate = None
    if isinstance(temperature, Tensor):
        temperature = temperature.to(dtype)
        if temperature.requires_grad:
            # -inf logits would put 0 * inf into the temperature's gradient.
            degenerate = torch.isinf(logits)
    return logits, temperature, degenerate


def gumbel_softmax(
    logits: Tensor,
    temperature=1.0,
    hard: bool = False,
    *,
    estimator: str = "straight_through",
    rao_samples: int = 10,
    dim: int = -1,
) -> Tensor:
    r"""
    Samples the Gumbel-Softmax (Concrete) relaxation of the categorical
    distribution with the given ``logits`` along ``dim``:
    :math:`\mathrm{softmax}((\theta + G) / \tau)`, or with ``hard=True`` the exact
    one-hot vector of its largest entry, whose gradient is given by ``estimator``.

    A replacement for :func:`torch.nn.functional.gumbel_softmax` that does not
    return NaN for float16 inputs, is faster, and offers Gumbel-Rao and ReinMax.

    Example::

        >>> logits = torch.randn(32, 10, requires_grad=True)
        >>> y = gumbel_softmax(logits, 0.5, hard=True, estimator="gumbel_rao")
        >>> bool((y.sum(-1) == 1).all())
        True

    :param torch.Tensor logits: unnormalised log-probabilities; ``-inf`` rules a
        category out.
    :param temperature: :math:`\tau > 0`, a number or a tensor that broadcasts
        against ``logits`` (give it size 1 along ``dim``).
    :param bool hard: return exact one-hot vectors with a surrogate gradient.
    :param str estimator: with ``hard=True``, one of ``"straight_through"``,
        ``"gumbel_rao"`` and ``"reinmax"`` (see :mod:`pyro_concrete.estimators`).
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :param int dim: the category dimension.
    :returns: a tensor of the shape and dtype of ``logits``.
    """
    _check_inputs(logits, temperature, hard, estimator, rao_samples)
    dtype = logits.dtype
    if isinstance(temperature, Tensor) and temperature.dim():
        if temperature.dim() > logits.dim():
            raise ValueError(
                f"temperature of shape {tuple(temperature.shape)} has more dimensions than logits "
                f"of shape {tuple(logits.shape)}."
            )
        padded = (1,) * (logits.dim() - temperature.dim()) + tuple(temperature.shape)
        temperature = temperature.reshape(padded).movedim(dim, -1)
    logits, temperature, degenerate = _prepare(logits.movedim(dim, -1), temperature)
    noise = log_exponential_noise(logits.shape, logits.dtype, logits.device)
    scores = noisy_scores(logits, noise, temperature, degenerate, negated=True, in_place=True)
    if not hard:
        return softmax(scores).to(dtype).movedim(-1, dim)
    index = argmax(scores)
    if not (torch.is_grad_enabled() and scores.requires_grad):
        value = torch.zeros_like(scores).scatter_(-1, index, 1)
    elif estimator == "straight_through":
        value = straight_through_one_hot(index, softmax(scores))
    elif estimator == "gumbel_rao":
        noise = conditional_gumbel_noise(logits.detach(), index, rao_samples)
        value = straight_through_one_hot(
            index, softmax(noisy_scores(logits, noise, temperature, degenerate)).mean(0)
        )
    else:
        value = reinmax_one_hot(index, logits, temperature)
    return value.to(dtype).movedim(-1, dim)


def binary_gumbel_softmax(
    logits: Tensor,
    temperature=1.0,
    hard: bool = False,
    *,
    estimator: str = "straight_through",
    rao_samples: int = 10,
) -> Tensor:
    r"""
    Samples the binary Concrete relaxation of ``Bernoulli(logits=logits)``,
    :math:`\sigma((\theta + L) / \tau)` with logistic noise :math:`L`, elementwise;
    with ``hard=True`` the exact bits :math:`[\theta + L > 0]` with the gradient of
    ``estimator``.

    :param torch.Tensor logits: log-odds :math:`\theta`.
    :param temperature: :math:`\tau > 0`, a number or a tensor that broadcasts
        against ``logits``.
    :param bool hard: return exact zeros and ones with a surrogate gradient.
    :param str estimator: with ``hard=True``, one of ``"straight_through"``,
        ``"gumbel_rao"`` and ``"reinmax"``.
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :returns: a tensor of the shape and dtype of ``logits``.
    """
    _check_inputs(logits, temperature, hard, estimator, rao_samples)
    dtype = logits.dtype
    logits, temperature, degenerate = _prepare(logits, temperature)
    noise = logistic_noise(logits.shape, logits.dtype, logits.device)
    scores = noisy_scores(logits, noise, temperature, degenerate, in_place=True)
    if not hard:
        return scores.sigmoid().to(dtype)
    positive = scores > 0
    if not (torch.is_grad_enabled() and scores.requires_grad):
        value = positive.to(scores.dtype)
    elif estimator == "straight_through":
        value = straight_through_binary(positive, scores.sigmoid())
    elif estimator == "gumbel_rao":
        noise = conditional_logistic_noise(logits.detach(), positive, rao_samples)
        value = straight_through_binary(
            positive, noisy_scores(logits, noise, temperature, degenerate).sigmoid().mean(0)
        )
    else:
        value = reinmax_binary(positive, logits, temperature)
    return value.to(dtype)
