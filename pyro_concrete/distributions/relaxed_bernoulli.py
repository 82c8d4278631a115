# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import math

import torch
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from pyro_concrete.checks import check_value_tensor
from pyro_concrete.constraints import concrete_unit_interval
from pyro_concrete.distributions.base import ConcreteBase, StraightThroughMixin
from pyro_concrete.ops.carry import (
    LOGIT,
    STRAIGHT_THROUGH,
    attach,
    logit_coordinate,
    value_from_logit,
)
from pyro_concrete.ops.dtype import compute_dtype, to_caller_dtype
from pyro_concrete.ops.hard_sample import divide_by_temperature, hard_sample
from pyro_concrete.ops.noise import add_logits, logistic_noise
from pyro_concrete.ops.special import log_of_probs

__all__ = ["RelaxedBernoulliConcrete", "RelaxedBernoulliConcreteStraightThrough"]


class _BernoulliConcrete(ConcreteBase):
    """The binary members of the family: ``probs`` in ``[0, 1]``, ``logits`` real."""

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    _param_event_dim = 0

    @lazy_property
    def _unnormalized_logits(self):
        """Log-odds in the compute dtype (``+-inf`` for probabilities 1 and 0)."""
        if "_given_logits" in self.__dict__:
            return self._given_logits.to(compute_dtype(self.dtype))
        probs = self._given_probs.to(compute_dtype(self.dtype))
        return log_of_probs(probs) - log_of_probs(1 - probs)

    @lazy_property
    def logits(self):
        """Log-odds ``log(p / (1 - p))``."""
        return to_caller_dtype(self._unnormalized_logits, self.dtype)

    @lazy_property
    def probs(self):
        """Probability of 1."""
        if "_given_probs" in self.__dict__:
            return self._given_probs
        return self._unnormalized_logits.sigmoid().to(self.dtype)

    def _perturbed_logits(self, sample_shape):
        """``logits + L`` for logistic noise ``L``, in the compute dtype, in a fresh buffer."""
        logits = self._unnormalized_logits
        noise = logistic_noise(self._extended_shape(sample_shape), logits.dtype, logits.device)
        return add_logits(noise, logits)


class RelaxedBernoulliConcrete(_BernoulliConcrete):
    r"""
    The binary Concrete distribution [1] (relaxed Bernoulli) on the unit interval,
    sampled in logit space:

    .. math::

        x = \sigma((\theta + L) / \tau), \qquad
        L = \log U - \log(1 - U), \quad U \sim \mathrm{Uniform}(0, 1),

    so that :math:`(\theta + L) / \tau \sim \mathrm{Logistic}(\theta / \tau, 1 / \tau)`.
    With :math:`l = \mathrm{logit}(x)` and :math:`a = \theta - \tau l` its density is

    .. math::

        \log p(x) = \log \tau + a - 2\,\mathrm{softplus}(a)
            + \mathrm{softplus}(l) + \mathrm{softplus}(-l),

    the closed form
    :math:`\tau \alpha x^{-\tau-1} (1-x)^{-\tau-1} / (\alpha x^{-\tau} + (1-x)^{-\tau})^2`
    written in logit space. It equals the density of the first coordinate of
    :class:`RelaxedCategoricalConcrete` with logits :math:`(\theta, 0)`.

    Samples carry their logit, so ``log_prob`` -- also that of another binary
    Concrete distribution -- is exact where :math:`x` rounds to 0 or 1; values
    without it are scored from :math:`\log x - \log(1 - x)`, each logarithm floored
    at the log of the smallest normal number.

    Example::

        >>> d = RelaxedBernoulliConcrete(0.5, probs=torch.tensor([0.3, 0.9]))
        >>> bool(torch.isfinite(d.log_prob(d.rsample())).all())
        True

    :param temperature: relaxation temperature :math:`\tau > 0`, a Python number or
        a tensor that broadcasts with the batch shape. Gradients flow to it.
    :type temperature: float or torch.Tensor
    :param torch.Tensor probs: probabilities of 1, strictly inside ``(0, 1)``.
    :param torch.Tensor logits: log-odds :math:`\theta`.
    :param bool validate_args: check parameters and values (defaults to the global
        setting, see :func:`pyro.enable_validation`).

    **References**

    [1] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
        Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
    """

    arg_constraints = _BernoulliConcrete.arg_constraints
    support = concrete_unit_interval
    has_rsample = True

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedBernoulliConcrete, _instance)
        return self._expand_into(new, batch_shape)

    def rsample(self, sample_shape=torch.Size()):
        perturbed = self._perturbed_logits(sample_shape)
        temperature = self._event_temperature(perturbed.dtype)
        logit = divide_by_temperature(perturbed, temperature, in_place=True)
        return attach(value_from_logit(logit, self.dtype), LOGIT, logit)

    def log_prob(self, value):
        self._reject_straight_through(value)
        check_value_tensor(value, "RelaxedBernoulliConcrete.log_prob")
        result_dtype, dtype = self._result_dtypes(value)
        logit, verified = logit_coordinate(value, dtype)
        self._check_value(value, in_support=verified)
        temperature = self._event_temperature(dtype)
        scores = self._unnormalized_logits.to(dtype) - temperature * logit
        log_temperature = (
            math.log(temperature) if isinstance(temperature, float) else temperature.log()
        )
        log_density = (
            log_temperature
            + scores
            - 2 * F.softplus(scores)
            + F.softplus(logit)
            + F.softplus(-logit)
        )
        return to_caller_dtype(log_density, result_dtype)


class RelaxedBernoulliConcreteStraightThrough(StraightThroughMixin, _BernoulliConcrete):
    r"""
    Straight-through binary Concrete: a ``Bernoulli(probs)`` variable whose samples
    carry the gradient of :class:`RelaxedBernoulliConcrete`.

    Forward, :meth:`rsample` returns exact zeros and ones,
    :math:`b = [\theta + L > 0]`, distributed exactly as ``Bernoulli(probs)``.
    Backward, the gradient is given by ``estimator`` (see
    :mod:`pyro_concrete.estimators`): by default ``"reinmax"`` for two categories,
    at temperature :math:`\max(\tau, 1)`; ``"straight_through"``, that of
    :math:`\sigma((\theta + L) / \tau)`; ``"gumbel_rao"`` averages it over
    ``rao_samples`` draws of the logistic noise conditioned on :math:`b`. The
    distribution is discrete, with the Bernoulli ``log_prob``

    .. math::

        \log p(b) = b \log p + (1 - b) \log (1 - p),

    differentiable in :math:`b` so that the straight-through gradient flows
    through the value. Probabilities of exactly 0 or 1 are allowed.

    Example::

        >>> d = RelaxedBernoulliConcreteStraightThrough(1.0, probs=torch.tensor([0.3, 0.9]))
        >>> set(d.rsample().tolist()) <= {0.0, 1.0}
        True

    :param temperature: temperature :math:`\tau > 0` of the relaxation that gives the
        gradient (default 1), a Python number or a tensor that broadcasts with the
        batch shape. Gradients flow to it, except under ReinMax, the default (to
        learn a temperature, or use one below 1, choose another estimator).
    :type temperature: float or torch.Tensor
    :param torch.Tensor probs: probabilities of 1, in ``[0, 1]``.
    :param torch.Tensor logits: log-odds.
    :param str estimator: the gradient estimator, one of ``"reinmax"`` (default),
        ``"straight_through"`` and ``"gumbel_rao"``.
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :param bool validate_args: check parameters and values (defaults to the global
        setting, see :func:`pyro.enable_validation`).

    **References**

    [1] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
        with Gumbel-Softmax. ICLR.
    [2] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
        Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
    [3] Liyuan Liu, Chengyu Dong, Xiaodong Liu, Bin Yu, Jianfeng Gao (2023).
        Bridging Discrete and Backpropagation: Straight-Through and Beyond. NeurIPS.
    """

    arg_constraints = _BernoulliConcrete.arg_constraints
    support = constraints.boolean
    has_rsample = True

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedBernoulliConcreteStraightThrough, _instance)
        return self._expand_into(new, batch_shape)

    def rsample(self, sample_shape=torch.Size()):
        perturbed = self._perturbed_logits(sample_shape)
        temperature = self._event_temperature(perturbed.dtype)
        value = hard_sample(
            self._unnormalized_logits,
            perturbed,
            temperature,
            self.estimator,
            self.rao_samples,
            binary=True,
        )
        return attach(value.to(self.dtype), STRAIGHT_THROUGH)

    def log_prob(self, value):
        self._check_value(value)
        log_p, log_q = self._log_probs
        # 0 * log(0) is 0, with no NaN in the gradient through the value; a value
        # of probability 0 has log-probability -inf.
        log_prob = value * log_p.masked_fill(log_p == -math.inf, 0.0) + (1 - value) * (
            log_q.masked_fill(log_q == -math.inf, 0.0)
        )
        impossible = ((value != 0) & (log_p == -math.inf)) | ((value != 1) & (log_q == -math.inf))
        return log_prob.masked_fill(impossible, -math.inf)

    @lazy_property
    def _log_probs(self):
        """``log p`` and ``log(1 - p)`` (``-inf`` where a probability is 0)."""
        logits = self._unnormalized_logits
        log_p = to_caller_dtype(-F.softplus(-logits), self.dtype)
        return log_p, to_caller_dtype(-F.softplus(logits), self.dtype)

    @property
    def mode(self):
        return (self.probs > 0.5).to(self.dtype)

    def entropy(self):
        log_p, log_q = self._log_probs
        probs = self.probs
        return -(
            probs * log_p.masked_fill(probs == 0, 0.0)
            + (1 - probs) * log_q.masked_fill(probs == 1, 0.0)
        )

    def enumerate_support(self, expand=True):
        values = torch.tensor([0.0, 1.0], dtype=self.dtype, device=self._param.device)
        values = values.reshape((2,) + (1,) * len(self.batch_shape))
        if expand:
            values = values.expand((2,) + self.batch_shape)
        return values
