# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.transforms import Transform

from pyro_concrete.constraints import concrete_simplex, concrete_unit_interval, log_simplex
from pyro_concrete.ops.carry import (
    EXACT,
    LOG,
    LOGIT,
    attach,
    exact_coordinates,
    log_coordinates,
    logit_coordinate,
    value_from_exact,
    value_from_log,
    value_from_logit,
)
from pyro_concrete.ops.dtype import compute_dtype, to_caller_dtype
from pyro_concrete.ops.special import fast_log_softmax

__all__ = [
    "AdditiveLogisticTransform",
    "LogAdditiveLogisticTransform",
    "UnclippedSigmoidTransform",
]


def _padded_log_softmax(z):
    z = z.to(compute_dtype(z.dtype))
    return fast_log_softmax(F.pad(z, (0, 1)))


class _AdditiveLogisticBase(Transform):
    domain = constraints.real_vector
    bijective = True

    def __eq__(self, other):
        return type(other) is type(self)

    def forward_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return shape[:-1] + (shape[-1] + 1,)

    def inverse_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return shape[:-1] + (shape[-1] - 1,)


class AdditiveLogisticTransform(_AdditiveLogisticBase):
    r"""
    The additive logistic transformation [1] from :math:`\mathbb{R}^{K-1}` onto the
    open simplex, :math:`x = \mathrm{softmax}(z_1, \dots, z_{K-1}, 0)`: the inverse of
    the additive log-ratio :math:`z_k = \log(x_k / x_K)`.

    Unlike :class:`~torch.distributions.transforms.StickBreakingTransform` it works
    in log space: the output carries its log coordinates, so a Concrete density
    evaluated at it stays exact when coordinates underflow to zero, and the
    Jacobian is computed from ``z``:

    .. math::

        \log \left| \det \frac{\partial x_{1:K-1}}{\partial z} \right| = \sum_{k=1}^{K} \log x_k .

    It is the bijection registered for
    :data:`~pyro_concrete.constraints.concrete_simplex`, so AutoGuides place a
    Normal on the additive log-ratio coordinates of a relaxed categorical site.

    **References**

    [1] John Aitchison (1986). The Statistical Analysis of Compositional Data.
    """

    codomain = concrete_simplex

    def _call(self, z):
        log_x = _padded_log_softmax(z)
        return attach(value_from_log(log_x, z.dtype), LOG, log_x)

    def _inverse(self, x):
        log_x, _ = log_coordinates(x, compute_dtype(x.dtype))
        return to_caller_dtype(log_x[..., :-1] - log_x[..., -1:], x.dtype)

    def log_abs_det_jacobian(self, z, x):
        # From z, which determines x: exact also where coordinates of x underflowed.
        return to_caller_dtype(_padded_log_softmax(z).sum(-1), z.dtype)


class LogAdditiveLogisticTransform(_AdditiveLogisticBase):
    r"""
    The logarithm of :class:`AdditiveLogisticTransform`,
    :math:`y = \mathrm{log\_softmax}(z_1, \dots, z_{K-1}, 0)`, from
    :math:`\mathbb{R}^{K-1}` onto the log-simplex.

    Its inverse is the additive log-ratio :math:`z_k = y_k - y_K`, the chart in
    which the ExpConcrete density of
    :class:`~pyro_concrete.distributions.ExpRelaxedCategoricalConcrete` is
    defined (the convention of Maddison et al., torch and TFP); in that chart the
    transform is the identity, so ``log_abs_det_jacobian`` is zero. It is the
    bijection registered for :data:`~pyro_concrete.constraints.log_simplex`.
    """

    codomain = log_simplex

    def _call(self, z):
        y = _padded_log_softmax(z)
        if y.dtype == z.dtype:
            return y
        return attach(value_from_exact(y, z.dtype), EXACT, y)

    def _inverse(self, y):
        y_exact, _ = exact_coordinates(y, compute_dtype(y.dtype))
        return to_caller_dtype(y_exact[..., :-1] - y_exact[..., -1:], y.dtype)

    def log_abs_det_jacobian(self, z, y):
        return z.new_zeros(z.shape[:-1])


class UnclippedSigmoidTransform(Transform):
    r"""
    The logistic function :math:`x = \sigma(z)` from the real line onto the unit
    interval, with :math:`\log |dx/dz| = -\mathrm{softplus}(-z) - \mathrm{softplus}(z)`.

    Unlike :class:`~torch.distributions.transforms.SigmoidTransform`, it neither
    clips its output nor its input to the inverse: the output carries its logit,
    so the binary Concrete density evaluated at it stays exact where
    :math:`\sigma(z)` rounds to 0 or 1. It is the bijection registered for
    :data:`~pyro_concrete.constraints.concrete_unit_interval`.
    """

    domain = constraints.real
    codomain = concrete_unit_interval
    bijective = True
    sign = +1

    def __eq__(self, other):
        return isinstance(other, UnclippedSigmoidTransform)

    def _call(self, z):
        logit = z.to(compute_dtype(z.dtype))
        return attach(value_from_logit(logit, z.dtype), LOGIT, logit)

    def _inverse(self, x):
        logit, _ = logit_coordinate(x, compute_dtype(x.dtype))
        return to_caller_dtype(logit, x.dtype)

    def log_abs_det_jacobian(self, z, x):
        return -F.softplus(-z) - F.softplus(z)
