# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "pyro_concrete" / "__init__.py").read_text(), re.M
).group(1)

EXAMPLES_REQUIRE = ["matplotlib>=3.5", "scikit-learn>=1.0", "tqdm>=4.36"]
TEST_REQUIRE = EXAMPLES_REQUIRE + [
    "ipykernel",
    "nbmake>=1.5",
    "nbformat>=5",
    "pytest>=7",
    "pytest-xdist>=3",
    "scipy>=1.7",
]
DEV_REQUIRE = ["nbstripout>=0.6", "ruff>=0.5"]
DOCS_REQUIRE = EXAMPLES_REQUIRE + ["myst-nb>=1.0", "sphinx>=7", "sphinx-rtd-theme>=2"]

setup(
    name="pyro-concrete",
    version=VERSION,
    description="Concrete / Gumbel-Softmax relaxations of discrete latent variables for Pyro",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    author="Contributors to the pyro-concrete project",
    license="Apache-2.0",
    packages=find_packages(include=["pyro_concrete", "pyro_concrete.*"]),
    python_requires=">=3.9",
    install_requires=["numpy>=1.20", "pyro-ppl>=1.9", "torch>=2.0"],
    extras_require={
        "examples": EXAMPLES_REQUIRE,
        "test": TEST_REQUIRE,
        "dev": DEV_REQUIRE + TEST_REQUIRE,
        "docs": DOCS_REQUIRE,
    },
    keywords="pyro probabilistic-programming variational-inference gumbel-softmax concrete",
    classifiers=[
        "Intended Audience :: Science/Research",
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
