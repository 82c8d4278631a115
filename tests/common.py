# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""What several test modules share."""

import pytest

from pyro_concrete import (
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcreteStraightThrough,
)

STRAIGHT_THROUGH = (
    RelaxedCategoricalConcreteStraightThrough,
    RelaxedBernoulliConcreteStraightThrough,
)

# The straight-through classes default to ReinMax, which warns for a temperature below 1.
# Modules that check every class at such temperatures for something other than the
# gradient (validation, shapes, tracing) run the default estimator without that warning.
ignore_reinmax_temperature_warning = pytest.mark.filterwarnings(
    "ignore:estimator='reinmax' \\(the straight-through distributions' default\\) uses:UserWarning"
)


def with_straight_through_estimator(dist_class, make_params):
    """
    ``make_params`` with ``estimator="straight_through"`` for the straight-through classes:
    the generic cases are written for any temperature, and ReinMax, their default, is
    defined from temperature 1 (the "defaults" cases keep every default).
    """
    if dist_class not in STRAIGHT_THROUGH:
        return make_params

    def params():
        return {"estimator": "straight_through", **make_params()}

    return params
