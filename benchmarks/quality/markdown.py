"""The report's tables as Markdown, for docs/benchmarks.md (``--markdown PATH``).

Written from the same summary as the console report, so the figures in the docs are the ones
the run files give, not copied by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.quality.prior_report import BAD, BASELINE, GOOD, NEAR


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


def _prior_cell(entry: dict, method: str) -> str:
    """Mean fraction of the budget to the target, (runs that reached it / runs)."""
    if method not in entry:
        return "-"
    figures = entry[method]
    return f"{figures['mean_time']:.3f} ({figures['reached']}/{figures['runs']})"


def _ratio(entry: dict, key: str) -> str:
    return f"{entry[key]:.2f}x" if key in entry else "-"


def _share(entry: dict, key: str) -> str:
    return f"{entry[key]:.0%}" if key in entry else "-"


def priors(summary: dict) -> str:
    """The prior benchmark's table (time to the target with no prior, a good one, a near one
    and a bad one) and its geometric means."""
    rows = [
        f"| {problem} | {entry['target_regret']:.4f} | {_prior_cell(entry, BASELINE)} | "
        f"{_prior_cell(entry, GOOD)} | {_prior_cell(entry, NEAR)} | {_prior_cell(entry, BAD)} | "
        f"{_ratio(entry, 'speedup_good')} | {_ratio(entry, 'speedup_near')} | "
        f"{_ratio(entry, 'slowdown_bad')} | "
        f"{_share(entry, 'placebo_failure_rate')} |"
        for problem, entry in summary.items()
        if isinstance(entry, dict) and "target_regret" in entry
    ]
    means = [
        f"a {which} prior {summary[key]:.2f}x {word}"
        for which, key, word in (
            ("good", "geomean_speedup_good", "faster"),
            ("near", "geomean_speedup_near", "faster"),
            ("bad", "geomean_slowdown_bad", "slower"),
        )
        if key in summary
    ]
    return "\n".join(
        [
            "| problem | target regret | no prior | good prior | near prior | bad prior | "
            "good: faster | near: faster | bad: slower | placebo: harmless prior too slow |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Geometric means over the problems: {'; '.join(means)}.",
            "",
        ]
    )
