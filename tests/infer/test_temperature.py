# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""A learnable temperature: pyro.param(..., constraint=positive) in SVI."""

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch.distributions import constraints


def test_learns_the_temperature_of_a_concrete_prior():
    """
    With no data the ELBO is -KL(q || p), maximised at q = p: the guide's learnable
    temperature converges to the prior's (0.7), through the pathwise temperature
    gradient that ``tests/distributions`` checks against the score function.
    """
    prior_logits = torch.tensor([0.8, -0.4, 0.0])

    def model():
        pyro.sample("z", dist.RelaxedCategoricalConcrete(0.7, logits=prior_logits))

    def guide():
        temperature = pyro.param("temperature", torch.tensor(2.0), constraint=constraints.positive)
        logits = pyro.param("logits", torch.zeros(3))
        pyro.sample("z", dist.RelaxedCategoricalConcrete(temperature, logits=logits))

    svi = SVI(
        model, guide, Adam({"lr": 0.02}), Trace_ELBO(num_particles=64, vectorize_particles=True)
    )
    for _ in range(1500):
        svi.step()
    assert abs(pyro.param("temperature").item() - 0.7) < 0.05
    learned = pyro.param("logits").detach()
    torch.testing.assert_close(
        learned - learned.mean(), prior_logits - prior_logits.mean(), atol=0.15, rtol=0
    )
