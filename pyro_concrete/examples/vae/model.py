# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
The categorical VAE: model, guide and evaluation.

The model has :math:`N` independent categorical latents of :math:`K` categories
with a uniform prior and a Bernoulli likelihood of the binarised pixels,

.. math::

    z_n \sim \mathrm{OneHotCategorical}(1/K), \qquad
    x \mid z \sim \mathrm{Bernoulli}(\sigma(\mathrm{decoder}(z))),

and the guide :math:`q(z_n \mid x) = \mathrm{OneHotCategorical}(\mathrm{softmax}
(\mathrm{encoder}(x)_n))`. The estimators differ only in the distributions at the
latent site ``"z"``:

- ``relaxed`` (the default): the relaxed ELBO of Maddison et al. [1]: a
  :class:`~pyro_concrete.RelaxedCategoricalConcrete` guide scored by a relaxed
  uniform prior, the decoder fed relaxed samples. As they advise, the prior is
  colder than the guide: 0.4 (their value for 8 categories) against the annealed
  guide temperature, 1 down to 0.5: with equal temperatures the latents went
  unused on the digits (the test bound stayed at that of independent pixels).
- ``straight_through``, ``gumbel_rao``, ``reinmax``: the discrete ELBO, exactly:
  a :class:`~pyro_concrete.RelaxedCategoricalConcreteStraightThrough` guide (exact
  one-hot samples, relaxed gradients [2, 3, 4]) and the same class, uniform, as
  the prior, so the prior term also passes the straight-through gradient.
  ReinMax is defined for :math:`\tau \ge 1`: its default temperature is 1, and
  its schedule never goes below 1.
- ``score_function``: a ``OneHotCategorical`` guide and prior with
  :class:`~pyro.infer.Trace_ELBO`, the score-function (REINFORCE) baseline of
  Jang et al. [2]. ``Trace_ELBO`` multiplies each image's score by that image's
  own log-ratio (its Rao-Blackwellisation over the ``data`` plate), which for a
  single latent site is all that ``TraceGraph_ELBO`` would add; unlike
  ``TraceGraph_ELBO`` it has a ``differentiable_loss``, which the data-parallel
  pattern needs, and it keeps nothing in Pyro's global param store (whose
  decaying-average baseline is per process and shaped like the batch).

Every estimator is trained on the loss ``Trace_ELBO().differentiable_loss`` --
Pyro's pattern for PyTorch optimisers and
:class:`~torch.nn.parallel.DistributedDataParallel` -- and every one is evaluated
the same way, on the discrete model (:func:`evaluate`): the negative ELBO with
the categorical posterior, and the importance-sampled bound on the negative
log-likelihood [5]. :func:`independent_pixels_nll` is what a model that ignores
its code scores: the plateau where short runs sit.

**References**

[1] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
    Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
[2] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
    with Gumbel-Softmax. ICLR.
[3] Max B. Paulus, Chris J. Maddison, Andreas Krause (2021). Rao-Blackwellizing
    the Straight-Through Gumbel-Softmax Gradient Estimator. ICLR.
[4] Liyuan Liu, Chengyu Dong, Xiaodong Liu, Bin Yu, Jianfeng Gao (2023).
    Bridging Discrete and Backpropagation: Straight-Through and Beyond. NeurIPS.
[5] Yuri Burda, Roger Grosse, Ruslan Salakhutdinov (2016). Importance Weighted
    Autoencoders. ICLR.
"""

import math
from typing import Optional, Tuple

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Trace_ELBO
from torch import nn

from pyro_concrete import RelaxedCategoricalConcrete, RelaxedCategoricalConcreteStraightThrough
from pyro_concrete.estimators import ESTIMATORS as STRAIGHT_THROUGH_ESTIMATORS

__all__ = ["CategoricalVAE", "ESTIMATORS", "evaluate", "independent_pixels_nll"]

#: Training estimators, see the module's documentation.
ESTIMATORS = ("relaxed", "straight_through", "gumbel_rao", "reinmax", "score_function")


class CategoricalVAE(nn.Module):
    r"""
    A VAE with ``num_latents`` categorical latents of ``num_categories``
    categories, a uniform prior, a Bernoulli likelihood, and MLP encoder and
    decoder of one hidden layer. Calling it returns the training loss: the
    negative ELBO estimate of ``estimator``, summed over the batch (its gradient
    is the estimator's). Its parameters are the module's own: Pyro's global param
    store is not used, so the module can be wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`.

    :param int num_pixels: the number of binary pixels of an image.
    :param int num_latents: :math:`N`.
    :param int num_categories: :math:`K`.
    :param int hidden_size: the width of the hidden layers.
    :param str estimator: one of :data:`ESTIMATORS`.
    :param float prior_temperature: the temperature of the relaxed prior of the
        ``relaxed`` estimator; ``None`` for the guide's temperature.
    :param int rao_samples: conditional samples of the ``gumbel_rao`` estimator.
    :param torch.dtype dtype: of the parameters (the default dtype if ``None``).
    """

    def __init__(
        self,
        num_pixels: int,
        num_latents: int,
        num_categories: int,
        hidden_size: int = 256,
        estimator: str = "relaxed",
        prior_temperature: Optional[float] = None,
        rao_samples: int = 10,
        dtype: Optional[torch.dtype] = None,
    ):
        if estimator not in ESTIMATORS:
            raise ValueError(
                f"estimator must be one of {', '.join(map(repr, ESTIMATORS))}; got {estimator!r}."
            )
        super().__init__()
        self.num_latents, self.num_categories = num_latents, num_categories
        self.estimator = estimator
        self.prior_temperature = prior_temperature
        self.rao_samples = rao_samples
        code_size = num_latents * num_categories
        self.encoder = _mlp(num_pixels, hidden_size, code_size, dtype)
        self.decoder = _mlp(code_size, hidden_size, num_pixels, dtype)
        self.elbo = Trace_ELBO(max_plate_nesting=1)

    def posterior_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised log-probabilities of :math:`q(z \\mid x)`, shape ``(..., N, K)``."""
        logits = self.encoder(x).unflatten(-1, (self.num_latents, self.num_categories))
        return logits.log_softmax(-1)

    def likelihood(self, z: torch.Tensor) -> dist.Distribution:
        """:math:`p(x \\mid z)` for one-hot (or relaxed) codes ``z`` of shape ``(..., N, K)``."""
        return dist.Bernoulli(logits=self.decoder(z.flatten(-2))).to_event(1)

    def latent(self, logits: torch.Tensor, temperature: float) -> dist.Distribution:
        """The distribution of one image's code at site ``"z"`` for this estimator."""
        if self.estimator == "relaxed":
            return RelaxedCategoricalConcrete(temperature, logits=logits).to_event(1)
        if self.estimator == "score_function":
            return dist.OneHotCategorical(logits=logits).to_event(1)
        return RelaxedCategoricalConcreteStraightThrough(
            temperature, logits=logits, estimator=self.estimator, rao_samples=self.rao_samples
        ).to_event(1)

    def model(self, x: torch.Tensor, temperature: float = 1.0) -> None:
        """:math:`p(z) \\, p(x \\mid z)` for images ``x`` of shape ``(batch, num_pixels)``."""
        uniform = x.new_zeros(len(x), self.num_latents, self.num_categories)
        if self.estimator == "relaxed" and self.prior_temperature is not None:
            temperature = self.prior_temperature
        elif self.estimator in STRAIGHT_THROUGH_ESTIMATORS:
            # Only the prior's log_prob is used, and it does not depend on the temperature.
            temperature = 1.0
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", self.latent(uniform, temperature))
            pyro.sample("x", self.likelihood(z), obs=x)

    def guide(self, x: torch.Tensor, temperature: float = 1.0) -> None:
        """:math:`q(z \\mid x)`, at ``temperature`` for the relaxed estimators."""
        with pyro.plate("data", len(x)):
            pyro.sample("z", self.latent(self.posterior_logits(x), temperature))

    def forward(self, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return self.elbo.differentiable_loss(self.model, self.guide, x, temperature)


def _mlp(in_size, hidden_size, out_size, dtype):
    return nn.Sequential(
        nn.Linear(in_size, hidden_size, dtype=dtype),
        nn.ReLU(),
        nn.Linear(hidden_size, out_size, dtype=dtype),
    )


@torch.no_grad()
def evaluate(
    vae: CategoricalVAE, data: torch.Tensor, num_samples: int = 1000, max_rows: int = 2**16
) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""
    Scores images under the discrete model, whatever the training estimator, with
    :math:`S` samples :math:`z_s \sim q(z \mid x)` categorical:

    - the negative ELBO, :math:`\mathrm{KL}(q \,\|\, p(z)) - \frac1S \sum_s \log p(x \mid z_s)`
      with the exact KL;
    - the importance-sampled bound on the negative log-likelihood [5],

      .. math::

          -\log \frac{1}{S} \sum_s \frac{p(x, z_s)}{q(z_s \mid x)} ,

      whose expectation lies between :math:`-\log p(x)` and the negative ELBO and
      decreases with :math:`S`.

    :param CategoricalVAE vae: the model.
    :param torch.Tensor data: images of shape ``(num_images, num_pixels)``.
    :param int num_samples: :math:`S`.
    :param int max_rows: images are processed in chunks of at most this many
        decoder rows (images times samples), to bound memory.
    :returns: ``(negative_elbo, nll_bound)``, each of shape ``(num_images,)``, in nats.
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
    if not len(data):
        return data.new_zeros(0), data.new_zeros(0)
    log_prior = -vae.num_latents * math.log(vae.num_categories)
    negative_elbos, bounds = [], []
    for x in data.split(max(1, max_rows // num_samples)):
        log_q = vae.posterior_logits(x)
        z = dist.OneHotCategorical(logits=log_q).sample((num_samples,))
        log_likelihood = vae.likelihood(z).log_prob(x)
        log_weights = log_likelihood + log_prior - (z * log_q).sum((-2, -1))
        kl = (log_q.exp() * log_q).sum((-2, -1)) - log_prior
        negative_elbos.append(kl - log_likelihood.mean(0))
        bounds.append(math.log(num_samples) - log_weights.logsumexp(0))
    return torch.cat(negative_elbos), torch.cat(bounds)


def independent_pixels_nll(train_data: torch.Tensor, test_data: torch.Tensor) -> float:
    r"""
    The mean negative log-likelihood of ``test_data`` under independent Bernoulli
    pixels at the training set's pixel means :math:`\bar x_i`,

    .. math::

        -\frac{1}{M} \sum_{m=1}^M \sum_i \log \mathrm{Bernoulli}(x_{mi} \mid \bar x_i),

    the means kept :math:`1/(2 \cdot \mathrm{num\_train})` away from 0 and 1 so that a pixel
    never on in training costs finite nats. A model whose posterior equals its prior (no
    code used) can do no better than this on the training set; it is the plateau where
    short runs sit (about 25.0 nats on the digits).

    :param torch.Tensor train_data: binary training images, shape ``(num_train, num_pixels)``.
    :param torch.Tensor test_data: binary images to score, shape ``(num_test, num_pixels)``.
    :returns: nats per image.
    """
    margin = 0.5 / len(train_data)
    means = train_data.double().mean(0).clamp(margin, 1 - margin)
    return -float(dist.Bernoulli(probs=means).log_prob(test_data.double()).sum(-1).mean())
