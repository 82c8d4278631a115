# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "pyro_concrete" / "__init__.py").read_text(), re.M
).group(1)

# The floors are the versions CI's floor job tests (.ci/run installs exactly these).
INSTALL_REQUIRE = ["numpy>=1.24.0", "pyro-ppl>=1.9.0", "torch>=2.13.0"]
# The examples and the tutorials (tutorials/*.ipynb).
EXAMPLES_REQUIRE = ["matplotlib>=3.5", "scikit-learn>=1.0", "scipy>=1.7", "tqdm>=4.36"]
# --dataset mnist in the examples; pick the torchvision that matches your torch.
MNIST_REQUIRE = ["torchvision"]
# pytest -n auto tests, and the tutorials through pytest --nbmake (a runner, a kernel and
# the widgets that tqdm's progress bars use in notebooks).
TEST_REQUIRE = EXAMPLES_REQUIRE + [
    "hypothesis>=6",
    "ipykernel>=6",
    "ipywidgets>=8",
    "nbformat>=5",
    "nbmake>=1.5",
    "pytest>=7",
    "pytest-xdist>=3",
]
# make docs.
DOCS_REQUIRE = EXAMPLES_REQUIRE + ["myst-nb>=1.0", "sphinx>=7", "sphinx-rtd-theme>=2"]
# Every make target: lint, format and scrub on top of the tests and the docs.
DEV_REQUIRE = sorted(set(TEST_REQUIRE + DOCS_REQUIRE + ["nbstripout>=0.6", "ruff>=0.5"]))

setup(
    name="pyro-concrete",
    version=VERSION,
    description="Concrete / Gumbel-Softmax relaxations of discrete latent variables for Pyro",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    author="Contributors to the pyro-concrete project",
    license="Apache-2.0",
    packages=find_packages(include=["pyro_concrete", "pyro_concrete.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRE,
    extras_require={
        "examples": EXAMPLES_REQUIRE,
        "mnist": MNIST_REQUIRE,
        "test": TEST_REQUIRE,
        "docs": DOCS_REQUIRE,
        "dev": DEV_REQUIRE,
    },
    keywords="pyro probabilistic-programming variational-inference gumbel-softmax concrete",
    classifiers=[
        "Intended Audience :: Science/Research",
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
