# Copyright Contributors to the pyro-concrete project.
# SPDX-License-Identifier: Apache-2.0

"""
Summaries of the suite's rows: per model, training ELBO, estimator and
temperature, the mean over seeds of the ELBO's gap to the reference, the other
scores and the time per step, as markdown.
"""

import math
import statistics
from collections import defaultdict
from typing import Dict, List, Sequence

#: Scores reported beside the ELBO, when a model has them.
SCORES = ("accuracy", "mean_error", "log_likelihood", "is_bound", "mean_field_gap")


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.mean(values):.3g} ± {statistics.stdev(values):.2g}"


def gaps(rows: List[Dict]) -> List[Dict]:
    """
    Each row with ``gap``: its ELBO's shortfall from the reference of the same
    model and seed, as a percentage of the reference's magnitude (negative: below),
    or, for a model without reference, from the score-function run of that seed.
    """
    references = {}
    for row in rows:
        if row["estimator"] == "exact":
            references[row["model"], row["seed"]] = row["elbo"]
    for row in rows:
        if row["estimator"] == "score_function" and (row["model"], row["seed"]) not in references:
            references[row["model"], row["seed"], "score_function"] = row["elbo"]
    result = []
    for row in rows:
        reference = references.get((row["model"], row["seed"]))
        if reference is None:
            reference = references.get((row["model"], row["seed"], "score_function"))
            row = dict(row, reference="score_function")
        else:
            row = dict(row, reference="exact")
        if reference is not None:
            row["gap"] = 100 * (row["elbo"] - reference) / abs(reference)
        result.append(row)
    return result


def summary(rows: List[Dict]) -> List[Dict]:
    """One entry per model, training ELBO, estimator and temperature, over seeds."""
    groups = defaultdict(list)
    for row in gaps(rows):
        key = (row["model"], row.get("training"), row["estimator"], row["temperature"])
        groups[key].append(row)
    entries = []
    for (model, training, estimator, temperature), members in groups.items():
        entry = {
            "model": model,
            "training": training,
            "estimator": estimator,
            "temperature": temperature,
            "seeds": len(members),
            "reference": members[0].get("reference"),
        }
        for field in ("elbo", "gap", "ms_per_step", "steps") + SCORES:
            values = [row[field] for row in members if row.get(field) is not None]
            values = [value for value in values if math.isfinite(value)]
            if values:
                entry[field] = values
        entries.append(entry)
    return entries


def markdown(rows: List[Dict]) -> str:
    """The overview, then a table per model."""
    lines = [
        "Gap of the ELBO to the exact answer (%, mean over seeds; against the "
        "score-function run where there is no exact answer) / CPU ms per step. "
        "Mixtures, factorial models and HMM: AutoConcrete under TraceMeanField_ELBO "
        "unless marked Trace_ELBO; score function: TraceGraph_ELBO.",
        "",
        overview(rows),
        "",
    ]
    by_model = defaultdict(list)
    for entry in summary(rows):
        by_model[entry["model"]].append(entry)
    for model, entries in by_model.items():
        scores = [name for name in SCORES if any(name in entry for entry in entries)]
        reference = "exact" if any(e["estimator"] == "exact" for e in entries) else "score fn."
        header = ["training", "estimator", "τ", "ELBO", f"gap to {reference} (%)"]
        header += scores + ["ms/step", "steps"]
        lines += [f"### {model}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        for entry in entries:
            temperature = "" if entry["temperature"] is None else f"{entry['temperature']:g}"
            cells = [entry["training"] or "", entry["estimator"], temperature]
            cells += [_mean_sd(entry.get(field, [])) for field in ("elbo", "gap")]
            cells += [_mean_sd(entry.get(field, [])) for field in scores]
            cells += [_mean_sd(entry.get("ms_per_step", [])), _mean_sd(entry.get("steps", []))]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


#: Short column names of the overview, by model name (its first word for the rest).
SHORT_NAMES = {
    "gmm tutorial": "GMM, 5 points",
    "gmm synthetic": "GMM, 300 points",
    "M2": "M2",
    "categorical": "categorical VAE",
    "sigmoid": "sigmoid belief net",
    "HMM": "HMM",
}


def _column(entry: Dict) -> str:
    """A short name for a model and, for the mixtures, the training ELBO if not mean-field."""
    model = entry["model"]
    name = next((short for key, short in SHORT_NAMES.items() if model.startswith(key)), model)
    if model.startswith("factorial"):
        name = "factorial, " + model.split("(")[1].rstrip(")")
    if model.startswith("gmm") and entry["training"] == "Trace_ELBO":
        name += " (Trace_ELBO)"
    return name


def overview(rows: List[Dict]) -> str:
    """
    One markdown table: a row per estimator and temperature, a column per model,
    each cell the mean gap over seeds (%) and the CPU time per step (ms). The
    mixtures' score-function runs fill both of their columns.
    """
    cells, columns, methods = {}, [], []
    for entry in summary(rows):
        if entry["estimator"] == "exact" or "gap" not in entry:
            continue
        method = (entry["estimator"], entry["temperature"])
        names = [_column(entry)]
        if entry["estimator"] == "score_function" and entry["model"].startswith("gmm"):
            names.append(names[0] + " (Trace_ELBO)")
        for name in names:
            if name not in columns:
                columns.append(name)
            gap = statistics.mean(entry["gap"])
            time = statistics.mean(entry.get("ms_per_step", [math.nan]))
            cells[method, name] = f"{gap:+.1f} / {time:.0f}"
        if method not in methods:
            methods.append(method)
    lines = ["| estimator | τ | " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * (len(columns) + 2))
    for estimator, temperature in methods:
        tau = "" if temperature is None else f"{temperature:g}"
        row = [cells.get(((estimator, temperature), name), "") for name in columns]
        lines.append(f"| {estimator} | {tau} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def overview_rst(rows: List[Dict]) -> str:
    """:func:`overview` as a reStructuredText list-table, for the documentation."""
    lines = [line.strip("|").split("|") for line in overview(rows).splitlines()]
    header, body = lines[0], lines[2:]
    out = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [header] + body:
        out.append("   * - " + (cells[0].strip() or " "))
        out += ["     - " + (cell.strip() or " ") for cell in cells[1:]]
    return "\n".join(out)
