# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import torch
from pyro.distributions.score_parts import ScoreParts
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import Distribution
from torch.distributions.utils import lazy_property

from pyro_concrete.checks import (
    broadcast_temperature,
    check_estimator,
    check_probs_or_logits,
    check_value_tensor,
    validate_parameters,
)
from pyro_concrete.ops.carry import is_straight_through
from pyro_concrete.ops.dtype import compute_dtype

__all__ = ["ConcreteBase"]


def _check_sample_shape(value, batch_shape, event_shape):
    """The shape checks of ``Distribution._validate_sample``."""
    if value.shape[value.dim() - len(event_shape) :] != event_shape:
        raise ValueError(
            f"The right-most size of value must match event_shape: {value.size()} vs {event_shape}."
        )
    try:
        torch.broadcast_shapes(value.shape, batch_shape + event_shape)
    except RuntimeError:
        raise ValueError(
            f"Value is not broadcastable with batch_shape+event_shape: {value.size()} vs "
            f"{batch_shape + event_shape}."
        ) from None


class ConcreteBase(TorchDistribution):
    """
    Parameter handling shared by the Concrete family: the signature
    ``(temperature, probs=None, logits=None, *, validate_args=None)``, a temperature
    (Python number or tensor) that broadcasts with the batch shape, ``expand``,
    and the dtypes: half-precision parameters are computed in float32 and results
    returned in the parameters' dtype; a temperature tensor is kept in float32 or
    wider.

    Subclasses set ``_param_event_dim`` (1 for categorical parameters, 0 for
    Bernoulli ones) and define ``_unnormalized_logits``, ``logits`` and ``probs``.
    """

    _param_event_dim = 1
    #: probabilities of 0 (or 1) and infinite logits are allowed
    _allow_degenerate_probs = False
    #: attributes that ``expand`` copies as they are
    _expand_attributes = ()

    def __init__(self, temperature, probs=None, logits=None, *, validate_args=None):
        event_dim = self._param_event_dim
        param, is_logits = check_probs_or_logits(probs, logits, event_dim)
        temperature, param, batch_shape = broadcast_temperature(temperature, param, event_dim)
        # Validate here, with tolerances and messages of our own, not in the base class.
        super().__init__(batch_shape, param.shape[param.dim() - event_dim :], validate_args=False)
        self._validate_args = (
            Distribution._validate_args if validate_args is None else validate_args
        )
        if self._validate_args:
            validate_parameters(
                temperature,
                param,
                is_logits,
                binary=event_dim == 0,
                allow_degenerate=self._allow_degenerate_probs,
            )
        if isinstance(temperature, torch.Tensor):
            self.temperature = temperature
            self._scalar_temperature = None
        else:
            self._scalar_temperature = temperature
        if is_logits:
            self._given_logits = param
        else:
            self._given_probs = param

    def _expand_into(self, new, batch_shape):
        """Fills ``new`` (from ``_get_checked_instance``) with this distribution, expanded."""
        batch_shape = torch.Size(batch_shape)
        param_shape = batch_shape + self.event_shape
        for name in ("_given_logits", "_given_probs", "_unnormalized_logits", "logits", "probs"):
            value = self.__dict__.get(name)
            if value is not None:
                new.__dict__[name] = value.expand(param_shape)
        for name in self._expand_attributes:
            setattr(new, name, getattr(self, name))
        new._scalar_temperature = self._scalar_temperature
        if self._scalar_temperature is None:
            new.temperature = self.temperature.expand(batch_shape)
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self):
        given = "logits" if "_given_logits" in self.__dict__ else "probs"
        temperature = self._scalar_temperature
        parts = []
        for name, value in (("temperature", temperature), (given, self._param)):
            if value is None:
                value = self.temperature
            if isinstance(value, torch.Tensor):
                value = f"shape {tuple(value.shape)}" if value.numel() != 1 else value.item()
            parts.append(f"{name}: {value}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def _param(self):
        return self.__dict__.get("_given_logits", self.__dict__.get("_given_probs"))

    @property
    def dtype(self) -> torch.dtype:
        return self._param.dtype

    @property
    def param_shape(self) -> torch.Size:
        return self.batch_shape + self.event_shape

    @lazy_property
    def temperature(self):
        """The temperature as a tensor of the batch shape (float32 or wider)."""
        param = self._param
        temperature = torch.tensor(
            self._scalar_temperature, dtype=compute_dtype(param.dtype), device=param.device
        )
        return temperature.expand(self.batch_shape)

    def _event_temperature(self, dtype):
        """The temperature in ``dtype``, broadcastable against event-shaped tensors."""
        if self._scalar_temperature is not None:
            return self._scalar_temperature
        temperature = self.temperature.to(dtype)
        return temperature.unsqueeze(-1) if self._param_event_dim else temperature

    def _check_value(self, value, in_support=False):
        """
        The checks of ``log_prob``: a tensor, and when validating, of the right shape
        and, unless ``in_support`` (a verified sample of the family), in the support.
        """
        check_value_tensor(value, f"{type(self).__name__}.log_prob")
        if not self._validate_args:
            return
        if in_support:
            _check_sample_shape(value, self.batch_shape, self.event_shape)
        else:
            self._validate_sample(value)

    def _validate_sample(self, value):
        # A value wider than the distribution (a float16 sample cast to float64)
        # is checked at the distribution's precision.
        if value.is_floating_point() and torch.finfo(value.dtype).eps < torch.finfo(self.dtype).eps:
            value = value.to(self.dtype)
        if not torch.compiler.is_compiling():
            super()._validate_sample(value)
            return
        # Dynamo cannot branch on data: the support check becomes an assertion in
        # the compiled graph, so that an invalid value still raises.
        _check_sample_shape(value, self.batch_shape, self.event_shape)
        torch._assert_async(
            self.support.check(value).all(),
            f"Expected value argument to be within the support ({self.support!r}) "
            f"of the distribution {type(self).__name__}.",
        )

    def _reject_straight_through(self, value):
        if is_straight_through(value):
            raise ValueError(
                f"{type(self).__name__}.log_prob received a straight-through sample: a "
                "relaxed density is zero or infinite at the discrete points that "
                "straight-through distributions return. Score it with a straight-through "
                "distribution or with OneHotCategorical/Bernoulli (the discrete ELBO), or "
                "draw it from a relaxed distribution (the relaxed ELBO)."
            )

    def _result_dtypes(self, value):
        """The dtype ``log_prob(value)`` returns, and the dtype it computes in."""
        result_dtype = torch.promote_types(self.dtype, value.dtype)
        if not result_dtype.is_floating_point:
            result_dtype = self.dtype
        return result_dtype, compute_dtype(result_dtype)


class StraightThroughMixin:
    """
    What the straight-through distributions share: exact discrete forward values
    with the law of ``probs``, the gradient given by ``estimator``, zero
    probabilities allowed, an enumerable support, and the discrete moments.

    The defaults, ReinMax at temperature 1, are those that did best across the
    benchmark suite of discrete-latent models (``docs/source/defaults.rst``).
    """

    has_enumerate_support = True
    _allow_degenerate_probs = True
    _expand_attributes = ("estimator", "rao_samples")

    def __init__(
        self,
        temperature=1.0,
        probs=None,
        logits=None,
        *,
        estimator="reinmax",
        rao_samples=10,
        validate_args=None,
    ):
        check_estimator(estimator, rao_samples, temperature)
        super().__init__(temperature, probs, logits, validate_args=validate_args)
        self.estimator = estimator
        self.rao_samples = rao_samples

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def score_parts(self, x, *args, **kwargs):
        log_prob = self.log_prob(x, *args, **kwargs)
        if self.has_rsample and (x.requires_grad or is_straight_through(x)):
            # A sample of the family (also one drawn without gradient, as Pyro treats
            # every distribution with rsample), or a value with a pathwise gradient.
            # A subclass without rsample is an ordinary discrete site.
            return ScoreParts(log_prob=log_prob, score_function=0, entropy_term=log_prob)
        # Any other value -- the support enumerated by TraceEnum_ELBO -- is scored as
        # a discrete site, so that enumeration weights it by its probability.
        return ScoreParts(log_prob=log_prob, score_function=log_prob, entropy_term=0)
