# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
(e) A factorial feature model: each of :math:`N = 200` points in
:math:`\mathbb{R}^{16}` is the sum of the feature vectors it has, out of
:math:`D` binary features, plus Gaussian noise,

.. math::

    A_d \sim \mathcal{N}(0, I), \quad \sigma \sim \mathrm{LogNormal}(0, 1), \quad
    b_{nd} \sim \mathrm{Bernoulli}(0.3), \quad
    x_n \sim \mathcal{N}\Big(\sum_d b_{nd} A_d,\ \sigma^2 I\Big).

The features of a point interact through the likelihood (explaining away), so
``TraceEnum_ELBO`` sums over :math:`2^D` configurations per point: exact and
affordable for :math:`D = 4, 8`, not for :math:`D = 16`. There, every method
trains for the same CPU time as the default and they are compared by ELBO.
``AutoConcrete`` learns one set of logits per point and feature, and
``AutoNormal``'s Normal/LogNormal guide of the features and the noise; the
reference is ``TraceEnum_ELBO`` with ``AutoNormal`` on the same continuous sites.
Scores: the ELBO, and the fraction of bits whose posterior mode is the bit that
generated the point, after matching fitted to true features.
"""

from typing import Dict, NamedTuple

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.infer import TraceEnum_ELBO, TraceMeanField_ELBO, config_enumerate
from pyro.infer.autoguide import AutoNormal, init_to_median
from pyro.optim import Adam
from scipy.optimize import linear_sum_assignment

from pyro_concrete.infer import AutoConcrete

from .common import (
    Method,
    autoconcrete_options,
    elbo_estimate,
    enumerated_marginals,
    record,
    reset,
    svi_step,
    train,
    training,
)

NUM_DATA, DIMENSION, NOISE, RATE = 200, 16, 0.5, 0.3


def model(data, num_features):
    features = pyro.sample(
        "features", dist.Normal(0.0, 1.0).expand([num_features, DIMENSION]).to_event(2)
    )
    noise = pyro.sample("noise", dist.LogNormal(0.0, 1.0))
    with pyro.plate("data", len(data)):
        total = 0.0
        for d in range(num_features):
            bit = pyro.sample(f"b_{d}", dist.Bernoulli(RATE))
            total = total + bit.unsqueeze(-1) * features[..., d, :]
        pyro.sample("x", dist.Normal(total, noise.unsqueeze(-1)).to_event(1), obs=data)


class Problem(NamedTuple):
    name: str
    num_features: int
    data: torch.Tensor
    bits: torch.Tensor
    features: torch.Tensor
    exact: bool
    num_steps: int  # steps of the reference fit (and of every fit where exact)
    num_particles: int

    @property
    def args(self):
        return self.data, self.num_features


def problem(num_features: int, seed: int, quick: bool) -> Problem:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(num_features, DIMENSION, generator=generator)
    bits = (torch.rand(NUM_DATA, num_features, generator=generator) < RATE).to(features.dtype)
    data = bits @ features + NOISE * torch.randn(NUM_DATA, DIMENSION, generator=generator)
    exact = num_features <= 8
    if quick:
        data, bits = data[:30], bits[:30]
    name = f"factorial features (D = {num_features})"
    return Problem(
        name, num_features, data, bits, features, exact, *((5, 2) if quick else (800, 20))
    )


def bit_accuracy(problem: Problem, fitted_features, fitted_bits) -> float:
    """Correct bits, with the fitted features matched to the true ones by distance."""
    cost = torch.cdist(fitted_features, problem.features)
    rows, columns = linear_sum_assignment(cost.detach().numpy())
    matched = torch.zeros_like(problem.bits)
    matched[:, torch.as_tensor(columns)] = fitted_bits[:, torch.as_tensor(rows)]
    return (matched == problem.bits).double().mean().item()


def _bits(median, num_features):
    return torch.stack([median[f"b_{d}"] for d in range(num_features)], -1)


def mean_field_gap(data, features, noise, num_sweeps=100) -> float:
    r"""
    The best a mean-field guide of the bits can do, with the features and noise
    fixed: the ELBO of the optimal :math:`\prod_{n,d} q(b_{nd})` (coordinate
    ascent), as a percentage of the exact :math:`\log p(x)` (all :math:`2^D`
    configurations) -- a gap that no gradient estimator of a mean-field guide can
    close.
    """
    num_features = len(features)
    configurations = torch.cartesian_prod(*[torch.tensor([0.0, 1.0])] * num_features)
    configurations = configurations.reshape(-1, num_features).to(data.dtype)
    prior = dist.Bernoulli(RATE).log_prob(configurations).sum(-1)
    likelihood = dist.Normal(configurations @ features, noise).log_prob(data.unsqueeze(-2))
    log_evidence = (prior + likelihood.sum(-1)).logsumexp(-1).sum()
    norms = (features**2).sum(-1)
    q = torch.full((len(data), num_features), RATE, dtype=data.dtype)
    for _ in range(num_sweeps):
        for d in range(num_features):
            residual = data - q @ features + q[:, d : d + 1] * features[d]
            logit = (residual @ features[d] - norms[d] / 2) / noise**2
            q[:, d] = torch.sigmoid(logit + torch.logit(torch.tensor(RATE)))
    squared = ((data - q @ features) ** 2).sum(-1) + (q * (1 - q) * norms).sum(-1)
    expected_likelihood = -data.shape[-1] / 2 * torch.log(2 * torch.pi * noise**2)
    expected_likelihood = expected_likelihood - squared / (2 * noise**2)
    bits = dist.Bernoulli(q)
    expected_prior = (
        q * torch.log(torch.tensor(RATE)) + (1 - q) * torch.log1p(-torch.tensor(RATE))
    ).sum(-1)
    elbo = (expected_likelihood + expected_prior + bits.entropy().sum(-1)).sum()
    return (100 * (elbo - log_evidence) / log_evidence.abs()).item()


def exact(problem: Problem, seed: int) -> Dict:
    """The reference: the bits summed out by TraceEnum_ELBO, AutoNormal on the rest."""
    reset(seed)
    hidden = [f"b_{d}" for d in range(problem.num_features)]
    guide = AutoNormal(poutine.block(model, hide=hidden), init_loc_fn=init_to_median)
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    step = svi_step(config_enumerate(model), guide, Adam({"lr": 0.05}), elbo, *problem.args)
    fit = train(step, problem.num_steps)
    estimate = TraceEnum_ELBO(
        num_particles=problem.num_particles, vectorize_particles=True, max_plate_nesting=1
    )
    scores = elbo_estimate(estimate, config_enumerate(model), guide, *problem.args)
    median = guide.median(*problem.args)
    marginals = enumerated_marginals(model, guide, hidden, *problem.args)
    bits = torch.stack(
        [(marginals[name].probs > 0.5).to(median["features"].dtype) for name in hidden], -1
    )
    accuracy = bit_accuracy(problem, median["features"], bits)
    gap = mean_field_gap(problem.data, median["features"], median["noise"])
    return record(
        problem.name,
        None,
        seed,
        fit,
        training="TraceEnum_ELBO",
        **scores,
        accuracy=accuracy,
        mean_field_gap=gap,
    )


def run(problem: Problem, method: Method, seed: int, seconds: float = None) -> Dict:
    """AutoConcrete with ``method``, for the reference's steps or for ``seconds`` of CPU."""
    reset(seed)
    guide = AutoConcrete(model, **autoconcrete_options(method))
    guide_, elbo, training_elbo = training(guide, method, TraceMeanField_ELBO)
    step = svi_step(model, guide_, Adam({"lr": 0.05}), elbo, *problem.args)
    fit = train(step, num_steps=None if seconds else problem.num_steps, seconds=seconds)
    estimate = TraceMeanField_ELBO(
        num_particles=problem.num_particles, vectorize_particles=True, max_plate_nesting=1
    )
    scores = elbo_estimate(estimate, model, guide, *problem.args)
    median = guide.median(*problem.args)
    accuracy = bit_accuracy(problem, median["features"], _bits(median, problem.num_features))
    return record(
        problem.name, method, seed, fit, training=training_elbo, **scores, accuracy=accuracy
    )
