# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import pyro
import pytest
import torch

import pyro_concrete  # noqa: F401  (registers the distributions)

# pytest -n auto runs a worker per core: one thread each, not one per core each.
torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    skip_cuda = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)


@pytest.fixture(autouse=True)
def setup_each_test():
    # float64 by default, so that accuracy tests compare against a float64
    # reference; float32 and half-precision are exercised explicitly.
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    pyro.enable_validation(True)
    yield
    torch.set_default_dtype(default_dtype)
