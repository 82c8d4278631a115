# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import torch
from pyro.distributions.score_parts import ScoreParts
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import Distribution
from torch.distributions.utils import lazy_property

from pyro_concrete.distributions.util import (
    broadcast_temperature,
    carried,
    check_param_tensor,
    compute_dtype,
    noisy_scores,
    validate_parameters,
)
from pyro_concrete.estimators import check_estimator, check_reinmax_temperature


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
    returned in the parameters' dtype.

    Subclasses set ``_param_event_dim`` (1 for categorical parameters, 0 for
    Bernoulli ones) and define ``_compute_logits``, ``logits`` and ``probs``.
    """

    _param_event_dim = 1
    _allow_degenerate_probs = False
    #: kinds of carried records whose values lie in the support by construction
    _trusted_kinds = ()
    #: attributes that ``expand`` copies as they are
    _expand_attributes = ()

    def __init__(self, temperature, probs=None, logits=None, *, validate_args=None):
        event_dim = self._param_event_dim
        param, is_logits = check_param_tensor(probs, logits, event_dim)
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
        self._temperature = temperature
        if isinstance(temperature, torch.Tensor):
            self.temperature = temperature
        if is_logits:
            self._given_logits = param
        else:
            self._given_probs = param

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        param_shape = batch_shape + self.event_shape
        for name in (
            "_given_logits",
            "_given_probs",
            "_compute_logits",
            "logits",
            "probs",
            "_degenerate",
        ):
            value = self.__dict__.get(name)
            if value is not None:
                new.__dict__[name] = value.expand(param_shape)
        for name in self._expand_attributes:
            setattr(new, name, getattr(self, name))
        new._temperature = self._temperature
        if isinstance(self._temperature, torch.Tensor):
            new._temperature = new.temperature = self._temperature.expand(batch_shape)
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self):
        given = "logits" if "_given_logits" in self.__dict__ else "probs"
        parts = []
        for name, value in (("temperature", self._temperature), (given, self._param)):
            if isinstance(value, torch.Tensor):
                value = f"shape {tuple(value.shape)}" if value.numel() != 1 else value.item()
            parts.append(f"{name}: {value}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @lazy_property
    def _degenerate(self):
        """
        None, or where probs are 0 (or 1 for Bernoulli), which the straight-through
        distributions allow: there the logits are infinite and are kept out of the
        arithmetic (and the gradient) of sampling.
        """
        if not self._allow_degenerate_probs or "_given_probs" not in self.__dict__:
            return None
        probs = self._given_probs
        degenerate = (probs == 0) | (probs == 1) if self._param_event_dim == 0 else probs == 0
        return degenerate if bool(degenerate.any()) else None

    def _noisy_scores(self, noise, **kwargs):
        """``(logits + noise) / temperature`` in the compute dtype (see :func:`noisy_scores`)."""
        logits = self._compute_logits
        temperature = self._event_temperature(logits.dtype)
        return noisy_scores(logits, noise, temperature, self._degenerate, **kwargs)

    def _validate_sample(self, value):
        record = carried(value) if isinstance(value, torch.Tensor) else None
        if record is not None and record.kind in self._trusted_kinds:
            # A sample of the family lies in the support by construction (an
            # in-place change would have invalidated the record): check its shape only.
            _check_sample_shape(value, self.batch_shape, self.event_shape)
            return
        # A value wider than the distribution (a float16 sample cast to float64)
        # is checked at the distribution's precision.
        if (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and torch.finfo(value.dtype).eps < torch.finfo(self.dtype).eps
        ):
            value = value.to(self.dtype)
        super()._validate_sample(value)

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
        """The temperature as a tensor of the batch shape."""
        return self._param.new_tensor(self._temperature).expand(self.batch_shape)

    def _event_temperature(self, dtype):
        """The temperature, broadcastable against event-shaped tensors of ``dtype``."""
        if isinstance(self._temperature, float):
            return self._temperature
        temperature = self._temperature.to(dtype)
        return temperature.unsqueeze(-1) if self._param_event_dim else temperature

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
    """

    has_enumerate_support = True
    _allow_degenerate_probs = True
    _expand_attributes = ("estimator", "rao_samples")

    def __init__(
        self,
        temperature,
        probs=None,
        logits=None,
        *,
        estimator="straight_through",
        rao_samples=10,
        validate_args=None,
    ):
        check_estimator(estimator, rao_samples)
        super().__init__(temperature, probs, logits, validate_args=validate_args)
        if estimator == "reinmax":
            check_reinmax_temperature(self._temperature, self._validate_args)
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
        record = carried(x)
        if record is not None and record.kind in self._trusted_kinds:
            return ScoreParts(log_prob=log_prob, score_function=0, entropy_term=log_prob)
        # A value this straight-through distribution did not draw -- the support
        # enumerated by TraceEnum_ELBO -- has no reparameterised path: it is scored
        # as a discrete site, so that enumeration weights it by its probability.
        return ScoreParts(log_prob=log_prob, score_function=log_prob, entropy_term=0)
