# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import math

import torch
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from pyro_concrete.constraints import concrete_unit_interval
from pyro_concrete.distributions.base import ConcreteBase, StraightThroughMixin
from pyro_concrete.distributions.util import (
    BITS,
    LOGIT,
    attach,
    carried,
    compute_dtype,
    log_of_probs,
    logistic_noise,
    logit_coordinate,
    reject_straight_through,
    to_caller_dtype,
)
from pyro_concrete.estimators import conditional_logistic_noise, reinmax_binary
from pyro_concrete.transforms.straight_through import straight_through_binary

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
    def _compute_logits(self):
        if "_given_logits" in self.__dict__:
            return self._given_logits.to(compute_dtype(self.dtype))
        probs = self._given_probs.to(compute_dtype(self.dtype))
        return log_of_probs(probs) - log_of_probs(1 - probs)

    @lazy_property
    def logits(self):
        """Log-odds ``log(p / (1 - p))``."""
        return to_caller_dtype(self._compute_logits, self.dtype)

    @lazy_property
    def probs(self):
        """Probability of 1."""
        if "_given_probs" in self.__dict__:
            return self._given_probs
        return self._compute_logits.sigmoid().to(self.dtype)

    def _logit_scores(self, sample_shape):
        """``(logits + logistic noise) / temperature`` in the compute dtype."""
        logits = self._compute_logits
        noise = logistic_noise(self._extended_shape(sample_shape), logits.dtype, logits.device)
        return self._noisy_scores(noise, in_place=True)


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
    _trusted_kinds = (LOGIT,)

    def rsample(self, sample_shape=torch.Size()):
        logit = self._logit_scores(sample_shape)
        return attach(logit.sigmoid().to(self.dtype), LOGIT, logit)

    def log_prob(self, value):
        record = carried(value)
        reject_straight_through(record, "RelaxedBernoulliConcrete.log_prob")
        if self._validate_args:
            self._validate_sample(value)
        result_dtype, dtype = self._result_dtypes(value)
        logit = logit_coordinate(value, record, dtype)
        temperature = self._event_temperature(dtype)
        scores = self._compute_logits.to(dtype) - temperature * logit
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
    :mod:`pyro_concrete.estimators`): by default that of
    :math:`\sigma((\theta + L) / \tau)`; ``"gumbel_rao"`` averages it over
    ``rao_samples`` draws of the logistic noise conditioned on :math:`b`;
    ``"reinmax"`` is ReinMax for two categories (needs :math:`\tau \ge 1`). The
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
        gradient, a Python number or a tensor that broadcasts with the batch shape.
    :type temperature: float or torch.Tensor
    :param torch.Tensor probs: probabilities of 1, in ``[0, 1]``.
    :param torch.Tensor logits: log-odds.
    :param str estimator: the gradient estimator, one of ``"straight_through"``
        (default), ``"gumbel_rao"`` and ``"reinmax"``.
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :param bool validate_args: check parameters and values (defaults to the global
        setting, see :func:`pyro.enable_validation`).

    **References**

    [1] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
        with Gumbel-Softmax. ICLR.
    [2] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
        Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
    """

    arg_constraints = _BernoulliConcrete.arg_constraints
    support = constraints.boolean
    has_rsample = True
    _trusted_kinds = (BITS,)

    def rsample(self, sample_shape=torch.Size()):
        logit = self._logit_scores(sample_shape)
        positive = logit > 0
        if not (torch.is_grad_enabled() and logit.requires_grad):
            value = positive.to(self.dtype)
        elif self.estimator == "straight_through":
            value = straight_through_binary(positive, logit.sigmoid().to(self.dtype))
        elif self.estimator == "gumbel_rao":
            noise = conditional_logistic_noise(
                self._compute_logits.detach(), positive, self.rao_samples
            )
            surrogate = self._noisy_scores(noise).sigmoid().mean(0)
            value = straight_through_binary(positive, surrogate.to(self.dtype))
        else:
            value = reinmax_binary(positive, self._compute_logits, self._temperature).to(self.dtype)
        return attach(value, BITS)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_p, log_q = self._finite_log_probs
        log_prob = value * log_p + (1 - value) * log_q
        if self._degenerate is not None:
            probs = self.probs
            impossible = ((value > 0) & (probs == 0)) | ((value < 1) & (probs == 1))
            log_prob = log_prob.masked_fill(impossible, -math.inf)
        return log_prob

    @lazy_property
    def _finite_log_probs(self):
        # log p and log(1 - p), with the logarithm of a zero probability replaced by
        # 0 so that 0 * log(0) is 0 with no NaN in the gradient through the value.
        logits = self._compute_logits
        log_p = -F.softplus(-logits)
        log_q = -F.softplus(logits)
        if self._degenerate is not None:
            log_p = log_p.masked_fill(torch.isinf(log_p), 0.0)
            log_q = log_q.masked_fill(torch.isinf(log_q), 0.0)
        return to_caller_dtype(log_p, self.dtype), to_caller_dtype(log_q, self.dtype)

    @property
    def mode(self):
        return (self.probs > 0.5).to(self.dtype)

    def entropy(self):
        log_p, log_q = self._finite_log_probs
        return -(self.probs * log_p + (1 - self.probs) * log_q)

    def enumerate_support(self, expand=True):
        values = torch.tensor([0.0, 1.0], dtype=self.dtype, device=self._param.device)
        values = values.reshape((2,) + (1,) * len(self.batch_shape))
        if expand:
            values = values.expand((2,) + self.batch_shape)
        return values
