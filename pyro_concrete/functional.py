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

import warnings

import torch
from torch import Tensor
from torch.distributions import Distribution

from pyro_concrete.checks import check_estimator, check_positive_number, is_real_number
from pyro_concrete.ops.dtype import compute_dtype
from pyro_concrete.ops.hard_sample import divide_by_temperature, hard_sample
from pyro_concrete.ops.noise import add_logits, log_exponential_noise, logistic_noise
from pyro_concrete.ops.special import fast_softmax

__all__ = ["binary_gumbel_softmax", "gumbel_softmax"]


def _check_inputs(logits, tau, hard, estimator, rao_samples):
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating point Tensor, got {type(logits).__name__}.")
    if is_real_number(tau):
        check_positive_number("tau", tau)
    elif not isinstance(tau, Tensor) or not tau.is_floating_point():
        raise TypeError(f"tau must be a positive number or a floating point Tensor, got {tau!r}.")
    if hard:
        check_estimator(estimator, rao_samples, tau)
    if Distribution._validate_args:
        checks = [torch.isnan(logits).any() | (logits == float("inf")).any()]
        if isinstance(tau, Tensor):
            checks.append(~((tau > 0) & torch.isfinite(tau)).all())
        bad_logits, *bad_tau = torch.stack(checks).tolist()
        if bad_logits:
            raise ValueError("logits must not be NaN or +inf (-inf rules a category out).")
        if bad_tau and bad_tau[0]:
            raise ValueError("tau must be positive and finite.")


def _temperature_along_last(tau, logits, dim):
    """``tau`` in the compute dtype, broadcastable against ``logits`` moved to ``dim = -1``."""
    if not isinstance(tau, Tensor):
        return float(tau)
    if tau.dim() > logits.dim():
        raise ValueError(
            f"tau of shape {tuple(tau.shape)} has more dimensions than logits of shape "
            f"{tuple(logits.shape)}."
        )
    padded = tau.reshape((1,) * (logits.dim() - tau.dim()) + tuple(tau.shape))
    return padded.movedim(dim, -1).to(compute_dtype(logits.dtype))


def gumbel_softmax(
    logits: Tensor,
    tau=1.0,
    hard: bool = False,
    eps: float = 1e-10,
    dim: int = -1,
    *,
    estimator: str = "straight_through",
    rao_samples: int = 10,
) -> Tensor:
    r"""
    Samples the Gumbel-Softmax (Concrete) relaxation of the categorical
    distribution with the given ``logits`` along ``dim``:
    :math:`\mathrm{softmax}((\theta + G) / \tau)`, or with ``hard=True`` the exact
    one-hot vector of the largest perturbed logit, whose gradient is given by
    ``estimator``.

    A drop-in replacement for :func:`torch.nn.functional.gumbel_softmax`: every
    call torch's accepts (``logits, tau=1, hard=False, eps=1e-10, dim=-1``,
    positional or keyword) means the same here; ``eps`` is deprecated in torch and
    ignored here too (with torch's warning). It adds ``estimator`` and
    ``rao_samples``, does not return NaN for float16 inputs, returns exact zeros
    and ones with ``hard=True`` (torch's are ``y_hard - y_soft.detach() +
    y_soft``), and is faster.

    Example::

        >>> logits = torch.randn(32, 10, requires_grad=True)
        >>> y = gumbel_softmax(logits, tau=0.5, hard=True, estimator="gumbel_rao")
        >>> bool((y.sum(-1) == 1).all())
        True

    :param torch.Tensor logits: unnormalised log-probabilities; ``-inf`` rules a
        category out.
    :param tau: the temperature :math:`\tau > 0`, a number or a tensor that
        broadcasts against ``logits``.
    :param bool hard: return exact one-hot vectors with a surrogate gradient.
    :param float eps: ignored (deprecated in torch).
    :param int dim: the category dimension.
    :param str estimator: with ``hard=True``, one of ``"straight_through"``,
        ``"gumbel_rao"`` and ``"reinmax"`` (see :mod:`pyro_concrete.estimators`).
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :returns: a tensor of the shape and dtype of ``logits``.
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    _check_inputs(logits, tau, hard, estimator, rao_samples)
    dtype = logits.dtype
    temperature = _temperature_along_last(tau, logits, dim)
    logits = logits.movedim(dim, -1).to(compute_dtype(dtype))
    noise = log_exponential_noise(logits.shape, logits.dtype, logits.device)
    perturbed = add_logits(noise, logits, subtract=True).neg_()
    if hard:
        value = hard_sample(logits, perturbed, temperature, estimator, rao_samples)
    else:
        value = fast_softmax(divide_by_temperature(perturbed, temperature, in_place=True))
    return value.to(dtype).movedim(-1, dim)


def binary_gumbel_softmax(
    logits: Tensor,
    tau=1.0,
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
    :param tau: the temperature :math:`\tau > 0`, a number or a tensor that
        broadcasts against ``logits``.
    :param bool hard: return exact zeros and ones with a surrogate gradient.
    :param str estimator: with ``hard=True``, one of ``"straight_through"``,
        ``"gumbel_rao"`` and ``"reinmax"``.
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :returns: a tensor of the shape and dtype of ``logits``.
    """
    _check_inputs(logits, tau, hard, estimator, rao_samples)
    dtype = logits.dtype
    logits = logits.to(compute_dtype(dtype))
    temperature = tau.to(logits.dtype) if isinstance(tau, Tensor) else float(tau)
    perturbed = add_logits(logistic_noise(logits.shape, logits.dtype, logits.device), logits)
    if hard:
        value = hard_sample(logits, perturbed, temperature, estimator, rao_samples, binary=True)
    else:
        value = divide_by_temperature(perturbed, temperature, in_place=True).sigmoid()
    return value.to(dtype)
