# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
A suite of discrete-latent models that Pyro users write, each scored against its
exact answer where one exists, over the gradient estimators of the discrete sites
and their temperatures. See ``README.md`` beside this file; run it with
``python -m benchmarks.suite``.
"""
