# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
pyro-concrete: Concrete / Gumbel-Softmax relaxations of discrete latent variables
for Pyro.

Importing the package registers its distributions as ``pyro.distributions.<Name>``,
its KL divergences with :func:`torch.distributions.register_kl`, and the
bijections of its own constraints with ``biject_to`` and ``transform_to``.

The torch-only parts (:mod:`~pyro_concrete.functional`,
:mod:`~pyro_concrete.estimators`, :mod:`~pyro_concrete.schedules`,
:mod:`~pyro_concrete.transforms`, :mod:`~pyro_concrete.constraints`,
:mod:`~pyro_concrete.ops`) do not import Pyro, so that code outside Pyro can use
them without it; the Pyro parts (:mod:`~pyro_concrete.distributions`,
:mod:`~pyro_concrete.infer`, :mod:`~pyro_concrete.examples`) are imported on first
use. The distributions are registered at once if Pyro is already imported, else
right after ``pyro.distributions`` is first imported.
"""

import importlib
import importlib.abc
import importlib.util
import sys

from pyro_concrete import checks, constraints, estimators, functional, ops, schedules, transforms
from pyro_concrete.transforms import StraightThroughTransform

__version__ = "0.2.0"

_DISTRIBUTIONS = (
    "ExpRelaxedCategoricalConcrete",
    "RelaxedBernoulliConcrete",
    "RelaxedBernoulliConcreteStraightThrough",
    "RelaxedCategoricalConcrete",
    "RelaxedCategoricalConcreteStraightThrough",
)
_PYRO_SUBMODULES = ("distributions", "examples", "infer")

__all__ = [
    "ExpRelaxedCategoricalConcrete",
    "RelaxedBernoulliConcrete",
    "RelaxedBernoulliConcreteStraightThrough",
    "RelaxedCategoricalConcrete",
    "RelaxedCategoricalConcreteStraightThrough",
    "StraightThroughTransform",
    "__version__",
    "checks",
    "constraints",
    "distributions",
    "estimators",
    "examples",
    "functional",
    "infer",
    "ops",
    "schedules",
    "transforms",
]


def __getattr__(name):
    if name in _PYRO_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _DISTRIBUTIONS:
        return getattr(importlib.import_module(f"{__name__}.distributions"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _RegisterAfterImport(importlib.abc.Loader):
    """Runs the loader of ``pyro.distributions``, then registers our distributions."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self._loader
        importlib.import_module(f"{__name__}.distributions")


class _AwaitPyroDistributions(importlib.abc.MetaPathFinder):
    """
    Finds ``pyro.distributions`` as the other finders do, once, and wraps its
    loader so that our distributions are registered as soon as it has run.
    """

    def find_spec(self, fullname, path, target=None):
        if fullname != "pyro.distributions":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisterAfterImport(spec.loader)
        return spec


if "pyro.distributions" in sys.modules:
    importlib.import_module(f"{__name__}.distributions")
elif not any(isinstance(finder, _AwaitPyroDistributions) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AwaitPyroDistributions())
