# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""Inference with discrete latent variables: an automatic guide and a reparametrizer."""

from pyro_concrete.infer.autoguide import AutoConcrete
from pyro_concrete.infer.reparam import RelaxReparam

__all__ = ["AutoConcrete", "RelaxReparam"]
