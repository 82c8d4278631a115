# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Training steps of whole models: a categorical VAE in Pyro against the same VAE
written by hand in PyTorch (Pyro's overhead), and the semi-supervised M2 model
with the class summed out exactly against a single straight-through sample.
Data are random binary images of a fixed batch: a step's cost does not depend on
the pixels.
"""

from typing import NamedTuple

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch import nn

from pyro_concrete import RelaxedCategoricalConcreteStraightThrough
from pyro_concrete.examples.semi_supervised import SemiSupervisedVAE


class VAEConfig(NamedTuple):
    pixels: int = 784
    hidden: tuple = (512, 256)
    latents: int = 20
    categories: int = 10
    batch: int = 100
    temperature: float = 1.0
    learning_rate: float = 1e-3

    def describe(self):
        return f"B={self.batch}, {self.pixels} px, {self.latents}×{self.categories}"


class SemiSupervisedConfig(NamedTuple):
    pixels: int = 784
    hidden: int = 500
    latent: int = 50
    batch: int = 100
    classes: tuple = (10, 20, 50, 100)
    learning_rate: float = 1e-3

    def describe(self, num_classes):
        return f"B={self.batch}, {self.pixels} px, K={num_classes}"


QUICK_VAE = VAEConfig(pixels=64, hidden=(32, 32), latents=4, categories=4, batch=20)
QUICK_SEMI_SUPERVISED = SemiSupervisedConfig(
    pixels=64, hidden=32, latent=4, batch=20, classes=(10,)
)


def _mlp(sizes):
    layers = []
    for size_in, size_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(size_in, size_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _images(batch, pixels, device):
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.rand(batch, pixels, device=device, generator=generator).lt(0.5).float()


class CategoricalVAE(nn.Module):
    """Encoder and decoder of Jang et al.'s categorical VAE, straight-through latents."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        latent_size = config.latents * config.categories
        self.encoder = _mlp((config.pixels,) + config.hidden + (latent_size,))
        self.decoder = _mlp((latent_size,) + config.hidden[::-1] + (config.pixels,))

    def posterior(self, xs):
        logits = self.encoder(xs).unflatten(-1, (self.config.latents, self.config.categories))
        return RelaxedCategoricalConcreteStraightThrough(self.config.temperature, logits=logits)

    def prior(self, xs):
        logits = xs.new_zeros(self.config.latents, self.config.categories)
        return RelaxedCategoricalConcreteStraightThrough(self.config.temperature, logits=logits)

    def likelihood(self, zs):
        return dist.Bernoulli(logits=self.decoder(zs.flatten(-2)))

    def model(self, xs):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", len(xs)):
            zs = pyro.sample("z", self.prior(xs).to_event(1))
            pyro.sample("x", self.likelihood(zs).to_event(1), obs=xs)

    def guide(self, xs):
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", len(xs)):
            pyro.sample("z", self.posterior(xs).to_event(1))

    def loss(self, xs):
        """The negative ELBO of Trace_ELBO, written out."""
        posterior = self.posterior(xs)
        zs = posterior.rsample()
        log_weight = (
            self.likelihood(zs).log_prob(xs).sum(-1)
            + self.prior(xs).log_prob(zs).sum(-1)
            - posterior.log_prob(zs).sum(-1)
        )
        return -log_weight.sum()


def vae_steps(config, device):
    """
    Steps of the VAE for three copies of the same networks: ``SVI`` with
    ``Trace_ELBO`` and Pyro's Adam (one ``torch.optim.Adam`` per parameter);
    ``Trace_ELBO().differentiable_loss`` with one ``torch.optim.Adam`` (Pyro's
    pattern for PyTorch optimisers, used by ``pyro_concrete.examples.vae``); and the
    hand-written loss with one ``torch.optim.Adam``.

    :returns: ``(svi_step, elbo_step, torch_step)``.
    """
    pyro.clear_param_store()
    xs = _images(config.batch, config.pixels, device)
    in_svi = CategoricalVAE(config).to(device)
    with_elbo = CategoricalVAE(config).to(device)
    by_hand = CategoricalVAE(config).to(device)
    with_elbo.load_state_dict(in_svi.state_dict())
    by_hand.load_state_dict(in_svi.state_dict())
    svi = SVI(in_svi.model, in_svi.guide, Adam({"lr": config.learning_rate}), Trace_ELBO())
    elbo = Trace_ELBO()

    def torch_optimizer_step(module, loss_fn):
        optimizer = torch.optim.Adam(module.parameters(), lr=config.learning_rate)

        def step():
            optimizer.zero_grad()
            loss = loss_fn(xs)
            loss.backward()
            optimizer.step()
            return loss.item()

        return step

    elbo_step = torch_optimizer_step(
        with_elbo, lambda xs: elbo.differentiable_loss(with_elbo.model, with_elbo.guide, xs)
    )
    return lambda: svi.step(xs), elbo_step, torch_optimizer_step(by_hand, by_hand.loss)


def semi_supervised_steps(config, num_classes, device):
    """
    One SVI step of M2 on a batch of unlabelled images: the class summed out
    (``TraceEnum_ELBO``) and sampled once by straight-through (``Trace_ELBO``),
    for two copies of the same networks.

    :returns: ``(straight_through_step, enumerate_step)``.
    """
    pyro.clear_param_store()
    xs = _images(config.batch, config.pixels, device)
    steps = {}
    state = None
    for estimator in ("straight_through", "enumerate"):
        vae = SemiSupervisedVAE(
            config.pixels,
            num_classes,
            latent_size=config.latent,
            hidden_size=config.hidden,
            estimator=estimator,
            name=estimator,
        ).to(device)
        if state is None:
            state = vae.state_dict()
        vae.load_state_dict(state)
        svi = SVI(vae.model, vae.guide, Adam({"lr": config.learning_rate}), vae.elbo())
        steps[estimator] = lambda svi=svi: svi.step(xs)
    return steps["straight_through"], steps["enumerate"]
