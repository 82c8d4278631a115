# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""Importing pyro_concrete adds names and registrations for its own classes only."""

import subprocess
import sys
import textwrap

import pyro.distributions as dist

import pyro_concrete

SNAPSHOT_AND_IMPORT = textwrap.dedent(
    """
    import torch, pyro, pyro.distributions as dist
    from torch.distributions import biject_to, transform_to
    from torch.distributions.kl import _KL_REGISTRY

    def snapshot():
        return (
            dict(vars(dist)),
            dict(vars(torch.distributions)),
            dict(biject_to._registry),
            dict(transform_to._registry),
            dict(_KL_REGISTRY),
        )

    before = snapshot()
    import pyro_concrete
    after = snapshot()
    ours = set(pyro_concrete.__all__)
    for old, new in zip(before, after):
        for key, value in old.items():
            assert new[key] is value, key
        for key in set(new) - set(old):
            assert any(
                getattr(k, "__module__", "").startswith("pyro_concrete")
                for k in (key if isinstance(key, tuple) else (key,))
            ) or key in ours, key
    print("ok")
    """
)


def test_import_only_adds_our_names_and_registrations():
    result = subprocess.run(
        [sys.executable, "-c", SNAPSHOT_AND_IMPORT], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_distributions_available_in_pyro():
    for name in pyro_concrete.distributions.__all__:
        assert getattr(dist, name) is getattr(pyro_concrete, name)


def test_version():
    assert isinstance(pyro_concrete.__version__, str)
