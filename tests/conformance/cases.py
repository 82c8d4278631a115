# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The fixture table of the conformance suites, in the manner of Pyro's
``tests/distributions/conftest.py`` and torch's ``EXAMPLES``: each of our five
distributions with several temperatures (Python number, 0-dim tensor, batched
tensor, one that broadcasts the batch), batch shapes, ``probs`` and ``logits``,
K = 2..5 categories and, for the straight-through classes, every estimator and
degenerate probabilities.

It also holds what the suites compare against: float64 references of the
closed-form densities, torch's corresponding classes, and values in each support
that are written by hand rather than sampled.
"""

import math
from typing import Callable, NamedTuple

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    OneHotCategoricalStraightThrough,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    constraints,
)
from torch.distributions.relaxed_categorical import ExpRelaxedCategorical

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedBernoulliConcrete,
    RelaxedBernoulliConcreteStraightThrough,
    RelaxedCategoricalConcrete,
    RelaxedCategoricalConcreteStraightThrough,
    StraightThroughTransform,
)
from pyro_concrete.constraints import log_simplex
from pyro_concrete.transforms import (
    AdditiveLogisticTransform,
    LogAdditiveLogisticTransform,
    UnclippedSigmoidTransform,
)
from tests.common import STRAIGHT_THROUGH, with_straight_through_estimator

RELAXED_CATEGORICAL = (RelaxedCategoricalConcrete, ExpRelaxedCategoricalConcrete)
CATEGORICAL = RELAXED_CATEGORICAL + (RelaxedCategoricalConcreteStraightThrough,)
BERNOULLI = (RelaxedBernoulliConcrete, RelaxedBernoulliConcreteStraightThrough)
RELAXED = RELAXED_CATEGORICAL + (RelaxedBernoulliConcrete,)
CLASSES = CATEGORICAL + BERNOULLI

#: torch's class for each of ours: the same law (and, for the relaxed ones, the
#: same density convention), with a temperature that broadcasts against the
#: category dimension instead of the batch shape.
TORCH_ANALOGUE = {
    RelaxedCategoricalConcrete: RelaxedOneHotCategorical,
    ExpRelaxedCategoricalConcrete: ExpRelaxedCategorical,
    RelaxedCategoricalConcreteStraightThrough: OneHotCategoricalStraightThrough,
    RelaxedBernoulliConcrete: RelaxedBernoulli,
    RelaxedBernoulliConcreteStraightThrough: Bernoulli,
}

INF = math.inf

#: The intended difference seen by every Jacobian check in torch's convention.
ALR_CHART_JACOBIAN = (
    "intended: LogAdditiveLogisticTransform's Jacobian is taken in the additive-log-ratio "
    "chart of the log-simplex (zero), the chart of ExpRelaxedCategoricalConcrete's density; "
    "in the first K-1 coordinates it is log x_K"
)


class Case(NamedTuple):
    """One example: a class and a function that makes fresh parameters for it."""

    dist_class: type
    make_params: Callable[[], dict]
    label: str

    @property
    def name(self) -> str:
        return f"{self.dist_class.__name__}-{self.label}"

    def __repr__(self):
        return self.name

    def make(self, **kwargs):
        return self.dist_class(**self.make_params(), **kwargs)

    @property
    def is_categorical(self) -> bool:
        return self.dist_class in CATEGORICAL

    @property
    def is_straight_through(self) -> bool:
        return self.dist_class in STRAIGHT_THROUGH


def fixed_logits(*shape):
    """Fixed, varied logits (no random draw, so every run sees the same cases)."""
    return torch.arange(float(math.prod(shape))).reshape(shape).mul(1.7).sin().mul(2.0)


def _categorical_params():
    return [
        ("K2-float-temperature", lambda: dict(temperature=0.5, logits=torch.tensor([0.3, -0.2]))),
        (
            "K3-tensor-temperature-probs",
            lambda: dict(
                temperature=torch.tensor(2.0),
                probs=torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]),
            ),
        ),
        (
            "K3-unnormalised-probs",
            lambda: dict(temperature=torch.tensor(0.67), probs=torch.tensor([1.0, 2.0, 3.0])),
        ),
        (
            "K4-batched-temperature",
            lambda: dict(temperature=torch.tensor([0.3, 1.0]), logits=fixed_logits(2, 4)),
        ),
        (
            "K5-temperature-broadcasts-batch",
            lambda: dict(temperature=torch.tensor([[0.5], [1.5]]), logits=fixed_logits(3, 5)),
        ),
        (
            "K3-requires-grad",
            lambda: dict(
                temperature=torch.tensor([0.5], requires_grad=True),
                probs=torch.tensor([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]], requires_grad=True),
            ),
        ),
        (
            "K2-hot",
            lambda: dict(
                temperature=torch.tensor([7.2]), logits=torch.tensor([[-2.0, 2.0], [1.0, 5.0]])
            ),
        ),
    ]


def _categorical_straight_through_params():
    return [
        (
            "K4-gumbel-rao",
            lambda: dict(
                temperature=torch.tensor([0.3, 1.0], requires_grad=True),
                logits=fixed_logits(2, 4).requires_grad_(),
                estimator="gumbel_rao",
                rao_samples=5,
            ),
        ),
        (
            "K3-reinmax",
            lambda: dict(
                temperature=1.5, logits=fixed_logits(3).requires_grad_(), estimator="reinmax"
            ),
        ),
        (
            "K3-masked-logits",
            lambda: dict(
                temperature=0.5,
                logits=torch.tensor([[0.0, -INF, 1.0], [-INF, 2.0, -1.0]], requires_grad=True),
            ),
        ),
        (
            "K2-degenerate-probs",
            lambda: dict(
                temperature=torch.tensor([2.0]),
                probs=torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True),
            ),
        ),
    ]


def _bernoulli_params():
    return [
        ("float-temperature-scalar", lambda: dict(temperature=0.5, logits=torch.tensor(0.3))),
        (
            "tensor-temperature-probs",
            lambda: dict(temperature=torch.tensor(2.0), probs=torch.tensor([0.2, 0.7])),
        ),
        (
            "requires-grad",
            lambda: dict(
                temperature=torch.tensor([0.5], requires_grad=True),
                probs=torch.tensor([0.7, 0.2, 0.4], requires_grad=True),
            ),
        ),
        (
            "hot",
            lambda: dict(
                temperature=torch.tensor([7.2]), logits=torch.tensor([-2.0, 2.0, 1.0, 5.0])
            ),
        ),
        (
            "temperature-broadcasts-batch",
            lambda: dict(temperature=torch.tensor([[0.5], [1.5]]), logits=fixed_logits(3)),
        ),
    ]


def _bernoulli_straight_through_params():
    return [
        (
            "gumbel-rao",
            lambda: dict(
                temperature=torch.tensor([0.3, 1.0], requires_grad=True),
                logits=fixed_logits(2).requires_grad_(),
                estimator="gumbel_rao",
                rao_samples=5,
            ),
        ),
        (
            "reinmax",
            lambda: dict(
                temperature=1.5, logits=fixed_logits(3).requires_grad_(), estimator="reinmax"
            ),
        ),
        (
            "degenerate-probs",
            lambda: dict(temperature=0.5, probs=torch.tensor([0.0, 1.0, 0.3], requires_grad=True)),
        ),
        (
            "infinite-logits",
            lambda: dict(
                temperature=0.5, logits=torch.tensor([-INF, INF, 0.5], requires_grad=True)
            ),
        ),
    ]


def _cases():
    cases = []
    for dist_class in CLASSES:
        params = _categorical_params() if dist_class in CATEGORICAL else _bernoulli_params()
        if dist_class is RelaxedCategoricalConcreteStraightThrough:
            params += _categorical_straight_through_params()
        elif dist_class is RelaxedBernoulliConcreteStraightThrough:
            params += _bernoulli_straight_through_params()
        cases += [
            Case(dist_class, with_straight_through_estimator(dist_class, make_params), label)
            for label, make_params in params
        ]
    cases += [
        Case(
            RelaxedCategoricalConcreteStraightThrough,
            lambda: dict(logits=fixed_logits(2, 3)),
            "defaults",
        ),
        Case(
            RelaxedBernoulliConcreteStraightThrough,
            lambda: dict(logits=fixed_logits(2)),
            "defaults",
        ),
    ]
    return cases


CASES = _cases()


def cases_of(*classes):
    return [case for case in CASES if case.dist_class in classes]


def parametrize_classes(classes):
    """``pytest.mark.parametrize`` over distribution classes, named by class."""
    return pytest.mark.parametrize("dist_class", classes, ids=lambda c: c.__name__)


def parametrize_cases(cases):
    """``pytest.mark.parametrize`` over ``cases``, each named by its case."""
    return pytest.mark.parametrize("case", cases, ids=[case.name for case in cases])


# ---------------------------------------------------------------------------
# References, computed in float64 from the closed forms (not from our code).
# ---------------------------------------------------------------------------


def unnormalised_logits(params, binary: bool) -> torch.Tensor:
    """The logits the parameters stand for, in float64 (log-odds for ``binary``)."""
    if params.get("logits") is not None:
        return params["logits"].detach().double()
    probs = params["probs"].detach().double()
    return probs.log() - (1 - probs).log() if binary else probs.log()


def _temperature(params, param_batch_shape) -> torch.Tensor:
    """The temperature in float64, broadcast with the batch shape of the parameters."""
    # 1 where the case keeps the straight-through classes' default.
    temperature = torch.as_tensor(params.get("temperature", 1.0)).detach().double()
    return temperature.expand(torch.broadcast_shapes(temperature.shape, param_batch_shape))


def reference_log_prob(dist_class, params, value) -> torch.Tensor:
    r"""
    The log density (or mass) of ``value`` under ``dist_class(**params)``, in
    float64, from the closed forms of Maddison et al. (2017):
    :math:`\log\big[(K-1)!\,\tau^{K-1} \prod_k \alpha_k x_k^{-\tau-1} /
    (\sum_i \alpha_i x_i^{-\tau})^K\big]` and its binary and log-space forms.
    """
    binary = dist_class in BERNOULLI
    theta = unnormalised_logits(params, binary)
    value = value.detach().double()
    batch_shape = theta.shape if binary else theta.shape[:-1]
    if dist_class is RelaxedCategoricalConcreteStraightThrough:
        log_probs = theta - theta.logsumexp(-1, keepdim=True)
        return torch.where(value > 0, value * log_probs, 0.0).sum(-1)
    if dist_class is RelaxedBernoulliConcreteStraightThrough:
        log_p, log_q = -torch.nn.functional.softplus(-theta), -torch.nn.functional.softplus(theta)
        return torch.where(value > 0, log_p, 0.0) + torch.where(value < 1, log_q, 0.0)
    temperature = _temperature(params, batch_shape)
    if binary:
        log_x, log_1mx = value.log(), (-value).log1p()
        scores = torch.stack([theta - temperature * log_x, -temperature * log_1mx], -1).logsumexp(
            -1
        )
        return temperature.log() + theta - (temperature + 1) * (log_x + log_1mx) - 2 * scores
    log_x = value if dist_class is ExpRelaxedCategoricalConcrete else value.log()
    num_categories = theta.shape[-1]
    tau = temperature.unsqueeze(-1)
    log_density = (
        math.lgamma(num_categories)
        + (num_categories - 1) * temperature.log()
        + (theta - (tau + 1) * log_x).sum(-1)
        - num_categories * (theta - tau * log_x).logsumexp(-1)
    )
    if dist_class is ExpRelaxedCategoricalConcrete:
        log_density = log_density + log_x.sum(-1)
    return log_density


def torch_log_prob(case: Case, value) -> torch.Tensor:
    """
    ``log_prob`` of torch's corresponding class, batch element by batch element,
    with that element's temperature as a scalar (torch broadcasts a temperature
    tensor against the category dimension, not the batch).
    """
    d = case.make()
    params = {
        k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in case.make_params().items()
    }
    params.pop("estimator", None)
    params.pop("rao_samples", None)
    torch_class = TORCH_ANALOGUE[case.dist_class]
    event_shape = d.event_shape
    batch_numel = d.batch_shape.numel()
    sample_shape = value.shape[: value.dim() - len(d.batch_shape) - len(event_shape)]
    value = value.expand(sample_shape + d.batch_shape + event_shape)
    value = value.reshape(sample_shape + (batch_numel,) + event_shape)
    given = "logits" if params.get("logits") is not None else "probs"
    param = params[given].expand(d.batch_shape + event_shape).reshape((batch_numel,) + event_shape)
    temperature = _temperature(params, d.batch_shape).reshape(batch_numel)
    results = []
    for i in range(batch_numel):
        kwargs = {given: param[i]}
        if case.dist_class not in STRAIGHT_THROUGH:
            kwargs["temperature"] = temperature[i]
        results.append(
            torch_class(**kwargs, validate_args=False).log_prob(
                value[..., i, :] if event_shape else value[..., i]
            )
        )
    return torch.stack(results, -1).reshape(sample_shape + d.batch_shape)


def support_points(d) -> torch.Tensor:
    """
    Two values in the support of ``d``, written by hand (not sampled), of shape
    ``(2,) + batch_shape + event_shape``.
    """
    batch_shape, event_shape = d.batch_shape, d.event_shape
    if isinstance(d, BERNOULLI):
        points = torch.tensor([0.0, 1.0] if isinstance(d, STRAIGHT_THROUGH) else [0.3, 0.8])
        return points.reshape((2,) + (1,) * len(batch_shape)).expand((2,) + batch_shape)
    num_categories = event_shape[0]
    if isinstance(d, RelaxedCategoricalConcreteStraightThrough):
        points = torch.eye(num_categories)[[0, num_categories - 1]]
    else:
        points = torch.linspace(-1.0, 1.0, num_categories)
        points = torch.stack([points, points.flip(0) * 2]).log_softmax(-1)
        if not isinstance(d, ExpRelaxedCategoricalConcrete):
            points = points.exp()
    points = points.reshape((2,) + (1,) * len(batch_shape) + event_shape)
    return points.expand((2,) + batch_shape + event_shape).to(d.dtype)


# ---------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------


def make_transforms(cache_size: int):
    """Our four transforms and their inverses."""
    transforms = [
        AdditiveLogisticTransform(cache_size=cache_size),
        LogAdditiveLogisticTransform(cache_size=cache_size),
        UnclippedSigmoidTransform(cache_size=cache_size),
        StraightThroughTransform(cache_size=cache_size),
    ]
    return transforms + [t.inv for t in transforms]


def transform_id(transform) -> str:
    name = type(transform).__name__
    if name == "_InverseTransform":
        name = f"Inv({type(transform.inv).__name__})"
    return f"{name}(cache_size={transform._cache_size})"


def transform_data(transform, batch_shape=(3,), num_categories=5) -> torch.Tensor:
    """
    Points of the domain of ``transform`` (one of ours, or an inverse of one), in
    the manner of torch's ``generate_data``: ``batch_shape`` events of
    ``num_categories`` categories for the simplex transforms.
    """
    domain = transform.domain
    shape = torch.Size(batch_shape)
    if domain.event_dim == 0:
        points = torch.randn(shape + (num_categories,))
        return points if not isinstance(domain, constraints.interval) else points.sigmoid()
    if isinstance(transform, StraightThroughTransform) or isinstance(
        domain, type(constraints.simplex)
    ):
        return torch.randn(shape + (num_categories,)).softmax(-1)
    if isinstance(domain, type(constraints.one_hot)):
        return torch.nn.functional.one_hot(torch.randint(num_categories, shape), num_categories).to(
            torch.get_default_dtype()
        )
    if domain is log_simplex:
        return torch.randn(shape + (num_categories,)).log_softmax(-1)
    return torch.randn(shape + (num_categories - 1,))
