# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
The semi-supervised variational autoencoder M2 of Kingma et al. [1], with the
class label summed out exactly or sampled by a straight-through estimator [2].

Generative model, for a binary image :math:`x` with class :math:`y`:

.. math::

    y \sim \mathrm{OneHotCategorical}(1/K), \qquad z \sim \mathcal{N}(0, I), \qquad
    x \sim \mathrm{Bernoulli}(\mathrm{decoder}(z, y)),

and guide :math:`q(y \mid x) = \mathrm{OneHotCategorical}(\mathrm{classifier}(x))`,
:math:`q(z \mid x, y) = \mathcal{N}(\mathrm{encoder}(x, y))`. A labelled image
observes :math:`y`, and adds the classification term
:math:`\alpha \log q(y \mid x)` of [1] so that the classifier also learns from labels.
For an unlabelled image the ELBO

.. math::

    \sum_y q(y \mid x) \Big( \mathbb{E}_{q(z \mid x, y)}
        \big[\log p(x \mid y, z) + \log p(z) - \log q(z \mid x, y)\big]
        + \log p(y) - \log q(y \mid x) \Big)

is computed either exactly over the :math:`K` classes (``estimator="enumerate"``,
:class:`~pyro.infer.TraceEnum_ELBO`: the encoder and decoder run :math:`K` times,
so the cost grows with the number of classes), or from one straight-through
sample of :math:`y` (:class:`~pyro_concrete.RelaxedCategoricalConcreteStraightThrough`,
:class:`~pyro.infer.Trace_ELBO`: the cost does not grow with :math:`K`); both
estimate the same discrete ELBO without bias.

Example::

    data = load_digits(num_labelled=100)
    vae = SemiSupervisedVAE(data.input_size, data.num_classes, estimator="straight_through")
    train(vae, data, num_steps=2000)
    print(accuracy(vae, data.test_xs, data.test_ys))

**References**

[1] Diederik P. Kingma, Danilo J. Rezende, Shakir Mohamed, Max Welling (2014).
    Semi-Supervised Learning with Deep Generative Models. NeurIPS.
[2] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
    with Gumbel-Softmax. ICLR.
"""

from typing import NamedTuple

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO
from pyro.optim import Adam
from torch import nn
from torch.nn.functional import one_hot

from pyro_concrete import RelaxedCategoricalConcreteStraightThrough
from pyro_concrete.examples.data import load_labelled_digits

__all__ = ["ESTIMATORS", "Digits", "SemiSupervisedVAE", "accuracy", "load_digits", "train"]

#: How the class of an unlabelled image enters the ELBO: summed out exactly, or
#: one sample with one of the straight-through gradient estimators.
ESTIMATORS = ("enumerate", "straight_through", "gumbel_rao", "reinmax")


def _concat(left, right):
    """Concatenates along the last dimension, broadcasting the leading ones."""
    shape = torch.broadcast_shapes(left.shape[:-1], right.shape[:-1])
    return torch.cat(
        [left.expand(shape + left.shape[-1:]), right.expand(shape + right.shape[-1:])], -1
    )


def _mlp(input_size, hidden_size, output_size):
    return nn.Sequential(
        nn.Linear(input_size, hidden_size), nn.Softplus(), nn.Linear(hidden_size, output_size)
    )


class SemiSupervisedVAE(nn.Module):
    r"""
    The M2 model and its guide for ``num_classes`` classes, as a module whose
    :meth:`model` and :meth:`guide` take a batch of binary images ``xs`` of shape
    ``(batch, input_size)`` and, for labelled images, their one-hot classes ``ys``
    of shape ``(batch, num_classes)``. Train them with :meth:`elbo`, which is
    :class:`~pyro.infer.TraceEnum_ELBO` for ``estimator="enumerate"`` (the guide's
    class site is enumerated in parallel, as :func:`~pyro.infer.config_enumerate`
    does) and :class:`~pyro.infer.Trace_ELBO` otherwise.

    The class prior is a straight-through distribution in every mode: it has the
    law of ``OneHotCategorical``, and its ``log_prob`` passes the gradient of a
    straight-through sample on (``OneHotCategorical.log_prob`` does not).

    :param int input_size: number of pixels.
    :param int num_classes: number of classes :math:`K \ge 2`.
    :param int latent_size: dimension of the continuous latent :math:`z`.
    :param int hidden_size: width of the hidden layer of each network.
    :param str estimator: ``"enumerate"`` (exact sum over the classes), or the
        gradient estimator of a single straight-through sample:
        ``"straight_through"``, ``"gumbel_rao"`` or ``"reinmax"``.
    :param float temperature: temperature of the straight-through relaxation.
    :param float aux_loss_multiplier: weight :math:`\alpha` of the classification
        term of labelled images.
    :param str name: prefix of the networks' parameters in Pyro's parameter store:
        two models trained side by side need different names.
    """

    def __init__(
        self,
        input_size,
        num_classes,
        *,
        latent_size=16,
        hidden_size=256,
        estimator="enumerate",
        temperature=1.0,
        aux_loss_multiplier=10.0,
        name="semi_supervised_vae",
    ):
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if not (isinstance(num_classes, int) and num_classes >= 2):
            raise ValueError(f"num_classes must be an integer of at least 2, got {num_classes!r}")
        if not aux_loss_multiplier >= 0:
            raise ValueError(f"aux_loss_multiplier must be >= 0, got {aux_loss_multiplier!r}")
        super().__init__()
        self.num_classes = num_classes
        self.latent_size = latent_size
        self.estimator = estimator
        self.temperature = temperature
        self.aux_loss_multiplier = aux_loss_multiplier
        self.name = name
        self.classifier = _mlp(input_size, hidden_size, num_classes)
        self.encoder = _mlp(input_size + num_classes, hidden_size, 2 * latent_size)
        self.decoder = _mlp(latent_size + num_classes, hidden_size, input_size)

    def _straight_through(self, logits):
        return RelaxedCategoricalConcreteStraightThrough(
            self.temperature,
            logits=logits,
            estimator="straight_through" if self.estimator == "enumerate" else self.estimator,
        )

    def encode(self, xs, ys):
        r"""Location and scale of :math:`q(z \mid x, y)`, broadcasting ``xs`` with ``ys``."""
        loc, scale = self.encoder(_concat(xs, ys)).chunk(2, -1)
        return loc, nn.functional.softplus(scale) + 1e-3

    def model(self, xs, ys=None):
        """The generative model; ``ys`` are the one-hot classes of labelled images."""
        pyro.module(self.name, self)
        labelled = ys is not None
        with pyro.plate("data", xs.shape[-2]):
            ys = pyro.sample("y", self._straight_through(xs.new_zeros(self.num_classes)), obs=ys)
            zs = pyro.sample("z", dist.Normal(xs.new_zeros(self.latent_size), 1.0).to_event(1))
            pyro.sample(
                "x", dist.Bernoulli(logits=self.decoder(_concat(zs, ys))).to_event(1), obs=xs
            )
            if labelled and self.aux_loss_multiplier > 0:
                pyro.factor(
                    "classification", self.aux_loss_multiplier * self.log_class_probs(xs, ys)
                )

    def guide(self, xs, ys=None):
        """The guide; the class of unlabelled images (``ys=None``) is enumerated or sampled."""
        pyro.module(self.name, self)
        with pyro.plate("data", xs.shape[-2]):
            if ys is None:
                logits = self.classifier(xs)
                if self.estimator == "enumerate":
                    ys = pyro.sample(
                        "y", dist.OneHotCategorical(logits=logits), infer={"enumerate": "parallel"}
                    )
                else:
                    ys = pyro.sample("y", self._straight_through(logits))
            loc, scale = self.encode(xs, ys)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def log_class_probs(self, xs, ys):
        r""":math:`\log q(y \mid x)` for one-hot classes ``ys``."""
        return (self.classifier(xs).log_softmax(-1) * ys).sum(-1)

    def classify(self, xs):
        r"""The most probable class under :math:`q(y \mid x)`, as an index."""
        return self.classifier(xs).argmax(-1)

    def elbo(self, **kwargs):
        """The ELBO that matches :attr:`estimator`; ``kwargs`` go to its constructor."""
        if self.estimator == "enumerate":
            # Labelled batches have no site to enumerate: that is expected here.
            return TraceEnum_ELBO(max_plate_nesting=1, strict_enumeration_warning=False, **kwargs)
        return Trace_ELBO(max_plate_nesting=1, **kwargs)


def accuracy(vae, xs, ys):
    """
    Fraction of images whose most probable class under the guide's classifier is
    their labelled class.

    :param SemiSupervisedVAE vae: the model.
    :param torch.Tensor xs: images of shape ``(batch, input_size)``.
    :param torch.Tensor ys: one-hot classes of shape ``(batch, num_classes)``.
    :rtype: float
    """
    with torch.no_grad():
        return float((vae.classify(xs) == ys.argmax(-1)).double().mean())


class Digits(NamedTuple):
    """Binarised 8x8 digits split into labelled, unlabelled and test images."""

    labelled_xs: torch.Tensor
    labelled_ys: torch.Tensor
    unlabelled_xs: torch.Tensor
    test_xs: torch.Tensor
    test_ys: torch.Tensor

    @property
    def input_size(self):
        return self.labelled_xs.shape[-1]

    @property
    def num_classes(self):
        return self.labelled_ys.shape[-1]


def load_digits(num_labelled=100, seed=0, dtype=None):
    """
    scikit-learn's 1797 handwritten 8x8 digits (bundled, no download), binarised
    and split into training and test images as the VAE example splits them
    (:func:`~pyro_concrete.examples.data.load_labelled_digits`); ``num_labelled``
    of the training images keep their class, the same number of each class (to
    within one), chosen at random with ``seed``.

    :param int num_labelled: number of labelled training images.
    :param int seed: seed of the choice of labelled images.
    :param torch.dtype dtype: dtype of the returned tensors (default: torch's default).
    :rtype: Digits
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    xs, labels, test_xs, test_labels = load_labelled_digits(dtype)
    num_classes = int(labels.max()) + 1
    if not 0 < num_labelled <= len(xs):
        raise ValueError(f"num_labelled must be in [1, {len(xs)}], got {num_labelled}")
    order = torch.randperm(len(xs), generator=torch.Generator().manual_seed(seed))
    # Round-robin over the classes, so that few labels still cover all of them.
    rank_in_class = torch.empty_like(order)
    for label in range(num_classes):
        members = (labels[order] == label).nonzero().squeeze(-1)
        rank_in_class[members] = torch.arange(len(members))
    order = order[torch.argsort(rank_in_class * num_classes + labels[order])]
    labelled, unlabelled = order[:num_labelled], order[num_labelled:]
    ys = one_hot(labels, num_classes).to(dtype)
    test_ys = one_hot(test_labels, num_classes).to(dtype)
    return Digits(xs[labelled], ys[labelled], xs[unlabelled], test_xs, test_ys)


def train(vae, data, num_steps, batch_size=100, learning_rate=1e-3):
    """
    Trains ``vae`` by SVI on ``data`` with :meth:`SemiSupervisedVAE.elbo` and
    Adam. Each step takes one random minibatch of labelled and one of unlabelled
    images.

    :param SemiSupervisedVAE vae: the model.
    :param Digits data: the images (any :class:`Digits`-like tuple).
    :param int num_steps: number of steps.
    :param int batch_size: size of each minibatch (at most the number of labelled
        images for the labelled one).
    :param float learning_rate: Adam's learning rate.
    :returns: the loss of each step, per image.
    :rtype: list
    """
    svi = SVI(vae.model, vae.guide, Adam({"lr": learning_rate}), vae.elbo())
    num_labelled = len(data.labelled_xs)
    labelled_batch = min(batch_size, num_labelled)
    losses = []
    for _ in range(num_steps):
        labelled = torch.randint(num_labelled, (labelled_batch,))
        unlabelled = torch.randint(len(data.unlabelled_xs), (batch_size,))
        loss = svi.step(data.labelled_xs[labelled], data.labelled_ys[labelled])
        loss += svi.step(data.unlabelled_xs[unlabelled])
        losses.append(loss / (labelled_batch + batch_size))
    return losses
