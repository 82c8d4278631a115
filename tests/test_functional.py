# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import pytest
import scipy.stats
import torch

from pyro_concrete import RelaxedCategoricalConcrete
from pyro_concrete.estimators import ESTIMATORS
from pyro_concrete.functional import binary_gumbel_softmax, gumbel_softmax

P_VALUE = 1e-3


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_hard_samples_along_any_dim(dim, estimator):
    logits = torch.randn(6, 5, 4, requires_grad=True)
    y = gumbel_softmax(logits, 1.0, hard=True, estimator=estimator, dim=dim)
    assert y.shape == logits.shape
    assert ((y == 0) | (y == 1)).all() and (y.sum(dim) == 1).all()
    (grad,) = torch.autograd.grad((y * torch.randn(y.shape)).sum(), [logits])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_soft_samples_match_the_distribution():
    """Same noise, same numbers as RelaxedCategoricalConcrete.rsample."""
    logits = torch.randn(10, 3, 7)
    torch.manual_seed(0)
    y = gumbel_softmax(logits, 0.4, dim=1)
    torch.manual_seed(0)
    expected = (
        RelaxedCategoricalConcrete(0.4, logits=logits.movedim(1, -1)).rsample().movedim(-1, 1)
    )
    torch.testing.assert_close(y, expected)


def test_hard_law():
    probs = torch.tensor([0.1, 0.6, 0.3])
    y = gumbel_softmax(probs.log().expand(60000, 3), 0.5, hard=True)
    assert scipy.stats.chisquare(y.sum(0).numpy(), (probs * 60000).numpy()).pvalue > P_VALUE


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_without_nan(dtype):
    """F.gumbel_softmax's exponential_() noise has exact zeros in float16 (NaN rows)."""
    logits = torch.randn(2000, 100).to(dtype)
    for _ in range(5):
        y = gumbel_softmax(logits, 0.1)
        assert y.dtype == dtype
        assert not torch.isnan(y).any()


def test_masked_categories():
    logits = torch.tensor([0.0, -float("inf"), 1.0]).expand(1000, 3).clone().requires_grad_()
    tau = torch.tensor(0.5, requires_grad=True)
    y = gumbel_softmax(logits, tau, hard=True)
    assert (y[:, 1] == 0).all()
    grads = torch.autograd.grad((y * torch.randn(y.shape)).sum(), [logits, tau])
    assert all(torch.isfinite(g).all() for g in grads)


def test_tensor_temperature_broadcasts_against_logits():
    logits = torch.randn(4, 6, 3)
    tau = torch.tensor([0.1, 10.0, 1.0, 1.0]).reshape(4, 1, 1)
    y = gumbel_softmax(logits, tau, dim=1)
    assert y.shape == logits.shape
    assert y[0].max(0).values.mean() > y[1].max(0).values.mean()  # low temperature is peakier


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_binary(estimator):
    logits = torch.randn(20000, requires_grad=True)
    bits = binary_gumbel_softmax(logits, 1.0, hard=True, estimator=estimator)
    assert ((bits == 0) | (bits == 1)).all()
    (grad,) = torch.autograd.grad(bits.sum(), [logits])
    assert torch.isfinite(grad).all()
    soft = binary_gumbel_softmax(logits, 0.5)
    assert ((soft >= 0) & (soft <= 1)).all()


def test_bad_input():
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(torch.randn(3), 0.0)
    with pytest.raises(TypeError, match="logits"):
        gumbel_softmax([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="estimator"):
        gumbel_softmax(torch.randn(3), 1.0, hard=True, estimator="nope")
    with pytest.raises(ValueError, match="logits"):
        gumbel_softmax(torch.tensor([0.0, float("nan")]), 1.0)
    with pytest.raises(ValueError, match="tau"):
        binary_gumbel_softmax(torch.randn(3), torch.tensor([1.0, -1.0, 1.0]))
