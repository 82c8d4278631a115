# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

from torch.distributions import biject_to, transform_to

from pyro_concrete import constraints
from pyro_concrete.transforms.additive_logistic import (
    AdditiveLogisticTransform,
    LogAdditiveLogisticTransform,
    UnclippedSigmoidTransform,
)
from pyro_concrete.transforms.straight_through import StraightThroughTransform

__all__ = [
    "AdditiveLogisticTransform",
    "LogAdditiveLogisticTransform",
    "StraightThroughTransform",
    "UnclippedSigmoidTransform",
]

# ---------------------------------------------------------------------------
# Register transforms. Only our own constraint classes: torch's are untouched.
# ---------------------------------------------------------------------------


@biject_to.register(constraints._ConcreteSimplex)
@transform_to.register(constraints._ConcreteSimplex)
def _transform_to_concrete_simplex(constraint):
    return AdditiveLogisticTransform()


@biject_to.register(constraints._LogSimplex)
@transform_to.register(constraints._LogSimplex)
def _transform_to_log_simplex(constraint):
    return LogAdditiveLogisticTransform()


@biject_to.register(constraints._ConcreteUnitInterval)
@transform_to.register(constraints._ConcreteUnitInterval)
def _transform_to_concrete_unit_interval(constraint):
    return UnclippedSigmoidTransform()
