# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import math

import torch
from torch.distributions import biject_to, constraints, transform_to
from torch.distributions.transforms import (
    SigmoidTransform,
    SoftmaxTransform,
    StickBreakingTransform,
)

from pyro_concrete.constraints import concrete_simplex, concrete_unit_interval, log_simplex
from pyro_concrete.transforms import (
    AdditiveLogisticTransform,
    LogAdditiveLogisticTransform,
    UnclippedSigmoidTransform,
)


def test_checks():
    assert concrete_simplex.check(torch.tensor([0.2, 0.8, 0.0]))
    assert not concrete_simplex.check(torch.tensor([0.2, 0.7, 0.0]))
    assert not concrete_simplex.check(torch.tensor([1.2, -0.2]))
    assert not concrete_simplex.check(torch.tensor([math.nan, 1.0]))
    assert log_simplex.check(torch.tensor([0.2, 0.8]).log())
    assert not log_simplex.check(torch.tensor([0.2, 0.7]).log())
    assert not log_simplex.check(torch.tensor([0.0, -math.inf]))
    assert not log_simplex.check(torch.tensor([1, 0]))
    assert concrete_unit_interval.check(torch.tensor([0.0, 0.5, 1.0])).all()
    assert not concrete_unit_interval.check(torch.tensor([1.01, -0.01])).any()


def test_tolerance_scales_with_dtype():
    x = torch.tensor([0.2, 0.8 + 1e-4])
    assert not concrete_simplex.check(x)
    assert concrete_simplex.check(x.half())  # within float16 rounding


def test_refine_torch_constraints():
    assert isinstance(concrete_simplex, type(constraints.simplex))
    assert isinstance(concrete_unit_interval, type(constraints.unit_interval))
    assert concrete_simplex.event_dim == 1 and log_simplex.event_dim == 1
    assert not concrete_simplex.is_discrete


def test_registered_bijections():
    assert isinstance(biject_to(concrete_simplex), AdditiveLogisticTransform)
    assert isinstance(transform_to(concrete_simplex), AdditiveLogisticTransform)
    assert isinstance(biject_to(log_simplex), LogAdditiveLogisticTransform)
    assert isinstance(transform_to(log_simplex), LogAdditiveLogisticTransform)
    assert isinstance(biject_to(concrete_unit_interval), UnclippedSigmoidTransform)
    assert isinstance(transform_to(concrete_unit_interval), UnclippedSigmoidTransform)


def test_torch_constraints_untouched():
    assert isinstance(biject_to(constraints.simplex), StickBreakingTransform)
    assert isinstance(transform_to(constraints.simplex), SoftmaxTransform)
    assert isinstance(biject_to(constraints.unit_interval), SigmoidTransform)
