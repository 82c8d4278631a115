# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
(f) The first model of Pyro's ``examples/hmm.py``: a hidden Markov model whose
hidden state is a categorical chain and whose observations are binary "tones",

.. math::

    \pi_k \sim \mathrm{Dirichlet}(0.9\, e_k + 0.1), \quad
    \theta_{kj} \sim \mathrm{Beta}(0.1, 0.9), \quad
    x_t \sim \mathrm{OneHotCategorical}(x_{t-1}^\top \pi), \quad
    y_{tj} \sim \mathrm{Bernoulli}(x_t^\top \theta_{\cdot j}),

with the state one-hot (``x @ probs``, written so that it broadcasts over
particles and enumeration) and the sequences vectorised in a plate. The data
(the JSB chorales are a download) are 10 sequences of 20 steps and 16 tones
drawn from a 4-state chain whose transition and tone probabilities are drawn
from the priors. The reference is ``TraceEnum_ELBO`` summing out the chain
(``pyro.markov``), with ``AutoNormal`` on the transition and tone probabilities
(Dirichlet and Beta: constrained sites); ``AutoConcrete`` has one set of logits
per sequence and step, a mean-field guide of a chain. Scores: the ELBO, and the
fraction of states whose posterior mode is the generating state (best
relabelling).
"""

import itertools
from typing import Dict, NamedTuple

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.infer import TraceEnum_ELBO, TraceMeanField_ELBO, config_enumerate
from pyro.infer.autoguide import AutoNormal, init_to_median
from pyro.optim import Adam

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

NAME = "HMM (Pyro's hmm.py model 1, 4 states)"
NUM_STATES, NUM_TONES, NUM_SEQUENCES, LENGTH = 4, 16, 10, 20


def _select(one_hot, probs):
    """``one_hot @ probs``, broadcasting the batch dimensions of both."""
    return (one_hot.unsqueeze(-1) * probs).sum(-2)


def model(sequences, num_states=NUM_STATES):
    num_sequences, length, num_tones = sequences.shape
    probs_x = pyro.sample("probs_x", dist.Dirichlet(0.9 * torch.eye(num_states) + 0.1).to_event(1))
    probs_y = pyro.sample(
        "probs_y", dist.Beta(0.1, 0.9).expand([num_states, num_tones]).to_event(2)
    )
    with pyro.plate("sequences", num_sequences):
        x = torch.nn.functional.one_hot(torch.tensor(0), num_states).to(sequences.dtype)
        for t in pyro.markov(range(length)):
            x = pyro.sample(f"x_{t}", dist.OneHotCategorical(_select(x, probs_x)))
            pyro.sample(
                f"y_{t}", dist.Bernoulli(_select(x, probs_y)).to_event(1), obs=sequences[:, t]
            )


class Problem(NamedTuple):
    sequences: torch.Tensor
    states: torch.Tensor
    num_steps: int
    num_particles: int


def problem(seed: int, quick: bool) -> Problem:
    """Sequences from a chain whose probabilities are drawn from the priors."""
    pyro.set_rng_seed(seed)
    num_sequences, length = (3, 5) if quick else (NUM_SEQUENCES, LENGTH)
    probs_x = dist.Dirichlet(0.9 * torch.eye(NUM_STATES) + 0.1).sample()
    probs_y = dist.Beta(0.1, 0.9).sample([NUM_STATES, NUM_TONES])
    state = torch.zeros(num_sequences, dtype=torch.long)
    states, tones = [], []
    for _ in range(length):
        state = dist.Categorical(probs_x[state]).sample()
        states.append(state)
        tones.append(dist.Bernoulli(probs_y[state]).sample())
    sequences = torch.stack(tones, 1)
    return Problem(sequences, torch.stack(states, 1), *((5, 2) if quick else (300, 10)))


def state_accuracy(problem: Problem, modes: torch.Tensor) -> float:
    """Correct states of every sequence and step, under the best relabelling."""
    return max(
        (torch.tensor(relabel)[problem.states] == modes).double().mean().item()
        for relabel in itertools.permutations(range(NUM_STATES))
    )


def _state_names(problem: Problem):
    return [f"x_{t}" for t in range(problem.sequences.shape[1])]


def mean_field_gap(sequences, probs_x, probs_y, num_sweeps=100) -> float:
    r"""
    The best a mean-field guide of the chain can do, with the probabilities fixed:
    the ELBO of the optimal :math:`\prod_t q(x_t)` (coordinate ascent), as a
    percentage of the exact :math:`\log p(y)` (the forward algorithm) -- a gap
    that no gradient estimator of a mean-field guide can close.
    """
    log_a = probs_x.log()
    emissions = dist.Bernoulli(probs_y).log_prob(sequences.unsqueeze(-2)).sum(-1)  # (S, T, K)
    # log p(y) by the forward algorithm, the chain starting from state 0.
    alpha = log_a[0] + emissions[:, 0]
    for t in range(1, sequences.shape[1]):
        alpha = (alpha.unsqueeze(-1) + log_a).logsumexp(-2) + emissions[:, t]
    log_evidence = alpha.logsumexp(-1).sum()
    q = emissions.softmax(-1)
    start = torch.nn.functional.one_hot(torch.tensor(0), len(log_a)).to(q.dtype)
    for _ in range(num_sweeps):
        for t in range(sequences.shape[1]):
            previous = start if t == 0 else q[:, t - 1]
            logits = previous @ log_a + emissions[:, t]
            if t + 1 < sequences.shape[1]:
                logits = logits + q[:, t + 1] @ log_a.T
            q[:, t] = logits.softmax(-1)
    previous = torch.cat([start.expand(len(q), 1, -1), q[:, :-1]], 1)
    elbo = (
        (previous.unsqueeze(-1) * q.unsqueeze(-2) * log_a).sum()
        + (q * emissions).sum()
        - (q * q.clamp_min(1e-300).log()).sum()
    )
    return (100 * (elbo - log_evidence) / log_evidence.abs()).item()


def exact(problem: Problem, seed: int) -> Dict:
    """The reference: the chain summed out by TraceEnum_ELBO, AutoNormal on the rest."""
    reset(seed)
    names = _state_names(problem)
    guide = AutoNormal(poutine.block(model, hide=names), init_loc_fn=init_to_median)
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    step = svi_step(config_enumerate(model), guide, Adam({"lr": 0.05}), elbo, problem.sequences)
    fit = train(step, problem.num_steps)
    estimate = TraceEnum_ELBO(
        num_particles=problem.num_particles, vectorize_particles=True, max_plate_nesting=1
    )
    scores = elbo_estimate(estimate, config_enumerate(model), guide, problem.sequences)
    marginals = enumerated_marginals(model, guide, names, problem.sequences)
    modes = torch.stack([marginal.probs.argmax(-1) for marginal in marginals.values()], 1)
    return record(
        NAME,
        None,
        seed,
        fit,
        training="TraceEnum_ELBO",
        **scores,
        accuracy=state_accuracy(problem, modes),
        mean_field_gap=mean_field_gap(problem.sequences, **_medians(guide, problem)),
    )


def _medians(guide, problem):
    median = guide.median(problem.sequences)
    return {"probs_x": median["probs_x"], "probs_y": median["probs_y"]}


def run(problem: Problem, method: Method, seed: int) -> Dict:
    reset(seed)
    guide = AutoConcrete(model, **autoconcrete_options(method))
    guide_, elbo, training_elbo = training(guide, method, TraceMeanField_ELBO)
    step = svi_step(model, guide_, Adam({"lr": 0.05}), elbo, problem.sequences)
    fit = train(step, problem.num_steps)
    estimate = TraceMeanField_ELBO(
        num_particles=problem.num_particles, vectorize_particles=True, max_plate_nesting=1
    )
    scores = elbo_estimate(estimate, model, guide, problem.sequences)
    median = guide.median(problem.sequences)
    modes = torch.stack([median[name].argmax(-1) for name in _state_names(problem)], 1)
    return record(
        NAME,
        method,
        seed,
        fit,
        training=training_elbo,
        **scores,
        accuracy=state_accuracy(problem, modes),
    )
