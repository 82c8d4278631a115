# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
(a) Pyro's Gaussian-mixture tutorial (``tutorial/source/gmm.ipynb``), ported as a
user would: the assignment is ``OneHotCategorical`` and selects its location
differentiably (``assignment @ locs``, written so that it also broadcasts over
particles and enumeration). Two data sets: the tutorial's own five points (two
components) and 300 points from three unit-variance components at
:math:`-4, 0, 5` with equal weights.

The exact answer is enumeration: ``TraceEnum_ELBO`` with the assignments summed
out and ``AutoNormal`` on the continuous sites, scored by its ELBO (assignments
summed out exactly). ``AutoConcrete`` is trained with the tutorial's optimiser
(Adam, learning rate 0.1, betas 0.8 and 0.99) and scored by its own ELBO with the
exact KL of the assignments (``TraceMeanField_ELBO``), its assignment accuracy
(the guide's mode against the generating components, best over relabellings)
and the largest error of its component means.
"""

import itertools
from typing import Dict, NamedTuple, Optional

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.infer import (
    Trace_ELBO,
    TraceEnum_ELBO,
    TraceMeanField_ELBO,
    config_enumerate,
)
from pyro.infer.autoguide import AutoNormal, init_to_median
from pyro.optim import Adam

from pyro_concrete.infer import AutoConcrete

from .common import (
    Method,
    autoconcrete_options,
    elbo_estimate,
    record,
    reset,
    svi_step,
    train,
    training,
)

#: The tutorial's data and their two clusters.
TUTORIAL_DATA = (0.0, 1.0, 10.0, 11.0, 12.0)
TUTORIAL_LABELS = (0, 0, 1, 1, 1)
#: The synthetic mixture of the issue: 300 points, three components.
SYNTHETIC_LOCS = (-4.0, 0.0, 5.0)
SYNTHETIC_SIZE = 300
ELBOS = {"Trace_ELBO": Trace_ELBO, "TraceMeanField_ELBO": TraceMeanField_ELBO}


def model(data, num_components, assignment_law=dist.OneHotCategorical):
    """
    The tutorial's model with a one-hot assignment, ``assignment_law(weights)``
    (``OneHotCategorical``, or a straight-through class of the same law).
    """
    weights = pyro.sample("weights", dist.Dirichlet(0.5 * torch.ones(num_components)))
    scale = pyro.sample("scale", dist.LogNormal(0.0, 2.0))
    with pyro.plate("components", num_components):
        locs = pyro.sample("locs", dist.Normal(0.0, 10.0))
    with pyro.plate("data", len(data)):
        assignment = pyro.sample("assignment", assignment_law(weights))
        # assignment @ locs, broadcasting over vectorized particles and enumeration.
        loc = (assignment * locs.unsqueeze(-2)).sum(-1)
        pyro.sample("obs", dist.Normal(loc, scale), obs=data)


class Problem(NamedTuple):
    name: str
    data: torch.Tensor
    labels: torch.Tensor
    locs: torch.Tensor  # the generating locations, sorted (cluster means for the tutorial)
    num_steps: int
    num_particles: int
    num_inits: int  # enumeration fits of which the reference keeps the best

    @property
    def num_components(self) -> int:
        return len(self.locs)


def tutorial_problem(seed: int, quick: bool) -> Problem:
    data = torch.tensor(TUTORIAL_DATA)
    labels = torch.tensor(TUTORIAL_LABELS)
    cluster_means = torch.stack([data[labels == k].mean() for k in range(2)])
    # The tutorial trains for 200 steps.
    return Problem("gmm tutorial (5 points)", data, labels, cluster_means, *_budget(quick, 500))


def synthetic_data(seed: int, size: int = SYNTHETIC_SIZE):
    """``size`` points from the synthetic mixture, and their components."""
    generator = torch.Generator().manual_seed(seed)
    locs = torch.tensor(SYNTHETIC_LOCS)
    labels = torch.randint(len(locs), (size,), generator=generator)
    return locs[labels] + torch.randn(size, generator=generator), labels


def synthetic_problem(seed: int, quick: bool, num_steps: int = 1000) -> Problem:
    data, labels = synthetic_data(seed, 60 if quick else SYNTHETIC_SIZE)
    name = f"gmm synthetic ({len(data)} points)"
    return Problem(name, data, labels, torch.tensor(SYNTHETIC_LOCS), *_budget(quick, num_steps))


def _budget(quick, num_steps):
    """Steps of training, particles of the final ELBO estimates, reference fits."""
    return (20, 10, 2) if quick else (num_steps, 200, 10)


def accuracy(assignments: torch.Tensor, labels: torch.Tensor, num_components: int) -> float:
    """The fraction of correct assignments, under the best relabelling of the components."""
    return max(
        (torch.tensor(relabel)[labels] == assignments).double().mean().item()
        for relabel in itertools.permutations(range(num_components))
    )


def mean_error(locs: torch.Tensor, truth: torch.Tensor) -> float:
    """The largest distance between a fitted mean and its true mean, both sorted."""
    return (locs.sort().values - truth).abs().max().item()


def optimiser():
    """The tutorial's optimiser."""
    return Adam({"lr": 0.1, "betas": (0.8, 0.99)})


def enumerated_elbo(problem: Problem, location_guide, num_estimates=5) -> Dict[str, float]:
    """The ELBO of a guide of the continuous sites, with the assignments summed out."""
    elbo = TraceEnum_ELBO(
        num_particles=problem.num_particles, vectorize_particles=True, max_plate_nesting=1
    )
    model_ = config_enumerate(model)
    args = (problem.data, problem.num_components)
    return elbo_estimate(elbo, model_, location_guide, *args, num_estimates=num_estimates)


def _fit_enumeration(problem: Problem, init: int):
    """One enumeration fit: the assignments summed out, AutoNormal on the rest."""
    reset(init)
    guide = AutoNormal(poutine.block(model, hide=["assignment"]), init_loc_fn=init_to_median)
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    args = (problem.data, problem.num_components)
    step = svi_step(config_enumerate(model), guide, optimiser(), elbo, *args)
    return guide, train(step, problem.num_steps)


def exact(problem: Problem, seed: int) -> Dict:
    """
    The reference: the best of ``problem.num_inits`` enumeration fits by final
    loss (a single fit can stop at a local optimum, as in the tutorial, which
    keeps the best of 100 initialisations).
    """
    fits = [_fit_enumeration(problem, seed * 1000 + init) for init in range(problem.num_inits)]
    guide, fit = min(fits, key=lambda guide_fit: guide_fit[1].final_loss)
    args = (problem.data, problem.num_components)
    median = guide.median(*args)
    # The most probable component of each point under the fitted posterior medians.
    log_joint = median["weights"].log() + dist.Normal(median["locs"], median["scale"]).log_prob(
        problem.data.unsqueeze(-1)
    )
    return record(
        problem.name,
        None,
        seed,
        fit,
        training="TraceEnum_ELBO",
        **enumerated_elbo(problem, guide),
        accuracy=accuracy(log_joint.argmax(-1), problem.labels, problem.num_components),
        mean_error=mean_error(median["locs"], problem.locs),
    )


def fit_autoconcrete(
    problem: Problem, method: Optional[Method], elbo_name: str, seed: int, autoconcrete_kwargs=None
):
    """
    AutoConcrete trained by ``method`` under ``elbo_name`` (the score function:
    TraceGraph_ELBO); ``method=None`` keeps AutoConcrete's defaults.
    """
    reset(seed)
    guide = AutoConcrete(model, **autoconcrete_options(method), **(autoconcrete_kwargs or {}))
    elbo_class = ELBOS[elbo_name] if elbo_name else None
    guide_, elbo, _ = training(guide, method, elbo_class)
    args = (problem.data, problem.num_components)
    return guide, train(svi_step(model, guide_, optimiser(), elbo, *args), problem.num_steps)


def score(problem: Problem, guide) -> Dict[str, float]:
    """AutoConcrete's ELBO (exact KL of the assignments), accuracy and mean error."""
    args = (problem.data, problem.num_components)
    elbo = TraceMeanField_ELBO(
        num_particles=problem.num_particles, vectorize_particles=True, max_plate_nesting=1
    )
    median = guide.median(*args)
    return dict(
        **elbo_estimate(elbo, model, guide, *args),
        accuracy=accuracy(median["assignment"].argmax(-1), problem.labels, len(problem.locs)),
        mean_error=mean_error(median["locs"], problem.locs),
    )


def run(problem: Problem, method: Method, seed: int, elbo_name: Optional[str]) -> Dict:
    guide, fit = fit_autoconcrete(problem, method, elbo_name, seed)
    training = "TraceGraph_ELBO" if method.is_score_function else elbo_name
    return record(problem.name, method, seed, fit, training=training, **score(problem, guide))
