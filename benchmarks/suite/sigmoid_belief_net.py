# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
(d) A model whose enumeration is intractable: a sigmoid belief net with 64
binary latents on the bundled digits (the binary experiments of the Concrete
paper, at the digits' size): a learned Bernoulli prior, a linear-sigmoid
likelihood, and an MLP guide,

.. math::

    z \sim \mathrm{Bernoulli}(\sigma(b)), \quad
    x \sim \mathrm{Bernoulli}(\sigma(W z + c)), \quad
    q(z \mid x) = \mathrm{Bernoulli}(\sigma(\mathrm{encoder}(x))),

:math:`2^{64}` codes. Every method trains for the same CPU time, and is scored on
the test images by the ELBO and the importance-sampled bound on
:math:`\log p(x)` (Burda et al.) with 1000 samples, in nats per image.
"""

import math
from typing import Dict, NamedTuple

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Trace_ELBO
from torch import nn

from pyro_concrete import RelaxedBernoulliConcreteStraightThrough
from pyro_concrete.examples.data import load_dataset

from .common import Method, minibatch_step, record, reset, train, training

NAME = "sigmoid belief net (digits, 64 binary latents)"


class SigmoidBeliefNet(nn.Module):
    def __init__(self, num_pixels=64, num_latents=64, hidden_size=128):
        super().__init__()
        self.prior_logits = nn.Parameter(torch.zeros(num_latents))
        self.decoder = nn.Linear(num_latents, num_pixels)
        self.encoder = nn.Sequential(
            nn.Linear(num_pixels, hidden_size), nn.Tanh(), nn.Linear(hidden_size, num_latents)
        )

    def prior(self):
        return dist.Bernoulli(logits=self.prior_logits).to_event(1)

    def model(self, x, method=None):
        pyro.module("sigmoid_belief_net", self)
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", self.prior())
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def guide(self, x, method):
        pyro.module("sigmoid_belief_net", self)
        estimator = "straight_through" if method.is_score_function else method.estimator
        posterior = RelaxedBernoulliConcreteStraightThrough(
            method.temperature or 1.0, logits=self.encoder(x), estimator=estimator
        )
        with pyro.plate("data", len(x)):
            pyro.sample("z", posterior.to_event(1))

    @torch.no_grad()
    def scores(self, x, num_samples=1000, chunk=50) -> Dict[str, float]:
        """ELBO and importance-sampled bound per image, from ``num_samples`` samples of q."""
        elbos, bounds = [], []
        for images in x.split(chunk):
            posterior = dist.Bernoulli(logits=self.encoder(images)).to_event(1)
            z = posterior.sample((num_samples,))
            log_likelihood = dist.Bernoulli(logits=self.decoder(z)).to_event(1).log_prob(images)
            log_weights = log_likelihood + self.prior().log_prob(z) - posterior.log_prob(z)
            elbos.append(log_weights.mean(0))
            bounds.append(log_weights.logsumexp(0) - math.log(num_samples))
        return {
            "elbo": torch.cat(elbos).mean().item(),
            "is_bound": torch.cat(bounds).mean().item(),
        }


class Problem(NamedTuple):
    train: torch.Tensor
    test: torch.Tensor
    batch_size: int
    seconds: float
    num_samples: int


def problem(seed: int, quick: bool) -> Problem:
    train_images, test_images = load_dataset("digits", dtype=torch.get_default_dtype())
    if quick:
        return Problem(train_images[:200], test_images[:20], 20, 0.05, 10)
    return Problem(train_images, test_images, 100, 10.0, 1000)


def run(problem: Problem, method: Method, seed: int) -> Dict:
    """Trains with ``method`` for the problem's CPU time and scores the test images."""
    reset(seed)
    net = SigmoidBeliefNet()
    guide, elbo, training_elbo = training(net.guide, method, Trace_ELBO)
    step = minibatch_step(net.model, guide, elbo, problem.train, problem.batch_size, method)
    fit = train(step, seconds=problem.seconds)
    scores = net.scores(problem.test, problem.num_samples)
    return record(NAME, method, seed, fit, training=training_elbo, **scores)
