# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""Checks every distribution of the fixture table must pass."""

import io
import pickle

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch

from tests.common import STRAIGHT_THROUGH
from tests.distributions.conftest import FIXTURES

SAMPLE_SHAPES = [(), (4,), (2, 3)]


@pytest.fixture(params=FIXTURES, ids=repr)
def fixture(request):
    return request.param


def _values(d, sample_shape=(5,)):
    return d.sample(sample_shape)


@pytest.mark.parametrize("sample_shape", SAMPLE_SHAPES, ids=str)
def test_sample_and_log_prob_shapes(fixture, sample_shape):
    d = fixture.make()
    x = d.rsample(sample_shape)
    assert x.shape == torch.Size(sample_shape) + d.batch_shape + d.event_shape
    assert d.sample(sample_shape).shape == x.shape
    assert d.log_prob(x).shape == torch.Size(sample_shape) + d.batch_shape
    assert d.shape(sample_shape) == x.shape
    assert x.dtype == d.dtype


def test_infer_shapes(fixture):
    d = fixture.make()
    arg_shapes = {
        name: tuple(value.shape) if isinstance(value, torch.Tensor) else ()
        for name, value in fixture.make_params().items()
        if name in ("temperature", "probs", "logits")
    }
    batch_shape, event_shape = type(d).infer_shapes(**arg_shapes)
    assert batch_shape == d.batch_shape
    assert event_shape == d.event_shape


@pytest.mark.parametrize("extra_shape", [(3,), (2, 1)], ids=str)
def test_expand(fixture, extra_shape):
    d = fixture.make()
    batch_shape = torch.Size(extra_shape) + d.batch_shape
    expanded = d.expand(batch_shape)
    assert type(expanded) is type(d)
    assert expanded.batch_shape == batch_shape
    assert expanded.event_shape == d.event_shape
    assert expanded._validate_args == d._validate_args
    x = expanded.rsample()
    assert x.shape == batch_shape + d.event_shape
    # The expanded distribution scores values as the original one does.
    torch.testing.assert_close(expanded.log_prob(x), d.log_prob(x))
    # expand after computing the lazy properties expands them too.
    assert d.probs.shape == d.logits.shape
    expanded_again = d.expand(batch_shape)
    assert expanded_again.probs.shape == batch_shape + d.event_shape
    assert expanded_again.temperature.shape == batch_shape
    torch.testing.assert_close(expanded_again.log_prob(x), d.log_prob(x))


def test_expand_keeps_validation_flag(fixture):
    d = fixture.make(validate_args=False)
    assert d.expand((2,) + tuple(d.batch_shape))._validate_args is False


def test_plate_broadcasting(fixture):
    d = fixture.make()

    def model():
        with pyro.plate("outer", 2, dim=-1 - len(d.batch_shape)):
            return pyro.sample("x", d)

    trace = poutine.trace(model).get_trace()
    trace.compute_log_prob()
    site = trace.nodes["x"]
    assert site["value"].shape == (2,) + d.batch_shape + d.event_shape
    assert site["log_prob"].shape == (2,) + d.batch_shape
    torch.testing.assert_close(site["log_prob"], d.log_prob(site["value"]))


def test_pickle(fixture):
    d = fixture.make()
    x = d.sample((3,))
    buffer = io.BytesIO()
    torch.save(d, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    torch.testing.assert_close(loaded.log_prob(x), d.log_prob(x))
    unpickled = pickle.loads(pickle.dumps(d))
    torch.testing.assert_close(unpickled.log_prob(x), d.log_prob(x))
    # Samples pickle too, and are still scored correctly.
    x_loaded = pickle.loads(pickle.dumps(x))
    torch.testing.assert_close(d.log_prob(x_loaded), d.log_prob(x))


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str
)
def test_dtypes(fixture, dtype):
    params = {
        name: value.to(dtype) if isinstance(value, torch.Tensor) else value
        for name, value in fixture.make_params().items()
    }
    d = fixture.dist_class(**params)
    x = d.rsample((50,))
    assert x.dtype == dtype
    assert d.log_prob(x).dtype == dtype
    assert not torch.isnan(d.log_prob(x)).any()
    # A value cast to another dtype loses the carried coordinates; it is still scored.
    wide = d.log_prob(x.double())
    assert wide.dtype == torch.float64
    assert torch.isfinite(wide).all()


def test_own_samples_in_support(fixture):
    d = fixture.make(validate_args=True)
    x = d.sample((100,))
    assert d.support.check(x).all()
    d.log_prob(x)  # validation must not reject our own samples


def test_rsample_gradients(fixture):
    params = {
        name: value.clone().requires_grad_() if isinstance(value, torch.Tensor) else value
        for name, value in fixture.make_params().items()
    }
    d = fixture.dist_class(**params)
    x = d.rsample((20,))
    loss = (x * torch.randn(x.shape)).sum() + d.log_prob(x).sum()
    tensors = [v for v in params.values() if isinstance(v, torch.Tensor)]
    grads = torch.autograd.grad(loss, tensors)
    for g in grads:
        assert torch.isfinite(g).all()
        assert g.abs().sum() > 0


def test_properties(fixture):
    d = fixture.make()
    probs, logits = d.probs, d.logits
    assert probs.shape == d.batch_shape + d.event_shape
    if d.event_shape:
        torch.testing.assert_close(probs.sum(-1), torch.ones(d.batch_shape))
        torch.testing.assert_close(logits.exp(), probs)
    else:
        torch.testing.assert_close(logits.sigmoid(), probs)
    assert d.temperature.shape == d.batch_shape
    assert type(d).__name__ in repr(d)


def test_enumerate_support(fixture):
    d = fixture.make()
    if not isinstance(d, STRAIGHT_THROUGH):
        assert not d.has_enumerate_support
        return
    values = d.enumerate_support()
    num_values = values.shape[0]
    assert values.shape == (num_values,) + d.batch_shape + d.event_shape
    assert d.support.check(values).all()
    # The support is enumerated exactly: probabilities sum to one.
    total = d.log_prob(values).exp().sum(0)
    torch.testing.assert_close(total, torch.ones(d.batch_shape))
    unexpanded = d.enumerate_support(expand=False)
    assert unexpanded.shape == (num_values,) + (1,) * len(d.batch_shape) + d.event_shape


def test_registered_in_pyro(fixture):
    assert getattr(dist, fixture.dist_class.__name__) is fixture.dist_class


@pytest.mark.cuda
def test_cuda(fixture):
    params = {
        name: value.cuda() if isinstance(value, torch.Tensor) else value
        for name, value in fixture.make_params().items()
    }
    d = fixture.dist_class(**params)
    x = d.rsample((1000,))
    assert x.device.type == "cuda"
    log_prob = d.log_prob(x)
    assert log_prob.device.type == "cuda"
    assert torch.isfinite(log_prob).all()
    cpu = fixture.dist_class(**fixture.make_params())
    torch.testing.assert_close(log_prob.cpu(), cpu.log_prob(x.cpu()))
