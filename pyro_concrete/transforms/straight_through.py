# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

from pyro_concrete.distributions.util import argmax

__all__ = ["StraightThroughTransform", "straight_through_binary", "straight_through_one_hot"]


class _StraightThroughOneHot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, index, surrogate):
        return torch.zeros_like(surrogate).scatter_(-1, index, 1)

    @staticmethod
    def backward(ctx, grad):
        return None, grad


class _StraightThroughBinary(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mask, surrogate):
        return mask.to(surrogate.dtype)

    @staticmethod
    def backward(ctx, grad):
        return None, grad


def straight_through_binary(mask: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """
    The boolean ``mask`` as exact zeros and ones in the dtype of ``surrogate``,
    whose gradient is passed unchanged to ``surrogate``: the binary case of
    :func:`straight_through_one_hot`.
    """
    if torch.is_grad_enabled() and surrogate.requires_grad:
        return _StraightThroughBinary.apply(mask, surrogate)
    return mask.to(surrogate.dtype)


def straight_through_one_hot(index: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """
    The one-hot vectors of ``index`` (exact zeros and ones, in the dtype of
    ``surrogate``) whose gradient is passed unchanged to ``surrogate``.

    Writing ``hard - soft.detach() + soft`` instead gives values that are only
    approximately 0 and 1 in floating point, and costs two more passes.

    :param torch.Tensor index: integer indices of shape ``surrogate.shape[:-1] + (1,)``.
    :param torch.Tensor surrogate: the tensor that receives the gradient.
    """
    if torch.is_grad_enabled() and surrogate.requires_grad:
        return _StraightThroughOneHot.apply(index, surrogate)
    return torch.zeros_like(surrogate).scatter_(-1, index, 1)


class StraightThroughTransform(Transform):
    r"""
    Maps a point of the simplex to the vertex of its largest coordinate, with the
    straight-through gradient: forward :math:`y = \mathrm{onehot}(\arg\max_k x_k)`
    (exact zeros and ones), backward :math:`\partial y / \partial x := I`.

    Applied to a Concrete sample this is the straight-through Gumbel-Softmax
    estimator [1]: by the rounding property of the Concrete distribution [2], the
    forward value is exactly ``OneHotCategorical(probs)``-distributed.

    The transform is not bijective (``bijective = False``): every point whose
    largest coordinate is ``k`` maps to the ``k``-th vertex, so it has no inverse
    and no Jacobian, and a density cannot be pushed through it.
    :class:`~pyro_concrete.distributions.RelaxedCategoricalConcreteStraightThrough`
    uses it for sampling and defines its own (discrete) ``log_prob``. The
    ``inverse`` returned is the right inverse that maps each vertex to itself.

    **References**

    [1] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization
        with Gumbel-Softmax. ICLR.
    [2] Chris J. Maddison, Andriy Mnih, Yee Whye Teh (2017). The Concrete
        Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.
    """

    domain = constraints.simplex
    codomain = constraints.one_hot
    bijective = False

    def __eq__(self, other):
        return isinstance(other, StraightThroughTransform)

    def _call(self, x):
        return straight_through_one_hot(argmax(x), x)

    def _inverse(self, y):
        return y

    def log_abs_det_jacobian(self, x, y):
        raise NotImplementedError(
            "StraightThroughTransform is not bijective: it has no Jacobian, and no density "
            "can be transformed through it."
        )
