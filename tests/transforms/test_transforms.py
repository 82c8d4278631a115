# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""Transforms, checked in torch's manner: inverse, caching, Jacobian, shapes."""

import pytest
import torch
from torch.autograd.functional import jacobian

from pyro_concrete.ops.carry import LOG, LOGIT
from pyro_concrete.transforms import (
    AdditiveLogisticTransform,
    LogAdditiveLogisticTransform,
    StraightThroughTransform,
    UnclippedSigmoidTransform,
)

BIJECTIONS = [
    AdditiveLogisticTransform(),
    LogAdditiveLogisticTransform(),
    UnclippedSigmoidTransform(),
]
ALL_TRANSFORMS = BIJECTIONS + [t.inv for t in BIJECTIONS]


def _domain_sample(transform, batch_shape=(5,)):
    if isinstance(transform, UnclippedSigmoidTransform):
        return torch.randn(batch_shape) * 3
    if transform in BIJECTIONS:
        return torch.randn(batch_shape + (3,)) * 3
    forward = transform.inv
    return forward(_domain_sample(forward, batch_shape))


@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=repr)
def test_inverse(transform):
    x = _domain_sample(transform)
    y = transform(x)
    assert transform.codomain.check(y).all()
    torch.testing.assert_close(transform.inv(y), x)
    assert transform.domain.check(x).all()


@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=repr)
def test_caching(transform):
    cached = transform.with_cache()
    x = _domain_sample(transform)
    y = cached(x)
    assert cached.inv(y) is x


@pytest.mark.parametrize("transform", BIJECTIONS, ids=repr)
def test_jacobian(transform):
    """log|det J| against autograd; simplex outputs on their first K-1 coordinates."""
    for z in _domain_sample(transform, (4,)):
        log_abs_det = transform.log_abs_det_jacobian(z, transform(z))
        if isinstance(transform, UnclippedSigmoidTransform):
            expected = torch.autograd.grad(transform(z.requires_grad_()), [z])[0].abs().log()
        elif isinstance(transform, AdditiveLogisticTransform):
            expected = jacobian(lambda z: transform(z)[:-1], z).det().abs().log()
        else:
            # Identity in the additive-log-ratio chart z_k = y_k - y_K.
            expected = (
                jacobian(lambda z: (lambda y: y[:-1] - y[-1])(transform(z)), z).det().abs().log()
            )
        torch.testing.assert_close(log_abs_det, expected)
        # The inverse's Jacobian is the negative.
        torch.testing.assert_close(
            transform.inv.log_abs_det_jacobian(transform(z), z), -log_abs_det
        )


@pytest.mark.parametrize("transform", BIJECTIONS[:2], ids=repr)
def test_shapes(transform):
    assert transform.forward_shape((2, 4)) == (2, 5)
    assert transform.inverse_shape((2, 5)) == (2, 4)
    assert transform(torch.randn(2, 4)).shape == (2, 5)


def test_outputs_carry_their_coordinates():
    """Extreme inputs: the output underflows but its log coordinates are exact."""
    z = torch.tensor([[-200.0, 0.0], [300.0, -300.0]], dtype=torch.float32)
    x = AdditiveLogisticTransform()(z)
    assert (x == 0).any()
    kind, hint, _ = x._pyro_concrete_hint
    assert kind == LOG
    torch.testing.assert_close(hint, torch.nn.functional.pad(z, (0, 1)).log_softmax(-1))
    torch.testing.assert_close(AdditiveLogisticTransform().inv(x), z)
    bit = UnclippedSigmoidTransform()(torch.tensor([-200.0, 200.0], dtype=torch.float32))
    assert bit._pyro_concrete_hint[0] == LOGIT
    torch.testing.assert_close(
        UnclippedSigmoidTransform().inv(bit), torch.tensor([-200.0, 200.0]).float()
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision(dtype):
    z = torch.randn(10, 3).to(dtype)
    for transform in BIJECTIONS:
        zz = z[:, 0] if isinstance(transform, UnclippedSigmoidTransform) else z
        y = transform(zz)
        assert y.dtype == dtype
        assert transform.inv(y).dtype == dtype
        assert not torch.isnan(transform.log_abs_det_jacobian(zz, y)).any()


def test_straight_through_transform():
    transform = StraightThroughTransform()
    assert not transform.bijective
    x = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], requires_grad=True)
    y = transform(x)
    assert torch.equal(y, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    upstream = torch.randn(2, 3)
    (grad,) = torch.autograd.grad((y * upstream).sum(), [x])
    torch.testing.assert_close(grad, upstream)  # identity backward
    assert transform.codomain.check(y).all()
    torch.testing.assert_close(transform(transform.inv(y)), y)  # the inverse is a right inverse
    with pytest.raises(NotImplementedError, match="not bijective"):
        transform.log_abs_det_jacobian(x, y)
    assert transform == StraightThroughTransform()
