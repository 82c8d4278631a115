# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

from torch.distributions import constraints
from torch.distributions.transforms import Transform

from pyro_concrete.ops.hard_sample import straight_through_one_hot
from pyro_concrete.ops.special import max_index

__all__ = ["StraightThroughTransform"]


class StraightThroughTransform(Transform):
    r"""
    Maps a point of the simplex to the vertex of its largest coordinate, with the
    straight-through gradient: forward :math:`y = \mathrm{onehot}(\arg\max_k x_k)`
    (exact zeros and ones), backward :math:`\partial y / \partial x := I`.

    Applied to a Concrete sample this is the straight-through Gumbel-Softmax
    estimator [1]: by the rounding property of the Concrete distribution [2], the
    forward value is exactly ``OneHotCategorical(probs)``-distributed. (The
    straight-through distributions take the vertex from the perturbed logits
    instead, which is exact also where the relaxed sample's coordinates round to
    ties in low precision.)

    The transform is not bijective (``bijective = False``): every point whose
    largest coordinate is ``k`` maps to the ``k``-th vertex, so it has no inverse
    and no Jacobian, and a density cannot be pushed through it.
    :class:`~pyro_concrete.distributions.RelaxedCategoricalConcreteStraightThrough`
    defines its own (discrete) ``log_prob``. The ``inverse`` returned is the right
    inverse that maps each vertex to itself.

    Example::

        >>> StraightThroughTransform()(torch.tensor([0.2, 0.5, 0.3]))
        tensor([0., 1., 0.])

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
        return straight_through_one_hot(max_index(x), x)

    def _inverse(self, y):
        return y

    def log_abs_det_jacobian(self, x, y):
        raise NotImplementedError(
            "StraightThroughTransform is not bijective: it has no Jacobian, and no density "
            "can be transformed through it."
        )
