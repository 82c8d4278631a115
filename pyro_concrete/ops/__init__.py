# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Torch-only kernels, below everything else in the package: nothing here imports
Pyro or any other part of ``pyro_concrete``.

- :mod:`~pyro_concrete.ops.dtype`: the compute dtype of half-precision inputs.
- :mod:`~pyro_concrete.ops.noise`: uniform, Gumbel and logistic noise, also
  conditioned on the sampled category.
- :mod:`~pyro_concrete.ops.special`: fast (log-)softmax, logarithms that never
  return NaN.
- :mod:`~pyro_concrete.ops.hard_sample`: the one kernel that turns noisy scores
  into exact one-hot vectors or bits with the gradient of an estimator.
- :mod:`~pyro_concrete.ops.carry`: what a sample carries, and how it is verified
  before it is used.
"""
