"""The report's tables as Markdown, for docs/benchmarks.md (``--markdown PATH``).

Written from the same summary as the console report, so the figures in the docs are the ones
the run files give, not copied by hand.
"""

from __future__ import annotations

from collections.abc import Sequence


def _cell(method: dict | None) -> str:
    """Mean ± standard error of the r_max answer at the full budget, (r_max results), seeds."""
    if method is None:
        return "-"
    figure = method["regret"]["r_max"]["1.0"]
    results = method["r_max_results"]["mean"]
    return f"{figure['mean']:.3f} ± {figure['error']:.3f} ({results:.0f}; {method['seeds']})"


def regret_table(summary: dict, methods: Sequence[str]) -> str:
    header = "| problem | " + " | ".join(methods) + " |"
    rule = "|---|" + "---:|" * len(methods)
    rows = [
        f"| {problem} | "
        + " | ".join(_cell(entry["methods"].get(method)) for method in methods)
        + " |"
        for problem, entry in summary["problems"].items()
    ]
    return "\n".join([header, rule, *rows])


def rank_table(summary: dict) -> str:
    ranks = summary["mean_rank"]
    rows = [
        f"| {method} | {ranks['r_max'][method]:.2f} | {ranks['any'][method]:.2f} |"
        for method in sorted(ranks["r_max"], key=ranks["r_max"].get)
    ]
    return "\n".join(
        [
            "| method | mean rank, answer at r_max | mean rank, answer at any fidelity |",
            "|---|---:|---:|",
            *rows,
        ]
    )


def goal_lines(summary: dict) -> str:
    return "\n".join(
        f"* {'PASS' if goal['passed'] else '**FAIL**'}: {goal['goal']} ({goal['detail']})"
        for goal in summary["goals"]
    )


def report(summary: dict, methods: Sequence[str]) -> str:
    """Regret at r_max at the full budget per problem and method (mean ± standard error,
    then the mean number of r_max results per run and the seeds), the mean ranks, the goals."""
    return "\n\n".join(
        [regret_table(summary, methods), rank_table(summary), goal_lines(summary), ""]
    )
