# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The fixture table: one entry per distribution and parameter shape, run through
the generic checks in ``test_generic.py``.
"""

from typing import Callable, NamedTuple

import torch

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from tests.common import with_straight_through_estimator

CATEGORICAL = (
    RelaxedCategoricalConcrete,
    ExpRelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
BERNOULLI = (RelaxedBernoulliConcrete, RelaxedBernoulliConcreteStraightThrough)


class Fixture(NamedTuple):
    dist_class: type
    make_params: Callable[[], dict]
    name: str

    def make(self, **kwargs):
        return self.dist_class(**self.make_params(), **kwargs)

    def __repr__(self):
        return self.name


def _categorical_params():
    return [
        (
            "scalar-temperature",
            lambda: dict(temperature=0.5, logits=torch.tensor([0.1, -1.0, 0.5])),
        ),
        (
            "tensor-temperature-probs",
            lambda: dict(
                temperature=torch.tensor(2.0),
                probs=torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]),
            ),
        ),
        (
            "batched-temperature",
            lambda: dict(temperature=torch.tensor([0.3, 1.0]), logits=torch.randn(2, 4)),
        ),
        (
            "temperature-broadcasts-batch",
            lambda: dict(temperature=torch.tensor([[0.5], [1.5]]), logits=torch.randn(3, 5)),
        ),
    ]


def _bernoulli_params():
    return [
        ("scalar-temperature", lambda: dict(temperature=0.5, logits=torch.tensor(0.3))),
        (
            "tensor-temperature-probs",
            lambda: dict(temperature=torch.tensor(2.0), probs=torch.tensor([0.2, 0.7])),
        ),
        (
            "temperature-broadcasts-batch",
            lambda: dict(temperature=torch.tensor([[0.5], [1.5]]), logits=torch.randn(3)),
        ),
    ]


def _estimator_params(logits_shape):
    return [
        (
            "gumbel-rao",
            lambda: dict(
                temperature=torch.tensor([0.3, 1.0]),
                logits=torch.randn(logits_shape),
                estimator="gumbel_rao",
            ),
        ),
        (
            "reinmax",
            lambda: dict(temperature=1.5, logits=torch.randn(logits_shape), estimator="reinmax"),
        ),
    ]


FIXTURES = (
    [
        Fixture(cls, with_straight_through_estimator(cls, make_params), f"{cls.__name__}-{label}")
        for classes, params in (
            (CATEGORICAL, _categorical_params()),
            (BERNOULLI, _bernoulli_params()),
        )
        for cls in classes
        for label, make_params in params
    ]
    + [
        Fixture(cls, make_params, f"{cls.__name__}-{label}")
        for cls, logits_shape in (
            (RelaxedCategoricalConcreteStraightThrough, (2, 4)),
            (RelaxedBernoulliConcreteStraightThrough, (2,)),
        )
        for label, make_params in _estimator_params(logits_shape)
    ]
    + [
        Fixture(
            RelaxedCategoricalConcreteStraightThrough,
            lambda: dict(logits=torch.randn(3, 4)),
            "RelaxedCategoricalConcreteStraightThrough-defaults",
        ),
        Fixture(
            RelaxedBernoulliConcreteStraightThrough,
            lambda: dict(probs=torch.rand(3)),
            "RelaxedBernoulliConcreteStraightThrough-defaults",
        ),
    ]
)
