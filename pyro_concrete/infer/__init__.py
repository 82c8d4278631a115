# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Inference with discrete latent variables: an automatic guide, a reparametrizer,
and ELBOs whose gradients are unbiased for straight-through sites (REBAR, RELAX).
"""

from pyro_concrete.infer.autoguide import AutoConcrete
from pyro_concrete.infer.rebar import TraceREBAR_ELBO, TraceRELAX_ELBO
from pyro_concrete.infer.reparam import RelaxReparam

__all__ = ["AutoConcrete", "RelaxReparam", "TraceREBAR_ELBO", "TraceRELAX_ELBO"]
