# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Imports only point down the package's layers, and never in a circle:

    ops -> checks -> constraints, estimators, schedules -> transforms
        -> distributions -> functional -> infer -> examples -> the package

The package's own ``__init__`` (its public names) sits with ``functional``: it
imports the layers below eagerly and ``infer``/``examples`` only on first use,
so those may use its public names. The layers below ``distributions`` and
``functional`` are torch-only: they import no Pyro.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pyro_concrete

PACKAGE = Path(pyro_concrete.__file__).parent
LAYERS = {
    "ops": 0,
    "checks": 1,
    "constraints": 2,
    "estimators": 2,
    "schedules": 2,
    "transforms": 3,
    "distributions": 4,
    "functional": 5,
    "infer": 6,
    "examples": 7,
}
TORCH_ONLY = {name for name, layer in LAYERS.items() if layer < LAYERS["distributions"]} | {
    "functional"
}


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """
    The absolute names a module imports: ``from a import b`` gives the module ``a.b``
    if there is one, else ``a``.
    """
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.add(submodule if submodule in MODULES else base)
    return names


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _layer(module):
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else LAYERS["functional"]


def _internal_imports(module):
    return {name for name in _imports(MODULES[module]) if name in MODULES and name != module}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    upward = [name for name in _internal_imports(module) if _layer(name) > _layer(module)]
    assert upward == [], f"{module} imports from a higher layer: {upward}"


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if m.count(".") and m.split(".")[1] in TORCH_ONLY)
)
def test_torch_only_layers_import_no_pyro(module):
    pyro_imports = sorted(
        name for name in _imports(MODULES[module]) if name.split(".")[0] == "pyro"
    )
    assert pyro_imports == [], f"{module} imports {pyro_imports}"


def test_no_import_cycles():
    graph = {module: _internal_imports(module) for module in MODULES}
    # A package's __init__ imports its submodules; a submodule importing its own
    # package's name is not a cycle of code, only of the import statement.
    for module, imports in graph.items():
        imports.difference_update(name for name in list(imports) if module.startswith(name + "."))
    visiting, done = set(), set()

    def visit(module, path):
        if module in done:
            return
        assert module not in visiting, f"import cycle: {' -> '.join(path + [module])}"
        visiting.add(module)
        for name in sorted(graph[module]):
            visit(name, path + [module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_the_layer_table_covers_every_subpackage():
    top_level = {module.split(".")[1] for module in MODULES if module.count(".")}
    assert top_level == set(LAYERS)


def test_functional_needs_no_pyro():
    """Code outside Pyro imports the functional API without importing Pyro."""
    code = (
        "import sys, torch\n"
        "from pyro_concrete.functional import gumbel_softmax\n"
        "gumbel_softmax(torch.randn(3, 4), tau=0.5, hard=True)\n"
        "assert 'pyro' not in sys.modules and 'pyro.infer' not in sys.modules, 'pyro imported'\n"
        "import pyro.distributions as dist\n"
        "assert dist.RelaxedCategoricalConcrete.__module__.startswith('pyro_concrete')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
