# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

import os
import shutil
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import pyro_concrete  # noqa: E402

project = "pyro-concrete"
author = "Contributors to the pyro-concrete project"
copyright = "Contributors to the pyro-concrete project"
version = release = pyro_concrete.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".ipynb": "myst-nb"}
exclude_patterns = ["build", "**.ipynb_checkpoints"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"
# Our docstrings use :param: fields; the methods inherited from torch use Google
# style ("Args:"), which napoleon renders.
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# The notebooks are committed executed; the docs render them as they are.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]

html_theme = "sphinx_rtd_theme"
html_title = f"pyro-concrete {release}"

# Tutorials live in the repository's tutorials/ folder; copy them into the source
# tree for the build (the copy is git-ignored).
_tutorials = HERE / "tutorials"
shutil.rmtree(_tutorials, ignore_errors=True)
_tutorials.mkdir()
for notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
    shutil.copy(notebook, _tutorials / notebook.name)


# Intersphinx to torch and Pyro. Each inventory has a fallback: an empty one
# written here, so that an offline build (CI has no network) leaves those links
# plain instead of failing on a warning.
def _empty_inventory(name):
    path = HERE.parent / "build" / f"empty-{name}.inv"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Sphinx inventory version 2\n# Project: {name}\n# Version: 0\n"
    header += "# The remainder of this file is compressed using zlib.\n"
    path.write_bytes(header.encode() + zlib.compress(b""))
    return str(path)


intersphinx_mapping = {
    "python": ("https://docs.python.org/3", (None, _empty_inventory("python"))),
    "torch": ("https://docs.pytorch.org/docs/stable", (None, _empty_inventory("torch"))),
    "pyro": ("https://docs.pyro.ai/en/stable", (None, _empty_inventory("pyro"))),
}
intersphinx_timeout = float(os.environ.get("INTERSPHINX_TIMEOUT", 5))


def _is_private(base):
    """Private to the package: not in its public API (underscored names, mixins, bases)."""
    if base.__module__.startswith("pyro_concrete"):
        return base.__name__ not in pyro_concrete.__all__
    return base.__name__.startswith("_")


def _public_bases(app, name, obj, options, bases):
    """Show the first public ancestors instead of private bases and mixins."""
    public = []
    for base in bases:
        if _is_private(base):
            public.extend(b for b in base.__bases__ if b not in public and b is not object)
        elif base not in public:
            public.append(base)
    if public != bases:
        bases[:] = public
        _public_bases(app, name, obj, options, bases)


def _describe_distribution(app, what, name, obj, options, lines):
    """Every distribution class lists its support, argument constraints and rsample."""
    from torch.distributions import Distribution

    if what != "class" or not (isinstance(obj, type) and issubclass(obj, Distribution)):
        return
    constraints = ", ".join(f"``{key}``: ``{value}``" for key, value in obj.arg_constraints.items())
    lines.extend(
        [
            "",
            f":Support: ``{obj.support!r}``",
            f":Argument constraints: {constraints}",
            f":Reparameterized: ``has_rsample = {obj.has_rsample}``",
            f":Enumerable: ``has_enumerate_support = {obj.has_enumerate_support}``",
            "",
        ]
    )


def setup(app):
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-docstring", _describe_distribution)
