# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0
