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


# The calls torch's documentation of F.gumbel_softmax shows or allows: positional
# and keyword, every parameter.
TORCH_CALLS = [
    ((), {}),
    ((), {"tau": 0.1}),
    ((), {"tau": 0.5, "hard": True}),
    ((1.0, False), {}),
    ((0.5, True), {}),
    ((1.0, False, 1e-10, -1), {}),
    ((), {"tau": 1, "hard": False, "eps": 1e-10, "dim": -1}),
    ((), {"hard": True, "dim": 0}),
    ((2.0, True, 1e-10, 1), {}),
    ((), {"tau": torch.tensor(0.7)}),
]


@pytest.mark.parametrize("args, kwargs", TORCH_CALLS, ids=str)
def test_accepts_every_call_of_torch_gumbel_softmax(args, kwargs):
    """The same call means the same thing: shapes, dtype, the simplex or one-hot along dim."""
    logits = torch.randn(4, 3, 5, requires_grad=True)
    ours = gumbel_softmax(logits, *args, **kwargs)
    theirs = torch.nn.functional.gumbel_softmax(logits, *args, **kwargs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    dim = kwargs.get("dim", args[3] if len(args) > 3 else -1)
    hard = kwargs.get("hard", args[1] if len(args) > 1 else False)
    torch.testing.assert_close(ours.sum(dim), torch.ones_like(ours.sum(dim)))
    if hard:
        assert ((ours == 0) | (ours == 1)).all()
    (grad,) = torch.autograd.grad((ours * torch.randn(ours.shape)).sum(), [logits])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_deprecated_eps_warns_as_torch_does():
    logits = torch.randn(3)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        torch.nn.functional.gumbel_softmax(logits, eps=1e-3)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        gumbel_softmax(logits, eps=1e-3)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_hard_samples_along_dim_follow_the_categorical_law(dim):
    logits = torch.tensor([[0.5, -1.0, 0.0], [2.0, 0.0, -2.0]]).movedim(-1, dim).contiguous()
    num_samples = 20_000
    sample_dim = dim + 1 if dim >= 0 else dim
    samples = gumbel_softmax(
        logits.expand((num_samples,) + logits.shape), 0.5, True, dim=sample_dim
    )
    counts = samples.sum(0).movedim(dim, -1)
    expected = torch.softmax(logits.movedim(dim, -1), -1) * num_samples
    for row, row_expected in zip(counts, expected):
        assert scipy.stats.chisquare(row.numpy(), row_expected.numpy()).pvalue > 1e-3
