# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

.PHONY: install lint format test test-slow test-tutorials docs scrub benchmark

install:
	pip install -e ".[dev]"

lint:
	ruff check pyro_concrete tests benchmarks
	ruff format --check pyro_concrete tests benchmarks

format:
	ruff check --fix pyro_concrete tests benchmarks
	ruff format pyro_concrete tests benchmarks

test:
	pytest -n auto tests

# The tests marked slow, and only those (make test runs the others).
test-slow:
	pytest -n auto --runslow -m slow tests

# CI set: each notebook takes its smoke_test branch.
test-tutorials:
	CI=1 pytest -n auto --nbmake tutorials

docs:
	$(MAKE) -C docs html SPHINXOPTS="-W --keep-going"

scrub:
	nbstripout --keep-output tutorials/*.ipynb

benchmark:
	python benchmarks/run.py
