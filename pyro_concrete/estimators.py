# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

r"""
Gradient estimators for straight-through samples.

All three share the forward value -- an exact one-hot vector (or 0/1 bit) drawn
by the Gumbel-max trick, distributed exactly as ``Categorical(softmax(logits))``
in every dtype -- and differ in the gradient they pass backward. One kernel,
:func:`hard_sample`, implements them for the straight-through distributions and
:mod:`pyro_concrete.functional`:

- ``"straight_through"``: straight-through Gumbel-Softmax [1], the gradient of
  the relaxed sample :math:`\mathrm{softmax}((\theta + G) / \tau)`.
- ``"gumbel_rao"``: Gumbel-Rao [2], the straight-through gradient averaged over
  ``rao_samples`` draws of the Gumbel noise conditioned on the sampled category.
  The conditional draws are constants (no gradient flows through them), so the
  estimator is a Monte Carlo estimate of the conditional expectation of the
  straight-through gradient given the sample: the same mean, and less variance.
- ``"reinmax"``: ReinMax [3], a second-order accurate estimator. With
  :math:`\pi = \mathrm{softmax}(\theta)`,
  :math:`\pi_1 = (\mathrm{softmax}(\theta / \tau) + D) / 2`,
  :math:`J(p)^\top v = p \odot v - p\,(p^\top v)` and upstream gradient :math:`g`,

  .. math::

      \nabla_\theta = 2 J(\pi_1)^\top g - \tfrac{1}{2} J(\pi)^\top g .

  The temperature is ReinMax's hyperparameter: it receives no gradient (a
  temperature tensor that requires grad is a ``ValueError``), and the paper
  requires :math:`\tau \ge 1`. ReinMax uses :math:`\max(\tau, 1)`, so a
  temperature annealed below 1 (a schedule shared with the other estimators)
  leaves ReinMax at 1 rather than stopping the run; a Python-number temperature
  below 1 gives a warning that says so. ReinMax at temperature 1 is the default of
  the straight-through distributions and of ``AutoConcrete``, chosen on a suite of
  models (:doc:`/defaults`); :mod:`pyro_concrete.functional` keeps torch's
  straight-through default.

**References**

[1] Eric Jang, Shixiang Gu, Ben Poole (2017). Categorical Reparameterization with
    Gumbel-Softmax. ICLR.
[2] Max B. Paulus, Chris J. Maddison, Andreas Krause (2021). Rao-Blackwellizing
    the Straight-Through Gumbel-Softmax Gradient Estimator. ICLR.
[3] Liyuan Liu, Chengyu Dong, Xiaodong Liu, Bin Yu, Jianfeng Gao (2023). Bridging
    Discrete and Backpropagation: Straight-Through and Beyond. NeurIPS.
"""

from pyro_concrete.checks import check_estimator
from pyro_concrete.ops.hard_sample import (
    ESTIMATORS,
    hard_sample,
    straight_through_bits,
    straight_through_one_hot,
)
from pyro_concrete.ops.noise import conditional_gumbel_noise, conditional_logistic_noise

__all__ = [
    "ESTIMATORS",
    "check_estimator",
    "conditional_gumbel_noise",
    "conditional_logistic_noise",
    "hard_sample",
    "straight_through_bits",
    "straight_through_one_hot",
]
