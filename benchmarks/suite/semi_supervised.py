# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
(b) The semi-supervised M2 model of Kingma et al. on the bundled digits with 100
labels (:mod:`pyro_concrete.examples.semi_supervised`). The class of an unlabelled
image is summed out exactly by the reference (``TraceEnum_ELBO``), or sampled once
with a straight-through estimator (``Trace_ELBO``), or with the score-function
estimator (``TraceGraph_ELBO``). Every run is scored the same way: the test
images' ELBO with the class summed out exactly (the guide's classifier weighting
the classes; one sample of the continuous code), in nats per image, and the test
accuracy of the classifier.
"""

from typing import Dict, NamedTuple

import pyro
import torch
from pyro.optim import Adam

from pyro_concrete.examples.semi_supervised import SemiSupervisedVAE, accuracy, load_digits

from .common import Method, elbo_estimate, record, reset, train, training

NAME = "M2 semi-supervised (digits, 100 labels)"


class Problem(NamedTuple):
    data: object
    hidden_size: int
    batch_size: int
    num_steps: int
    num_particles: int


def problem(seed: int, quick: bool) -> Problem:
    data = load_digits(num_labelled=100, seed=seed)
    if quick:
        data = data._replace(unlabelled_xs=data.unlabelled_xs[:200], test_xs=data.test_xs[:50])
        data = data._replace(test_ys=data.test_ys[:50])
        return Problem(data, 16, 20, 5, 2)
    return Problem(data, 128, 100, 800, 20)


def _vae(problem: Problem, method: Method) -> SemiSupervisedVAE:
    data = problem.data
    if method is None:
        estimator, temperature = "enumerate", 1.0
    elif method.is_score_function:
        estimator, temperature = "straight_through", 1.0  # replaced by the score function
    else:
        estimator, temperature = method.estimator, method.temperature
    return SemiSupervisedVAE(
        data.input_size,
        data.num_classes,
        hidden_size=problem.hidden_size,
        estimator=estimator,
        temperature=temperature,
    )


def _step(vae: SemiSupervisedVAE, problem: Problem, method: Method):
    """
    One step, as a function -- a minibatch of labelled images, then one of
    unlabelled images -- and the name of its ELBO.
    """
    data, batch_size = problem.data, problem.batch_size
    name = "TraceEnum_ELBO" if method is None else "Trace_ELBO"
    guide, elbo, name = training(vae.guide, method, vae.elbo, name)
    svi = pyro.infer.SVI(vae.model, guide, Adam({"lr": 1e-3}), elbo)

    def step():
        labelled = torch.randint(len(data.labelled_xs), (batch_size,))
        unlabelled = torch.randint(len(data.unlabelled_xs), (batch_size,))
        loss = svi.step(data.labelled_xs[labelled], data.labelled_ys[labelled])
        return (loss + svi.step(data.unlabelled_xs[unlabelled])) / (2 * batch_size)

    return step, name


def test_elbo(vae: SemiSupervisedVAE, problem: Problem) -> Dict[str, float]:
    """The test images' ELBO per image, with the class summed out exactly."""
    estimator = vae.estimator
    vae.estimator = "enumerate"
    try:
        elbo = vae.elbo(num_particles=problem.num_particles)
        xs = problem.data.test_xs
        result = elbo_estimate(elbo, vae.model, vae.guide, xs, num_estimates=3)
    finally:
        vae.estimator = estimator
    return {key: value / len(xs) for key, value in result.items()}


def run(problem: Problem, method: Method, seed: int) -> Dict:
    """Trains with ``method`` (``None``: enumeration) and scores the test images."""
    reset(seed)
    vae = _vae(problem, method)
    step, training_elbo = _step(vae, problem, method)
    fit = train(step, problem.num_steps)
    data = problem.data
    return record(
        NAME,
        method,
        seed,
        fit,
        training=training_elbo,
        **test_elbo(vae, problem),
        accuracy=accuracy(vae, data.test_xs, data.test_ys),
    )
