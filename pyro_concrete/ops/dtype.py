# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
The dtype policy: half-precision inputs are computed in float32 and results are
returned in the caller's dtype; wider dtypes are computed in themselves.
"""

import torch

__all__ = ["HALF_DTYPES", "compute_dtype", "to_caller_dtype"]

HALF_DTYPES = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype to compute in for inputs of ``dtype``: float32 for half precision."""
    return torch.float32 if dtype in HALF_DTYPES else dtype


def to_caller_dtype(value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """
    Casts a result computed in float32 back to a half-precision ``dtype``,
    saturating at the largest finite number instead of overflowing to infinity.
    """
    if value.dtype == dtype:
        return value
    finfo = torch.finfo(dtype)
    return value.clamp(finfo.min, finfo.max).to(dtype)
