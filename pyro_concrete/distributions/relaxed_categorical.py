# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import math

import torch
from pyro.distributions.util import broadcast_shape
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from pyro_concrete.checks import check_value_tensor
from pyro_concrete.constraints import concrete_simplex, log_simplex
from pyro_concrete.distributions.base import ConcreteBase, StraightThroughMixin
from pyro_concrete.ops.carry import (
    EXACT,
    LOG,
    STRAIGHT_THROUGH,
    attach,
    exact_coordinates,
    log_coordinates,
    value_from_exact,
    value_from_log,
)
from pyro_concrete.ops.dtype import compute_dtype, to_caller_dtype
from pyro_concrete.ops.hard_sample import (
    divide_by_temperature,
    hard_sample,
    temperature_requires_grad,
)
from pyro_concrete.ops.noise import add_logits, log_exponential_noise
from pyro_concrete.ops.special import fast_log_softmax, fast_softmax, log_of_probs, max_index

__all__ = [
    "ExpRelaxedCategoricalConcrete",
    "RelaxedCategoricalConcrete",
    "RelaxedCategoricalConcreteStraightThrough",
]


class _CategoricalConcrete(ConcreteBase):
    """
    The categorical members of the family: ``probs`` are normalised along the
    last dimension, ``logits`` are known up to an additive constant.
    """

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.simplex,
        "logits": constraints.real_vector,
    }
    _param_event_dim = 1

    @classmethod
    def infer_shapes(cls, temperature=(), probs=None, logits=None):
        param = probs if probs is not None else logits
        batch_shape = torch.Size(broadcast_shape(tuple(temperature), tuple(param[:-1])))
        return batch_shape, torch.Size(param[-1:])

    @lazy_property
    def _unnormalized_logits(self):
        """Logits in the compute dtype, unnormalised: sampling and densities are shift-invariant."""
        if "_given_logits" in self.__dict__:
            return self._given_logits.to(compute_dtype(self.dtype))
        return log_of_probs(self._given_probs.to(compute_dtype(self.dtype)))

    @lazy_property
    def logits(self):
        """Normalised log-probabilities, ``logsumexp(logits, -1) == 0``."""
        logits = self._unnormalized_logits
        return to_caller_dtype(logits - logits.logsumexp(-1, keepdim=True), self.dtype)

    @lazy_property
    def probs(self):
        """Category probabilities, normalised along the last dimension."""
        if "_given_probs" in self.__dict__:
            probs = self._given_probs
            return probs / probs.sum(-1, keepdim=True)
        return fast_softmax(self._unnormalized_logits).to(self.dtype)

    def _negated_perturbed_logits(self, sample_shape):
        """``-(logits + G) = log E - logits`` for Gumbel noise ``G``, in a fresh buffer."""
        logits = self._unnormalized_logits
        shape = self._extended_shape(sample_shape)
        noise = log_exponential_noise(shape, logits.dtype, logits.device)
        return add_logits(noise, logits, subtract=True)

    def _log_coordinates_sample(self, sample_shape):
        """Log coordinates ``log_softmax((logits + G) / temperature)`` of a Concrete sample."""
        negated = self._negated_perturbed_logits(sample_shape)
        temperature = self._event_temperature(negated.dtype)
        if temperature_requires_grad(temperature):
            scores = divide_by_temperature(negated.neg_(), temperature)
        else:
            # Two passes over the noise buffer in all, and no new allocation.
            scores = negated.div_(-temperature)
        return fast_log_softmax(scores)

    def _log_density(self, log_value):
        """
        The ExpConcrete log density of log coordinates ``log_value`` (additive
        log-ratio chart), computed in the dtype of ``log_value``.
        """
        dtype = log_value.dtype
        num_categories = self.event_shape[0]
        temperature = self._event_temperature(dtype)
        logits = self._unnormalized_logits.to(dtype)
        scores = log_value * -temperature
        # In place where the logits fit (no new tensor of the value's size).
        if torch.broadcast_shapes(scores.shape, logits.shape) == scores.shape:
            scores = scores.add_(logits)
        else:
            scores = scores + logits
        log_density = scores.sum(-1) - num_categories * scores.logsumexp(-1)
        if isinstance(temperature, float):
            log_temperature = math.log(temperature)
        else:
            log_temperature = temperature.squeeze(-1).log()
        return log_density + (math.lgamma(num_categories) + (num_categories - 1) * log_temperature)


class ExpRelaxedCategoricalConcrete(_CategoricalConcrete):
    r"""
    The ExpConcrete distribution [1]: the logarithm of a
    :class:`RelaxedCategoricalConcrete` sample, computed in log space,

    .. math::

        y = \mathrm{log\_softmax}((\theta + G) / \tau), \qquad G_k \sim \mathrm{Gumbel}(0, 1),

    so that :math:`\mathrm{logsumexp}(y) = 0`. Sampling is stable at every
    temperature, where the coordinates of :math:`\exp(y)` underflow. Use it when the
    model consumes log-probabilities, or to sidestep underflow entirely.

    The density is taken in the additive-log-ratio chart
    :math:`z_k = y_k - y_K` (the convention of Maddison et al., torch and TFP):

    .. math::

        \log \kappa(y) = \log (K-1)! + (K-1) \log \tau
            + \sum_k (\theta_k - \tau y_k) - K \,\mathrm{logsumexp}_k (\theta_k - \tau y_k),

    so that ``ExpRelaxedCategoricalConcrete(t, logits=l).log_prob(y) ==
    RelaxedCategoricalConcrete(t, logits=l).log_prob(y.exp()) + y.sum(-1)``. The
    support is :data:`~pyro_concrete.constraints.log_simplex`, whose registered
    bijection (:class:`~pyro_concrete.transforms.LogAdditiveLogisticTransform`)
    uses the same chart, so AutoGuides get the right Jacobian.

    Example::

        >>> d = ExpRelaxedCategoricalConcrete(0.5, logits=torch.zeros(3))
        >>> y = d.rsample()
        >>> bool(y.logsumexp(-1).abs() < 1e-6)
        True

    :param temperature: relaxation temperature :math:`\tau > 0`, a Python number or
        a tensor that broadcasts with the batch shape (not with the category
        dimension: a per-row temperature for logits of shape ``(B, K)`` has shape
        ``(B,)``). Gradients flow to it.
    :type temperature: float or torch.Tensor
    :param torch.Tensor probs: category probabilities of shape ``(..., K)``,
        normalised along the last dimension.
    :param torch.Tensor logits: unnormalised log-probabilities of shape ``(..., K)``.
    :param bool validate_args: check parameters and values (defaults to the global
        setting, see :func:`pyro.enable_validation`).

    **References**

    [1] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
        Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
    """

    arg_constraints = _CategoricalConcrete.arg_constraints
    support = log_simplex
    has_rsample = True

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(ExpRelaxedCategoricalConcrete, _instance)
        return self._expand_into(new, batch_shape)

    def rsample(self, sample_shape=torch.Size()):
        log_value = self._log_coordinates_sample(sample_shape)
        if log_value.dtype == self.dtype:
            return log_value
        return attach(value_from_exact(log_value, self.dtype), EXACT, log_value)

    def log_prob(self, value):
        self._reject_straight_through(value)
        check_value_tensor(value, "ExpRelaxedCategoricalConcrete.log_prob")
        result_dtype, dtype = self._result_dtypes(value)
        log_value, verified = exact_coordinates(value, dtype)
        self._check_value(value, in_support=verified)
        return to_caller_dtype(self._log_density(log_value), result_dtype)


class RelaxedCategoricalConcrete(_CategoricalConcrete):
    r"""
    The Concrete, or Gumbel-Softmax, distribution [1, 2] on the probability simplex:
    a continuous relaxation of ``OneHotCategorical(probs)`` with reparameterised
    samples

    .. math::

        x = \mathrm{softmax}((\theta + G) / \tau), \qquad G_k \sim \mathrm{Gumbel}(0, 1).

    As :math:`\tau \to 0` samples approach one-hot vectors, and at every temperature
    :math:`\arg\max_k x_k \sim \mathrm{Categorical}(\mathrm{probs})`. Its density
    with respect to Lebesgue measure on :math:`x_{1:K-1}` is

    .. math::

        \log p(x) = \log (K-1)! + (K-1) \log \tau
            + \sum_k (\theta_k - (\tau + 1) \log x_k)
            - K \,\mathrm{logsumexp}_k (\theta_k - \tau \log x_k).

    Compared with :class:`torch.distributions.RelaxedOneHotCategorical`, samples are
    drawn in log space and carry their log coordinates, so ``log_prob`` -- also
    the ``log_prob`` of another Concrete distribution, as when a model's prior
    scores a guide's sample -- is exact and finite where coordinates underflow to
    zero. A value without them (built by hand, or passed through ``detach``,
    ``clone``, ``to`` or indexing) is scored from its coordinates, exactly zero
    ones taken to be the smallest normal number of the compute dtype; that is
    exact unless a coordinate underflowed. Temperatures may be Python numbers,
    per-batch tensors, and learnable.

    The density is unbounded towards the vertices when :math:`\tau < K - 1`, so
    MAP estimation (``AutoDelta``) of a Concrete site is ill-posed.

    Example::

        >>> d = RelaxedCategoricalConcrete(torch.tensor(0.5), logits=torch.zeros(3))
        >>> x = d.rsample()
        >>> bool(torch.isfinite(d.log_prob(x)))
        True

    :param temperature: relaxation temperature :math:`\tau > 0`, a Python number or
        a tensor that broadcasts with the batch shape (not with the category
        dimension: a per-row temperature for logits of shape ``(B, K)`` has shape
        ``(B,)``). Gradients flow to it.
    :type temperature: float or torch.Tensor
    :param torch.Tensor probs: category probabilities of shape ``(..., K)``,
        normalised along the last dimension.
    :param torch.Tensor logits: unnormalised log-probabilities of shape ``(..., K)``.
    :param bool validate_args: check parameters and values (defaults to the global
        setting, see :func:`pyro.enable_validation`).

    **References**

    [1] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
        Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
    [2] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
        with Gumbel-Softmax. ICLR.
    """

    arg_constraints = _CategoricalConcrete.arg_constraints
    support = concrete_simplex
    has_rsample = True

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedCategoricalConcrete, _instance)
        return self._expand_into(new, batch_shape)

    def rsample(self, sample_shape=torch.Size()):
        log_value = self._log_coordinates_sample(sample_shape)
        return attach(value_from_log(log_value, self.dtype), LOG, log_value)

    def log_prob(self, value):
        self._reject_straight_through(value)
        check_value_tensor(value, "RelaxedCategoricalConcrete.log_prob")
        result_dtype, dtype = self._result_dtypes(value)
        log_value, verified = log_coordinates(value, dtype)
        self._check_value(value, in_support=verified)
        return to_caller_dtype(self._log_density(log_value) - log_value.sum(-1), result_dtype)


class RelaxedCategoricalConcreteStraightThrough(StraightThroughMixin, _CategoricalConcrete):
    r"""
    Straight-through Gumbel-Softmax [1]: a ``OneHotCategorical(probs)`` variable
    whose samples carry the gradient of a Concrete relaxation.

    Forward, :meth:`rsample` returns exact one-hot vectors (bitwise zeros and
    ones) :math:`D = \mathrm{onehot}(\arg\max_k (\theta_k + G_k))`, distributed
    exactly as ``OneHotCategorical(probs)`` in every dtype (the index is taken from
    the perturbed logits in float32 or wider). Backward, the gradient is given by
    ``estimator`` (see :mod:`pyro_concrete.estimators`): by default ``"reinmax"`` [3],
    second-order accurate, at temperature :math:`\max(\tau, 1)` -- the default
    that did best across the benchmark suite of discrete-latent models;
    ``"straight_through"``, that of the relaxed sample
    :math:`\mathrm{softmax}((\theta + G) / \tau)`; ``"gumbel_rao"``, that averaged
    over ``rao_samples`` conditional noise draws (same mean, less variance).

    The distribution is discrete: its :meth:`log_prob` is the categorical one,

    .. math::

        \log p(D) = \sum_k D_k \log \pi_k ,

    written so that the straight-through gradient flows through ``D``. With a
    straight-through guide and a ``OneHotCategorical`` (or straight-through) prior,
    ``Trace_ELBO`` therefore estimates the discrete ELBO without bias, and
    ``TraceMeanField_ELBO`` uses the exact categorical KL. Prefer this class as the
    prior as well: ``OneHotCategorical.log_prob`` passes no gradient to its value.
    A relaxed prior cannot score these samples (its density is zero or infinite
    at the vertices); it raises a ``ValueError`` that says so. Zero probabilities
    (``-inf`` logits, the usual masking trick) are allowed, as in
    ``OneHotCategorical``: such categories are never sampled, and ``log_prob`` and
    ``entropy`` of possible values stay finite, with no NaN in gradients.

    Use the samples differentiably: ``z @ locs`` passes the gradient to ``z``;
    ``locs[z.argmax(-1)]`` cuts it (an index has no gradient), so the guide's
    logits receive no gradient from the model and training goes silently wrong.

    Example::

        >>> d = RelaxedCategoricalConcreteStraightThrough(1.0, logits=torch.zeros(3))
        >>> sorted(d.rsample().tolist())
        [0.0, 0.0, 1.0]

    :param temperature: temperature :math:`\tau > 0` of the relaxation that gives
        the gradient (default 1), a Python number or a tensor that broadcasts with
        the batch shape. Gradients flow to it, except under ReinMax, the default (to
        learn a temperature, or use one below 1, choose another estimator).
    :type temperature: float or torch.Tensor
    :param torch.Tensor probs: category probabilities of shape ``(..., K)``,
        normalised along the last dimension.
    :param torch.Tensor logits: unnormalised log-probabilities of shape ``(..., K)``.
    :param str estimator: the gradient estimator, one of ``"reinmax"`` (default),
        ``"straight_through"`` and ``"gumbel_rao"``.
    :param int rao_samples: conditional noise draws for ``"gumbel_rao"``.
    :param bool validate_args: check parameters and values (defaults to the global
        setting, see :func:`pyro.enable_validation`).

    **References**

    [1] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
        with Gumbel-Softmax. ICLR.
    [2] Max B. Paulus, Chris J. Maddison, Andreas Krause (2021). Rao-Blackwellizing
        the Straight-Through Gumbel-Softmax Gradient Estimator. ICLR.
    [3] Liyuan Liu, Chengyu Dong, Xiaodong Liu, Bin Yu, Jianfeng Gao (2023).
        Bridging Discrete and Backpropagation: Straight-Through and Beyond. NeurIPS.
    """

    arg_constraints = _CategoricalConcrete.arg_constraints
    support = constraints.one_hot
    has_rsample = True

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedCategoricalConcreteStraightThrough, _instance)
        return self._expand_into(new, batch_shape)

    def rsample(self, sample_shape=torch.Size()):
        perturbed = self._negated_perturbed_logits(sample_shape).neg_()
        temperature = self._event_temperature(perturbed.dtype)
        value = hard_sample(
            self._unnormalized_logits, perturbed, temperature, self.estimator, self.rao_samples
        )
        return attach(value.to(self.dtype), STRAIGHT_THROUGH)

    def log_prob(self, value):
        self._check_value(value)
        log_probs = self.logits
        impossible_category = log_probs == -math.inf
        # 0 * log(0) is 0, with no NaN in the gradient through the value; a value
        # on an impossible category has log-probability -inf.
        log_prob = (value * log_probs.masked_fill(impossible_category, 0.0)).sum(-1)
        impossible = ((value != 0) & impossible_category).any(-1)
        return log_prob.masked_fill(impossible, -math.inf)

    @property
    def mode(self):
        return torch.zeros_like(self.probs).scatter_(-1, max_index(self.probs), 1)

    def entropy(self):
        log_probs = self.logits.masked_fill(self.probs == 0, 0.0)
        return -(self.probs * log_probs).sum(-1)

    def enumerate_support(self, expand=True):
        num_categories = self.event_shape[0]
        values = torch.eye(num_categories, dtype=self.dtype, device=self._param.device)
        values = values.view((num_categories,) + (1,) * len(self.batch_shape) + (num_categories,))
        if expand:
            values = values.expand((num_categories,) + self.batch_shape + (num_categories,))
        return values
