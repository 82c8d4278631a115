# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import pyro.distributions as pyro_distributions

from pyro_concrete.distributions import kl  # noqa: F401  (registers KL divergences)
from pyro_concrete.distributions.relaxed_bernoulli import (
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
)
from pyro_concrete.distributions.relaxed_categorical import (
    ExpRelaxedCategoricalConcrete,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)

__all__ = [
    "ExpRelaxedCategoricalConcrete",
    "RelaxedBernoulliConcrete",
    "RelaxedBernoulliConcreteStraightThrough",
    "RelaxedCategoricalConcrete",
    "RelaxedCategoricalConcreteStraightThrough",
]

# Register our distributions as pyro.distributions.<Name>. Names only: a name
# Pyro already defines is an error, never replaced.
for _name in __all__:
    _existing = getattr(pyro_distributions, _name, None)
    if _existing is None:
        setattr(pyro_distributions, _name, globals()[_name])
    elif _existing is not globals()[_name]:
        raise ImportError(
            f"pyro.distributions.{_name} already exists; pyro_concrete will not replace it."
        )
