# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Supports of the Concrete family.

Each class refines a torch constraint (``isinstance`` checks keep working) but is
a type of its own: :func:`~torch.distributions.constraint_registry.biject_to` and
:func:`~torch.distributions.constraint_registry.transform_to` dispatch on the
exact type, so registering transforms for these classes leaves torch's own
constraints, and every distribution that uses them, untouched.

Membership checks use a tolerance that scales with the value's dtype and the
number of terms summed, so that values computed in float16 or float32 -- in
particular our own samples -- are not rejected for rounding.
"""

import math

import torch
from torch.distributions import constraints

__all__ = [
    "concrete_simplex",
    "concrete_unit_interval",
    "log_simplex",
]


def simplex_tolerance(dtype: torch.dtype, size: int) -> float:
    """
    Absolute tolerance for ``sum(x) == 1`` (or ``logsumexp(y) == 0``) over ``size``
    terms of dtype ``dtype``: rounding each term to ``dtype`` moves the sum by at
    most ``eps``; accumulating ``size`` terms (in float32 for half precision, as
    torch does) adds an error that grows with ``size`` -- measured below
    ``size * eps / 1000`` for torch's reductions, bounded here by ``size * eps / 8``.
    A value computed in float32 and cast to float64 keeps float32's rounding, so
    wider dtypes get float32's tolerance (torch's own simplex check uses ``1e-6``).
    """
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    eps = max(torch.finfo(dtype).eps, torch.finfo(torch.float32).eps)
    accumulate_eps = min(eps, torch.finfo(torch.float32).eps)
    return 8 * eps + size * accumulate_eps / 8


class _ConcreteSimplex(constraints._Simplex):
    """
    The probability simplex ``x >= 0, sum(x) == 1`` with a dtype-scaled tolerance.
    Its bijection is :class:`~pyro_concrete.transforms.AdditiveLogisticTransform`,
    which works in log space.
    """

    def check(self, value):
        tolerance = simplex_tolerance(value.dtype, value.size(-1))
        # Reductions rather than elementwise masks: no temporary of the value's size.
        # A NaN fails both comparisons.
        return (value.amin(-1) >= 0) & ((value.sum(-1) - 1).abs() <= tolerance)


class _LogSimplex(constraints.Constraint):
    """
    Logarithms of points of the open simplex: finite ``y`` with
    ``logsumexp(y) == 0`` (up to a dtype-scaled tolerance). This is the support of
    :class:`~pyro_concrete.distributions.ExpRelaxedCategoricalConcrete`. Densities
    on it are taken in the additive-log-ratio chart ``z_k = y_k - y_K``.
    """

    event_dim = 1

    def check(self, value):
        if not value.is_floating_point():
            return torch.zeros(value.shape[:-1], dtype=torch.bool, device=value.device)
        tolerance = simplex_tolerance(value.dtype, value.size(-1))
        if value.dtype in (torch.float16, torch.bfloat16):
            value = value.float()  # reduce half-precision values in float32
        low, high = value.aminmax(dim=-1)
        # -inf (a zero coordinate) is not a point of the log-simplex; NaN fails every test.
        return (low > -math.inf) & (high <= tolerance) & (value.logsumexp(-1).abs() <= tolerance)


class _ConcreteUnitInterval(constraints._Interval):
    """
    The closed unit interval ``[0, 1]``, the support of the binary Concrete
    distribution. Its bijection is
    :class:`~pyro_concrete.transforms.UnclippedSigmoidTransform`.
    """

    def __init__(self):
        super().__init__(0.0, 1.0)

    def __repr__(self):
        return "ConcreteUnitInterval()"


concrete_simplex = _ConcreteSimplex()
concrete_unit_interval = _ConcreteUnitInterval()
log_simplex = _LogSimplex()
