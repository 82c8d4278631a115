# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""The semi-supervised M2 model: shapes, the exact enumerated ELBO, unbiasedness, training."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI
from pyro.optim import Adam

from pyro_concrete.examples.semi_supervised import (
    ESTIMATORS,
    SemiSupervisedVAE,
    accuracy,
    load_digits,
    train,
)

INPUT_SIZE, NUM_CLASSES, LATENT_SIZE, BATCH_SIZE = 6, 4, 3, 5


def small_vae(estimator="enumerate"):
    return SemiSupervisedVAE(
        INPUT_SIZE, NUM_CLASSES, latent_size=LATENT_SIZE, hidden_size=8, estimator=estimator
    ).double()


def images(batch_size=BATCH_SIZE):
    return torch.bernoulli(torch.full((batch_size, INPUT_SIZE), 0.4))


def one_hot_classes(batch_size=BATCH_SIZE):
    return torch.nn.functional.one_hot(torch.arange(batch_size) % NUM_CLASSES, NUM_CLASSES).double()


def traces(vae, xs, ys=None):
    guide = poutine.enum(vae.guide, first_available_dim=-2)
    guide_trace = poutine.trace(guide).get_trace(xs, ys)
    model_trace = poutine.trace(poutine.replay(vae.model, trace=guide_trace)).get_trace(xs, ys)
    return guide_trace, model_trace


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_shapes_unlabelled(estimator):
    vae = small_vae(estimator)
    guide_trace, model_trace = traces(vae, images())
    y = guide_trace.nodes["y"]["value"]
    z = guide_trace.nodes["z"]["value"]
    if estimator == "enumerate":
        assert y.shape == (NUM_CLASSES, 1, NUM_CLASSES)
        assert z.shape == (NUM_CLASSES, BATCH_SIZE, LATENT_SIZE)
        torch.testing.assert_close(y.squeeze(1), torch.eye(NUM_CLASSES, dtype=y.dtype))
    else:
        assert y.shape == (BATCH_SIZE, NUM_CLASSES)
        assert z.shape == (BATCH_SIZE, LATENT_SIZE)
        assert ((y == 0) | (y == 1)).all() and (y.sum(-1) == 1).all()
    model_trace.compute_log_prob()
    batch_shape = z.shape[:-1]
    assert model_trace.nodes["x"]["log_prob"].shape == batch_shape
    assert "classification" not in model_trace.nodes
    assert math.isfinite(vae.elbo().loss(vae.model, vae.guide, images()))


@pytest.mark.parametrize("estimator", ["enumerate", "straight_through"])
def test_shapes_labelled(estimator):
    vae = small_vae(estimator)
    xs, ys = images(), one_hot_classes()
    guide_trace, model_trace = traces(vae, xs, ys)
    assert "y" not in guide_trace.nodes
    assert guide_trace.nodes["z"]["value"].shape == (BATCH_SIZE, LATENT_SIZE)
    assert model_trace.nodes["y"]["is_observed"]
    model_trace.compute_log_prob()
    torch.testing.assert_close(
        model_trace.nodes["classification"]["log_prob"],
        vae.aux_loss_multiplier * (vae.classifier(xs).log_softmax(-1) * ys).sum(-1),
    )


def test_enumerated_elbo_is_the_exact_sum_over_classes():
    r"""
    Reference computed in the test, with the continuous latents the guide drew
    (same seed): :math:`\sum_b \sum_k q(k \mid x_b) [\log p(x_b \mid z_{bk}, k)
    + \log p(z_{bk}) - \log q(z_{bk} \mid x_b, k) + \log(1/K) - \log q(k \mid x_b)]`.
    """
    vae, xs = small_vae(), images()
    pyro.set_rng_seed(1)
    loss = vae.elbo().loss(vae.model, vae.guide, xs)
    pyro.set_rng_seed(1)
    guide_trace, _ = traces(vae, xs)
    zs = guide_trace.nodes["z"]["value"]  # (class, image, latent)

    with torch.no_grad():
        ys = torch.eye(NUM_CLASSES, dtype=xs.dtype).unsqueeze(1).expand(-1, BATCH_SIZE, -1)
        log_q_y = vae.classifier(xs).log_softmax(-1).T  # (class, image)
        loc, scale = vae.encoder(torch.cat([xs.expand(NUM_CLASSES, -1, -1), ys], -1)).chunk(2, -1)
        scale = torch.nn.functional.softplus(scale) + 1e-3
        log_q_z = dist.Normal(loc, scale).log_prob(zs).sum(-1)
        log_p_z = dist.Normal(0.0, 1.0).log_prob(zs).sum(-1)
        pixel_logits = vae.decoder(torch.cat([zs, ys], -1))
        log_p_x = dist.Bernoulli(logits=pixel_logits).log_prob(xs).sum(-1)
        per_class = log_p_x + log_p_z - log_q_z - math.log(NUM_CLASSES) - log_q_y
        expected = (log_q_y.exp() * per_class).sum()
    torch.testing.assert_close(torch.tensor(-loss, dtype=expected.dtype), expected)


def test_straight_through_loss_is_unbiased():
    """
    For the same networks, the single-sample straight-through Trace_ELBO loss
    and the enumerated TraceEnum_ELBO loss estimate the same discrete ELBO: 10
    independent estimates of 1000 particles each, means within 4.5 standard
    errors of their difference. Dropping the -log q(y) term would shift the
    straight-through mean by the entropy of q(y) (about 1.3 nats per image here),
    about 100 standard errors.
    """
    enumerated, straight_through = small_vae(), small_vae("straight_through")
    straight_through.load_state_dict(enumerated.state_dict())
    xs = images(2)
    estimates = []
    for vae in (enumerated, straight_through):
        elbo = vae.elbo(num_particles=1000, vectorize_particles=True)
        estimates.append(torch.tensor([elbo.loss(vae.model, vae.guide, xs) for _ in range(10)]))
    difference = estimates[1].mean() - estimates[0].mean()
    standard_error = math.sqrt(sum(e.var() / len(e) for e in estimates))
    assert abs(difference) < 4.5 * standard_error
    assert standard_error < 0.05


@pytest.mark.parametrize("estimator", ["enumerate", "straight_through"])
def test_training_on_digits(estimator):
    """
    60 steps on the digits with 100 labels: the loss per image falls by more than
    a quarter, and the classifier is right on more than half of 297 test images
    (chance is 0.1: a binomial tail of about 1e-70).
    """
    data = load_digits(num_labelled=100)
    vae = SemiSupervisedVAE(data.input_size, data.num_classes, hidden_size=64, estimator=estimator)
    losses = train(vae, data, num_steps=60, learning_rate=3e-3)
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-5:]) / 5 < 0.75 * losses[0]
    assert accuracy(vae, data.test_xs, data.test_ys) > 0.5


def test_load_digits():
    data = load_digits(num_labelled=30, seed=2)
    assert data.input_size == 64 and data.num_classes == 10
    assert len(data.labelled_xs) == 30 and len(data.test_xs) == 297
    assert len(data.labelled_xs) + len(data.unlabelled_xs) + len(data.test_xs) == 1797
    assert (data.labelled_ys.sum(0) == 3).all()
    for xs in (data.labelled_xs, data.unlabelled_xs, data.test_xs):
        assert ((xs == 0) | (xs == 1)).all()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"estimator": "gumbel"}, "estimator"),
        ({"num_classes": 1}, "num_classes"),
        ({"aux_loss_multiplier": -1.0}, "aux_loss_multiplier"),
    ],
)
def test_invalid_arguments(kwargs, name):
    kwargs = {"input_size": INPUT_SIZE, "num_classes": NUM_CLASSES, **kwargs}
    with pytest.raises(ValueError, match=name):
        SemiSupervisedVAE(**kwargs)
    with pytest.raises(ValueError, match="num_labelled"):
        load_digits(num_labelled=0)


@pytest.mark.cuda
@pytest.mark.parametrize("estimator", ["enumerate", "straight_through"])
def test_cuda(estimator):
    vae = small_vae(estimator).cuda()
    xs, ys = images().cuda(), one_hot_classes().cuda()
    svi = SVI(vae.model, vae.guide, Adam({"lr": 1e-3}), vae.elbo())
    losses = [svi.step(xs, ys), svi.step(xs)]
    assert all(math.isfinite(loss) for loss in losses)
    assert vae.classify(xs).device.type == "cuda"
