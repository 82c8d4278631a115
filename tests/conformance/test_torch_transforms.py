# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
torch's transform tests (``test/distributions/test_transforms.py``) run over our
four transforms and their inverses, with and without a cache: ``inv.inv``,
equality, caching, forward/inverse (bypassing the cache, so that the inverse
works from the value alone), traced forward, inverse and Jacobian on new data,
the Jacobian against autograd's, and transformed-distribution shapes. Written
anew for this package; torch's tests are the list of what to check.

torch takes the Jacobian of a map onto the simplex in the first K-1
coordinates (as for ``StickBreakingTransform``); so do these tests, for the
simplex and the log-simplex alike.
"""

import io

import pytest
import torch
from torch.autograd.functional import jacobian
from torch.distributions import (
    ExpTransform,
    Independent,
    Normal,
    TransformedDistribution,
    identity_transform,
)

from pyro_concrete import (
    ExpRelaxedCategoricalConcrete,
    RelaxedCategoricalConcrete,
    StraightThroughTransform,
)
from pyro_concrete.constraints import concrete_simplex, log_simplex
from pyro_concrete.transforms import (
    AdditiveLogisticTransform,
    LogAdditiveLogisticTransform,
    UnclippedSigmoidTransform,
)
from tests.conformance.cases import (
    ALR_CHART_JACOBIAN,
    make_transforms,
    transform_data,
    transform_id,
)

NOT_BIJECTIVE = (
    "intended: StraightThroughTransform is not bijective (every point maps to a vertex), "
    "so it has no Jacobian"
)


TRANSFORMS_CACHE_ACTIVE = make_transforms(cache_size=1)
TRANSFORMS_CACHE_INACTIVE = make_transforms(cache_size=0)
ALL_TRANSFORMS = TRANSFORMS_CACHE_ACTIVE + TRANSFORMS_CACHE_INACTIVE


def _base(transform):
    """The transform or, for an inverse, the transform it inverts."""
    return transform if type(transform).__name__ != "_InverseTransform" else transform.inv


def _jacobian_marks(transform):
    if isinstance(_base(transform), StraightThroughTransform):
        return [pytest.mark.xfail(strict=True, raises=NotImplementedError, reason=NOT_BIJECTIVE)]
    if isinstance(_base(transform), LogAdditiveLogisticTransform):
        return [pytest.mark.xfail(strict=True, reason=ALR_CHART_JACOBIAN)]
    return []


def _not_bijective_marks(transform):
    return [m for m in _jacobian_marks(transform) if m.kwargs["reason"] == NOT_BIJECTIVE]


def _params(transforms, marks=None):
    return [
        pytest.param(t, id=transform_id(t), marks=marks(t) if marks else []) for t in transforms
    ]


@pytest.mark.parametrize("transform", _params(ALL_TRANSFORMS))
def test_inv_inv(transform):
    assert transform.inv.inv is transform


@pytest.mark.parametrize("x", _params(TRANSFORMS_CACHE_INACTIVE))
@pytest.mark.parametrize("y", _params(TRANSFORMS_CACHE_INACTIVE))
def test_equality(x, y):
    if x is y:
        assert x == y
    else:
        assert x != y
    assert identity_transform == identity_transform.inv


@pytest.mark.parametrize("transform", _params(TRANSFORMS_CACHE_INACTIVE))
def test_equality_of_stateless_instances(transform):
    """Our transforms have no parameters: a new instance (cached or not) is equal."""
    base = _base(transform)
    other = type(base)(cache_size=1)
    assert base == other
    assert transform == (other if transform is base else other.inv)


@pytest.mark.parametrize("transform", _params(ALL_TRANSFORMS))
def test_with_cache(transform):
    if transform._cache_size == 0:
        transform = transform.with_cache(1)
    assert transform._cache_size == 1
    x = transform_data(transform).requires_grad_()
    y = transform(x)
    assert transform(x) is y


@pytest.mark.parametrize("test_cached", [True, False])
@pytest.mark.parametrize("transform", _params(ALL_TRANSFORMS))
def test_forward_inverse(transform, test_cached):
    x = transform_data(transform).requires_grad_()
    y = transform(x)
    assert y.shape == transform.forward_shape(x.shape)
    # A clone bypasses the cache and carries nothing: the inverse works from the value.
    x2 = transform.inv(y if test_cached else y.clone())
    assert x2.shape == transform.inverse_shape(y.shape)
    y2 = transform(x2)
    if transform.bijective:
        torch.testing.assert_close(x2, x, atol=1e-4, rtol=0)
    else:
        torch.testing.assert_close(y2, y, atol=1e-4, rtol=0)


@pytest.mark.parametrize("transform", _params(TRANSFORMS_CACHE_INACTIVE))
def test_jit_fwd(transform):
    def f(x):
        return transform(x)

    traced = torch.jit.trace(f, (transform_data(transform).requires_grad_(),))
    x = transform_data(transform).requires_grad_()
    torch.testing.assert_close(traced(x), f(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("transform", _params(TRANSFORMS_CACHE_INACTIVE))
def test_jit_inv(transform):
    def f(y):
        return transform.inv(y)

    traced = torch.jit.trace(f, (transform_data(transform.inv).requires_grad_(),))
    y = transform_data(transform.inv).requires_grad_()
    torch.testing.assert_close(traced(y), f(y), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "transform", _params([t for t in TRANSFORMS_CACHE_INACTIVE if t.bijective and t is _base(t)])
)
def test_jit_inv_of_own_output(transform):
    """Traced on one output (which carries its coordinates), inverting another."""

    def f(y):
        return transform.inv(y)

    traced = torch.jit.trace(f, (transform(transform_data(transform)),))
    x = transform_data(transform) * 3
    torch.testing.assert_close(traced(transform(x)), x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("transform", _params(TRANSFORMS_CACHE_INACTIVE, _not_bijective_marks))
def test_jit_jacobian(transform):
    def f(x):
        return transform.log_abs_det_jacobian(x, transform(x))

    traced = torch.jit.trace(f, (transform_data(transform).requires_grad_(),))
    x = transform_data(transform).requires_grad_()
    torch.testing.assert_close(traced(x), f(x), atol=1e-5, rtol=0)


SIMPLICES = (concrete_simplex, log_simplex)


def _to_domain(transform, u):
    """The point of the domain whose first K-1 coordinates are ``u`` (on a simplex)."""
    if transform.domain is concrete_simplex:
        return torch.cat([u, 1 - u.sum(-1, keepdim=True)], -1)
    if transform.domain is log_simplex:
        return torch.cat([u, (-u.exp().sum(-1, keepdim=True)).log1p()], -1)
    return u


def _free(constraint, x):
    """The coordinates a density on ``constraint`` is taken in."""
    return x[..., :-1] if constraint in SIMPLICES else x


@pytest.mark.parametrize("transform", _params(ALL_TRANSFORMS, _jacobian_marks))
def test_jacobian(transform):
    """log|det J| against autograd, in the first K-1 coordinates of a simplex."""
    x = transform_data(transform)
    actual = transform.log_abs_det_jacobian(x, transform(x))
    assert actual.shape == x.shape[: x.dim() - transform.domain.event_dim]
    if transform.domain.event_dim == 0:
        jac = jacobian(transform, x).reshape(x.numel(), x.numel())
        # Elementwise: no off-diagonal terms.
        torch.testing.assert_close(jac, jac.diagonal().diag_embed())
        expected = jac.diagonal().abs().log().reshape(x.shape)
    else:

        def in_free_coordinates(u):
            return _free(transform.codomain, transform(_to_domain(transform, u)))

        expected = torch.stack(
            [
                torch.slogdet(jacobian(in_free_coordinates, u)).logabsdet
                for u in _free(transform.domain, x)
            ]
        )
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "transform,base_event_shape",
    [
        (AdditiveLogisticTransform(), (4,)),
        (LogAdditiveLogisticTransform(), (4,)),
        (UnclippedSigmoidTransform(), ()),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, tuple) else str(x),
)
def test_transformed_distribution(transform, base_event_shape):
    """Shapes, and the density of a Normal pushed through the transform."""
    loc = torch.randn((3,) + base_event_shape)
    base = Normal(loc, 1.5)
    if base_event_shape:
        base = Independent(base, 1)
    d = TransformedDistribution(base, [transform])
    assert d.batch_shape == (3,)
    assert d.event_shape == transform.forward_shape(base_event_shape)
    x = d.rsample((2,))
    assert x.shape == (2, 3) + d.event_shape
    z = transform.inv(x.clone())
    if isinstance(transform, AdditiveLogisticTransform):
        expected = base.log_prob(z) - x.log().sum(-1)  # |det dx_{1:K-1}/dz| = prod_k x_k
    elif isinstance(transform, LogAdditiveLogisticTransform):
        expected = base.log_prob(z)  # the additive-log-ratio chart
    else:
        expected = base.log_prob(z) - x.log() - (-x).log1p()
    torch.testing.assert_close(d.log_prob(x), expected)


def test_relaxed_categorical_is_exp_of_exp_relaxed():
    """
    torch builds RelaxedOneHotCategorical as ExpTransform of ExpRelaxedCategorical;
    our two densities are related the same way.
    """
    temperature, logits = torch.tensor([0.5, 2.0]), torch.randn(2, 4)
    exp_relaxed = ExpRelaxedCategoricalConcrete(temperature, logits=logits)
    pushed = TransformedDistribution(exp_relaxed, [ExpTransform()])
    x = RelaxedCategoricalConcrete(temperature, logits=logits).sample((5,))
    torch.testing.assert_close(
        pushed.log_prob(x), RelaxedCategoricalConcrete(temperature, logits=logits).log_prob(x)
    )


@pytest.mark.parametrize("transform", _params(TRANSFORMS_CACHE_INACTIVE))
def test_save_load(transform):
    buffer = io.BytesIO()
    torch.save(transform, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert loaded == transform
    x = transform_data(transform)
    torch.testing.assert_close(loaded(x), transform(x))
