# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
(c) A categorical VAE on the bundled digits, small enough to be exact: four
categorical latents of four categories (256 codes), a uniform prior, a Bernoulli
likelihood of the 64 binarised pixels and one-hidden-layer MLPs,

.. math::

    z_i \sim \mathrm{OneHotCategorical}(1/K), \quad
    x \sim \mathrm{Bernoulli}(\sigma(\mathrm{decoder}(z_1, \dots, z_N))), \quad
    q(z \mid x) = \prod_i \mathrm{OneHotCategorical}(\mathrm{encoder}(x)_i).

The reference trains on the exact ELBO: ``TraceEnum_ELBO`` sums the 256 codes out
of the guide. Every run is scored exactly on the test images: its ELBO and its
log-likelihood :math:`\log p(x) = \log \sum_z p(z) p(x \mid z)`, in nats per image,
both summed over the 256 codes.
"""

import functools
import itertools
import math
from typing import Dict, NamedTuple

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Trace_ELBO, TraceEnum_ELBO
from torch import nn

from pyro_concrete import RelaxedCategoricalConcreteStraightThrough
from pyro_concrete.examples.data import load_dataset

from .common import Method, minibatch_step, record, reset, train, training

NAME = "categorical VAE (digits, 4 latents x 4 categories)"


class CategoricalVAE(nn.Module):
    """The model and guide of the module docstring; ``method=None`` enumerates the guide."""

    def __init__(self, num_pixels=64, num_latents=4, num_categories=4, hidden_size=128):
        super().__init__()
        self.num_latents, self.num_categories = num_latents, num_categories
        code_size = num_latents * num_categories
        self.encoder = nn.Sequential(
            nn.Linear(num_pixels, hidden_size), nn.ReLU(), nn.Linear(hidden_size, code_size)
        )
        self.decoder = nn.Sequential(
            nn.Linear(code_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, num_pixels)
        )

    def model(self, x, method=None):
        pyro.module("categorical_vae", self)
        # The straight-through class as the prior, so that the prior term passes the
        # straight-through gradient; its law is OneHotCategorical's.
        prior = RelaxedCategoricalConcreteStraightThrough(
            1.0, logits=x.new_zeros(self.num_categories)
        )
        with pyro.plate("data", len(x)):
            codes = [pyro.sample(f"z_{i}", prior) for i in range(self.num_latents)]
            # Broadcast the codes' enumeration dimensions before joining them.
            z = torch.cat(torch.broadcast_tensors(*codes), -1)
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def posterior_logits(self, x):
        logits = self.encoder(x).unflatten(-1, (self.num_latents, self.num_categories))
        return logits.log_softmax(-1)

    def guide(self, x, method=None):
        pyro.module("categorical_vae", self)
        logits = self.posterior_logits(x)
        with pyro.plate("data", len(x)):
            for i in range(self.num_latents):
                if method is None:
                    fn = dist.OneHotCategorical(logits=logits[..., i, :])
                    pyro.sample(f"z_{i}", fn, infer={"enumerate": "parallel"})
                else:
                    fn = RelaxedCategoricalConcreteStraightThrough(
                        method.temperature or 1.0,
                        logits=logits[..., i, :],
                        estimator=_estimator(method),
                    )
                    pyro.sample(f"z_{i}", fn)

    @torch.no_grad()
    def exact_scores(self, x) -> Dict[str, float]:
        """Test ELBO and log-likelihood per image, summed over every code."""
        codes = torch.tensor(
            list(itertools.product(range(self.num_categories), repeat=self.num_latents))
        )
        one_hot = nn.functional.one_hot(codes, self.num_categories).to(x.dtype)  # (C, N, K)
        log_likelihood = dist.Bernoulli(logits=self.decoder(one_hot.flatten(-2))).to_event(1)
        log_likelihood = log_likelihood.log_prob(x.unsqueeze(-2))  # (B, C)
        log_prior = -self.num_latents * math.log(self.num_categories)
        log_q = (one_hot * self.posterior_logits(x).unsqueeze(-3)).sum((-2, -1))  # (B, C)
        elbo = (log_q.exp() * (log_likelihood + log_prior - log_q)).sum(-1)
        log_evidence = (log_likelihood + log_prior).logsumexp(-1)
        return {"elbo": elbo.mean().item(), "log_likelihood": log_evidence.mean().item()}


def _exact_or(elbo_class, method):
    """The reference (``method=None``) sums the codes out of the guide."""
    if method is None:
        return functools.partial(TraceEnum_ELBO, max_plate_nesting=1)
    return elbo_class


def _estimator(method):
    return "straight_through" if method.is_score_function else method.estimator


class Problem(NamedTuple):
    train: torch.Tensor
    test: torch.Tensor
    hidden_size: int
    batch_size: int
    num_steps: int


def problem(seed: int, quick: bool) -> Problem:
    train_images, test_images = load_dataset("digits", dtype=torch.get_default_dtype())
    if quick:
        return Problem(train_images[:200], test_images[:50], 16, 20, 5)
    return Problem(train_images, test_images, 128, 100, 1000)


def run(problem: Problem, method: Method, seed: int) -> Dict:
    """Trains with ``method`` (``None``: the exact ELBO) and scores the test images exactly."""
    reset(seed)
    vae = CategoricalVAE(hidden_size=problem.hidden_size)
    name = "TraceEnum_ELBO" if method is None else "Trace_ELBO"
    guide, elbo, training_elbo = training(vae.guide, method, _exact_or(Trace_ELBO, method), name)
    step = minibatch_step(vae.model, guide, elbo, problem.train, problem.batch_size, method)
    fit = train(step, problem.num_steps)
    return record(NAME, method, seed, fit, training=training_elbo, **vae.exact_scores(problem.test))
