# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
pyro-concrete: Concrete / Gumbel-Softmax relaxations of discrete latent variables
for Pyro.

Importing the package registers its distributions as ``pyro.distributions.<Name>``,
its KL divergences with :func:`torch.distributions.register_kl`, and the
bijections of its own constraints with ``biject_to`` and ``transform_to``.
"""

from pyro_concrete import (
    constraints,
    distributions,
    estimators,
    functional,
    infer,
    schedules,
    transforms,
)
from pyro_concrete.distributions import (
    ExpRelaxedCategoricalConcrete,
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.transforms import StraightThroughTransform

__version__ = "0.1.0"

__all__ = [
    "ExpRelaxedCategoricalConcrete",
    "RelaxedBernoulliConcrete",
    "RelaxedBernoulliConcreteStraightThrough",
    "RelaxedCategoricalConcrete",
    "RelaxedCategoricalConcreteStraightThrough",
    "StraightThroughTransform",
    "__version__",
    "constraints",
    "distributions",
    "estimators",
    "functional",
    "infer",
    "schedules",
    "transforms",
]
