"""A live terminal view of a study, for ``hpo study show --watch`` and ``hpo demo``.

It reads everything through the client, so it works against any coordinator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hpo.client import BestTrial, Client, PriorsRecord, Study
from hpo.records import TrialRecord
from hpo.schedulers.rungs import rung_levels
from hpo.vocabulary import TrialState

TOP_TRIALS = 5


@dataclass(frozen=True)
class Snapshot:
    study: Study
    trials: list[TrialRecord]
    best: BestTrial | None

    @classmethod
    def fetch(cls, client: Client, name: str) -> Snapshot:
        study = client.get_study(name)
        return cls(study, study.trials(), study.best())


def _format(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def rung_table(snapshot: Snapshot) -> Table:
    """How many trials reached each rung: the funnel of successive halving."""
    spec = snapshot.study.spec
    table = Table(title="rungs", expand=False)
    table.add_column("rung", justify="right")
    table.add_column(spec.resource.name, justify="right")
    table.add_column("trials reached", justify="right")
    table.add_column("running towards", justify="right")
    for rung, level in enumerate(rung_levels(spec.resource)):
        reached = sum(1 for trial in snapshot.trials if trial.rung >= rung)
        heading = sum(
            1
            for trial in snapshot.trials
            if trial.state is TrialState.RUNNING and trial.target_resource == level
        )
        table.add_row(str(rung), f"{level:g}", str(reached), str(heading))
    return table


def top_trials_table(snapshot: Snapshot, limit: int = TOP_TRIALS) -> Table:
    """The leading trials: highest rung first, then best last value."""
    sign = snapshot.study.spec.objective.sign
    scored = [trial for trial in snapshot.trials if trial.last_value is not None]
    scored.sort(key=lambda trial: (-trial.rung, sign * (trial.last_value or 0.0)))
    table = Table(title=f"leading trials ({snapshot.study.spec.objective.metric})")
    for column in ("#", "state", "rung", "resource", "value", "config"):
        table.add_column(column)
    for trial in scored[:limit]:
        table.add_row(
            str(trial.number),
            trial.state.value,
            str(trial.rung),
            _format(trial.last_resource),
            _format(trial.last_value),
            ", ".join(f"{name}={_short(value)}" for name, value in trial.config.items()),
        )
    return table


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def study_view(snapshot: Snapshot, progress: Progress | None = None) -> Panel:
    study = snapshot.study
    counts = ", ".join(f"{state} {count}" for state, count in study.counts.items() if count)
    best = snapshot.best
    headline = (
        f"best {study.spec.objective.metric} {best.value:.4g} at "
        f"{study.spec.resource.name} {best.resource:g} (trial {best.trial.number})"
        if best
        else "no rung reached yet"
    )
    parts: list[object] = []
    if progress is not None:
        parts.append(progress)
    parts += [f"{study.state} · trials: {counts or 'none'}", headline]
    parts += [rung_table(snapshot), top_trials_table(snapshot)]
    return Panel(Group(*parts), title=f"study {study.name}")  # type: ignore[arg-type]


def watch(
    client: Client,
    name: str,
    *,
    interval: float = 1.0,
    console: Console | None = None,
    stop: threading.Event | None = None,
    done: Callable[[Snapshot], bool] | None = None,
) -> Snapshot:
    """Redraw the study every ``interval`` seconds until ``done(snapshot)`` or ``stop`` is set.

    By default it stops when the study is finished. A progress bar counts trials
    started against ``max_trials`` when the study has one.
    """
    done = done or (lambda snapshot: snapshot.study.state == "finished")
    stop = stop or threading.Event()
    snapshot = Snapshot.fetch(client, name)
    progress = _trial_progress(snapshot.study.spec.max_trials)
    with Live(study_view(snapshot, progress), console=console, refresh_per_second=4) as live:
        while True:
            if progress is not None:
                progress.update(progress.task_ids[0], completed=len(snapshot.trials))
            live.update(study_view(snapshot, progress))
            if done(snapshot) or stop.wait(interval):
                return snapshot
            snapshot = Snapshot.fetch(client, name)


def _trial_progress(max_trials: int) -> Progress | None:
    if not max_trials:
        return None
    progress = Progress(
        TextColumn("trials started"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    progress.add_task("trials", total=max_trials)
    return progress


def print_studies(console: Console, studies: Sequence[Study]) -> None:
    table = Table(title="studies")
    for column in ("name", "state", "algorithm", "resource", "trials"):
        table.add_column(column, overflow="fold")
    for study in studies:
        spec = study.spec
        table.add_row(
            study.name,
            study.state,
            f"{spec.algorithm.value} ({spec.asha_mode.value})",
            f"{spec.resource.name} {spec.resource.r_min:g}..{spec.resource.r_max:g}, "
            f"eta {spec.resource.eta:g}",
            ", ".join(f"{state} {count}" for state, count in study.counts.items() if count)
            or "none",
        )
    console.print(table)


def priors_view(name: str, priors: PriorsRecord) -> Group:
    """A study's proposals and LLM exchanges, for ``hpo study priors``."""
    proposals = Table(
        title=f"{name}: proposals" + (" (LLM warm start asking)" if priors.warming_up else "")
    )
    for column in ("position", "source", "runs first", "trial", "configuration"):
        proposals.add_column(column)
    for proposal in priors.proposals:
        proposals.add_row(
            str(proposal.position),
            proposal.source,
            "yes" if proposal.run_first else "no (prior only)",
            "queued" if proposal.trial_number is None else str(proposal.trial_number),
            ", ".join(f"{key}={value}" for key, value in proposal.config.items()),
        )
    exchanges = Table(title="LLM exchanges")
    for column in ("id", "model", "prompt", "accepted", "rejected", "outcome"):
        exchanges.add_column(column)
    for exchange in priors.exchanges:
        outcome = exchange.error or (
            f"replayed from {exchange.replayed_from}" if exchange.replayed_from else "answered"
        )
        exchanges.add_row(
            str(exchange.id),
            exchange.model,
            exchange.prompt_hash[:12],
            str(exchange.accepted),
            str(exchange.rejected),
            outcome,
        )
    return Group(proposals, exchanges)
