# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""Bad input gets a ValueError (or TypeError) that names the argument."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
)
from pyro_concrete.constraints import simplex_tolerance
from tests.common import ignore_reinmax_temperature_warning

pytestmark = ignore_reinmax_temperature_warning

CATEGORICAL = [
    RelaxedCategoricalConcrete,
    ExpRelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
]
BERNOULLI = [RelaxedBernoulliConcrete, RelaxedBernoulliConcreteStraightThrough]
ALL = CATEGORICAL + BERNOULLI
RELAXED = [RelaxedCategoricalConcrete, ExpRelaxedCategoricalConcrete, RelaxedBernoulliConcrete]


def _logits(dist_class, shape=(3, 4)):
    return torch.randn(shape if dist_class in CATEGORICAL else shape[:-1])


BAD_TEMPERATURES = [
    (0.0, ValueError),
    (-1.0, ValueError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    (torch.tensor(0.0), ValueError),
    (torch.tensor([0.5, -0.1, 1.0]), ValueError),
    (torch.tensor([0.5, math.nan, 1.0]), ValueError),
    (torch.tensor(math.inf), ValueError),
    ("0.5", TypeError),
    (None, TypeError),
    (True, TypeError),
    ([0.5], TypeError),
    (torch.tensor(True), TypeError),
    (torch.tensor([0.5, 1.0]), ValueError),  # shape (2,) vs batch (3,)
]


@pytest.mark.parametrize("dist_class", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("temperature, error", BAD_TEMPERATURES, ids=repr)
def test_bad_temperature(dist_class, temperature, error):
    with pytest.raises(error, match="temperature"):
        dist_class(temperature, logits=_logits(dist_class))


def test_temperature_validation_is_skipped_with_validate_args_false():
    d = RelaxedCategoricalConcrete(torch.tensor(-1.0), logits=torch.randn(4), validate_args=False)
    assert d.temperature == -1.0
    with pytest.raises(ValueError, match="temperature"):  # a Python number is always checked
        RelaxedCategoricalConcrete(-1.0, logits=torch.randn(4), validate_args=False)


def _rejects_logit(dist_class, bad):
    """NaN is never a logit; relaxed densities need finite ones; +inf is no categorical logit."""
    if math.isnan(bad) or dist_class in RELAXED:
        return True
    return bad == math.inf and dist_class in CATEGORICAL


@pytest.mark.parametrize("dist_class", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_bad_logits(dist_class, bad):
    logits = _logits(dist_class)
    logits.view(-1)[1] = bad
    if _rejects_logit(dist_class, bad):
        with pytest.raises(ValueError, match="logits"):
            dist_class(0.5, logits=logits)
    else:  # infinite logits are probabilities of 0 (or 1), as in torch's discrete classes
        d = dist_class(0.5, logits=logits)
        assert torch.isfinite(d.log_prob(d.sample())).all()


@pytest.mark.parametrize("dist_class", CATEGORICAL, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "probs",
    [[0.5, -0.1, 0.6], [0.5, math.nan, 0.5], [0.0, 0.0, 0.0], [0.5, math.inf, 0.5]],
    ids=["negative", "nan", "all-zero", "inf"],
)
def test_bad_probs(dist_class, probs):
    with pytest.raises(ValueError, match="probs"):
        dist_class(0.5, probs=torch.tensor(probs))


@pytest.mark.parametrize("dist_class", BERNOULLI, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "probs", [[0.5, -0.1], [0.5, 1.5], [math.nan, 0.5]], ids=["negative", "above-one", "nan"]
)
def test_bad_bernoulli_probs(dist_class, probs):
    with pytest.raises(ValueError, match="probs"):
        dist_class(0.5, probs=torch.tensor(probs))


@pytest.mark.parametrize("dist_class", RELAXED, ids=lambda c: c.__name__)
def test_relaxed_distributions_need_positive_probs(dist_class):
    probs = torch.tensor([0.0, 0.5, 0.5]) if dist_class in CATEGORICAL else torch.tensor([0.0, 0.5])
    with pytest.raises(ValueError, match="probs must .* relaxed"):
        dist_class(0.5, probs=probs)


@pytest.mark.parametrize("dist_class", ALL, ids=lambda c: c.__name__)
def test_both_or_neither_of_probs_and_logits(dist_class):
    logits = _logits(dist_class)
    with pytest.raises(ValueError, match="probs or logits.*both"):
        dist_class(0.5, probs=logits.sigmoid(), logits=logits)
    with pytest.raises(ValueError, match="probs or logits.*neither"):
        dist_class(0.5)


@pytest.mark.parametrize("dist_class", CATEGORICAL, ids=lambda c: c.__name__)
def test_category_dimension(dist_class):
    with pytest.raises(ValueError, match="logits must have at least one dimension"):
        dist_class(0.5, logits=torch.tensor(0.3))
    with pytest.raises(ValueError, match="probs must have at least one category"):
        dist_class(0.5, probs=torch.ones(3, 0))


@pytest.mark.parametrize("dist_class", ALL, ids=lambda c: c.__name__)
def test_param_types(dist_class):
    with pytest.raises(TypeError, match="logits must be a Tensor"):
        dist_class(0.5, logits="abc")
    with pytest.raises(TypeError, match="logits must have a floating point dtype"):
        dist_class(0.5, logits=torch.tensor([1, 2, 3]))


VALUE_CASES = {
    RelaxedCategoricalConcrete: {
        "off-support": torch.tensor([0.5, 0.7, 0.1]),
        "negative": torch.tensor([1.2, -0.2, 0.0]),
        "nan": torch.tensor([math.nan, 0.5, 0.5]),
        "event-size": torch.tensor([0.5, 0.5]),
    },
    ExpRelaxedCategoricalConcrete: {
        "off-support": torch.tensor([-1.0, -1.0, -1.0]),
        "positive": torch.tensor([0.5, -2.0, -3.0]),
        "nan": torch.tensor([math.nan, -1.0, -1.0]),
        "event-size": torch.tensor([0.0, -math.inf]),
    },
    RelaxedCategoricalConcreteStraightThrough: {
        "soft": torch.tensor([0.2, 0.3, 0.5]),
        "two-hot": torch.tensor([1.0, 1.0, 0.0]),
        "nan": torch.tensor([math.nan, 0.0, 1.0]),
        "event-size": torch.tensor([1.0, 0.0]),
    },
    RelaxedBernoulliConcrete: {
        "above-one": torch.tensor([1.5, 0.5]),
        "negative": torch.tensor([-0.1, 0.5]),
        "nan": torch.tensor([math.nan, 0.5]),
    },
    RelaxedBernoulliConcreteStraightThrough: {
        "soft": torch.tensor([0.5, 1.0]),
        "nan": torch.tensor([math.nan, 1.0]),
    },
}


@pytest.mark.parametrize(
    "dist_class, case",
    [(c, k) for c, cases in VALUE_CASES.items() for k in cases],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_bad_values(dist_class, case):
    value = VALUE_CASES[dist_class][case]
    shape = (2, 3) if dist_class in CATEGORICAL else (2,)
    d = dist_class(0.5, logits=torch.randn(shape))
    with pytest.raises(ValueError, match="value"):
        d.log_prob(value)


@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str
)
@pytest.mark.parametrize("num_categories", [2, 1000, 100_000])
def test_own_samples_never_rejected(dtype, num_categories):
    """Validation tolerances scale with the dtype and the number of categories."""
    for temperature in [1e-3, 1.0, 1e3]:
        logits = (torch.randn(4, num_categories) * 3).to(dtype)
        for dist_class in CATEGORICAL:
            d = dist_class(temperature, logits=logits, validate_args=True)
            x = d.sample((3,))
            d.log_prob(x)
            d.log_prob(x.detach().clone())  # also without the carried coordinates
    assert simplex_tolerance(torch.float32, 10) < 1e-5
    assert simplex_tolerance(torch.float32, 100_000) < 2e-3
    # A float32 value cast to float64 keeps float32's rounding: wider dtypes get
    # float32's tolerance, about torch's fixed 1e-6.
    assert simplex_tolerance(torch.float64, 10) == simplex_tolerance(torch.float32, 10)


@pytest.mark.parametrize("prior_class", [RelaxedCategoricalConcrete, ExpRelaxedCategoricalConcrete])
def test_straight_through_sample_scored_by_relaxed_prior_is_a_clear_error(prior_class):
    x = RelaxedCategoricalConcreteStraightThrough(
        0.5, logits=torch.randn(3), estimator="straight_through"
    ).rsample()
    with pytest.raises(ValueError, match="straight-through sample"):
        prior_class(0.5, logits=torch.zeros(3)).log_prob(x)
    bit = RelaxedBernoulliConcreteStraightThrough(
        0.5, logits=torch.randn(3), estimator="straight_through"
    ).rsample()
    with pytest.raises(ValueError, match="straight-through sample"):
        RelaxedBernoulliConcrete(0.5, logits=torch.zeros(3)).log_prob(bit)


def test_straight_through_guide_with_relaxed_prior_in_svi_is_a_clear_error():
    """Pyro's own classes give "Encountered NaN: loss" here; ours say what is wrong."""

    def model():
        pyro.sample("z", dist.RelaxedCategoricalConcrete(0.5, logits=torch.zeros(4)))

    def guide():
        logits = pyro.param("logits", torch.zeros(4))
        pyro.sample(
            "z",
            dist.RelaxedCategoricalConcreteStraightThrough(
                0.5, logits=logits, estimator="straight_through"
            ),
        )

    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    with pytest.raises(ValueError, match="straight-through sample"):
        svi.step()


def test_overflowing_temperature_is_a_clear_error():
    with pytest.raises(ValueError, match="temperature .* too small"):
        RelaxedCategoricalConcrete(
            torch.tensor(1e-36, dtype=torch.float32), logits=torch.randn(3).float() * 1e4
        )
    # float64 has the range for it.
    d = RelaxedCategoricalConcrete(torch.tensor(1e-36), logits=torch.randn(3) * 1e4)
    assert torch.isfinite(d.log_prob(d.rsample()))


def test_samples_of_another_kind_are_checked():
    """Trusting our own samples' support is per kind: other values are still checked."""
    bits = RelaxedBernoulliConcreteStraightThrough(
        0.5, probs=torch.ones(4, 3), estimator="straight_through"
    ).sample()  # all ones
    categorical = RelaxedCategoricalConcreteStraightThrough(
        0.5, logits=torch.zeros(3), estimator="straight_through"
    )
    with pytest.raises(ValueError, match="value"):
        categorical.log_prob(bits)
    relaxed = RelaxedCategoricalConcrete(0.5, logits=torch.zeros(3)).sample((4,))
    with pytest.raises(ValueError, match="value"):
        ExpRelaxedCategoricalConcrete(0.5, logits=torch.zeros(3)).log_prob(relaxed)
    with pytest.raises(ValueError, match="event_shape"):
        RelaxedCategoricalConcrete(0.5, logits=torch.zeros(4)).log_prob(relaxed)


@pytest.mark.parametrize("dist_class", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", [1, 0.5, [0.5, 0.5], None], ids=repr)
def test_log_prob_of_a_non_tensor_is_a_clear_error(dist_class, value):
    d = dist_class(0.5, logits=_logits(dist_class))
    with pytest.raises(ValueError, match=f"{dist_class.__name__}.log_prob expects a torch.Tensor"):
        d.log_prob(value)


@pytest.mark.parametrize("dist_class", ALL, ids=lambda c: c.__name__)
def test_samples_cast_to_a_wider_dtype_are_accepted(dist_class):
    """A float32 sample cast with .double() keeps float32's rounding; torch accepts it."""
    logits = _logits(dist_class, shape=(64, 1000))
    sample = dist_class(0.5, logits=logits.float()).sample()
    d64 = dist_class(0.5, logits=logits.double(), validate_args=True)
    assert torch.isfinite(d64.log_prob(sample.double())).all()


@pytest.mark.parametrize("dist_class", ALL, ids=lambda c: c.__name__)
def test_expand_guards_subclasses_with_their_own_init(dist_class):
    """torch's _get_checked_instance: a subclass with a new __init__ must define expand."""

    class WithOwnInit(dist_class):
        def __init__(self, logits):
            super().__init__(0.5, logits=logits)

    with pytest.raises(NotImplementedError, match="expand"):
        WithOwnInit(_logits(dist_class)).expand((2, 3))

    class Plain(dist_class):
        pass

    expanded = Plain(0.5, logits=_logits(dist_class, shape=(1, 4))).expand((5,))
    assert type(expanded) is Plain and expanded.batch_shape == (5,)
