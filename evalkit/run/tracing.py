"""Run observers: what a tracer (``evalkit.run.otel``) sees beyond single calls.

A ``CallObserver`` (``evalkit.run.calls``) receives each call; a ``RunObserver`` also hears
when a suite's run starts, when a batch of its results is scored (scores come after the
calls, in batches: ``evalkit.score.batch``) and when the run ends. Nothing here imports a
tracing library: a run without tracing pays for none of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from evalkit.records import Result, Score

if TYPE_CHECKING:
    from evalkit.contracts import RunOutcome
    from evalkit.run.calls import CallEvent, CallObserver

__all__ = ["RunObserver", "close_all", "ended", "on_scored", "started"]


@runtime_checkable
class RunObserver(Protocol):
    """A call observer that also follows the run of each suite."""

    def on_call(self, event: CallEvent) -> None: ...

    def run_started(self, run_id: str, suite: str, header: dict[str, Any]) -> None:
        """A suite's run begins making calls (its run row is recorded)."""

    def results_scored(self, results: Sequence[Result], scores: Sequence[Score]) -> None:
        """A batch of finished results, with their scores (errors have none)."""

    def run_ended(self, outcome: RunOutcome | None, error: BaseException | None) -> list[str]:
        """The run ended: its outcome, or (outcome None) the exception that stopped it
        (an interrupt, or a bug); returns warnings to show."""

    def close(self) -> list[str]:
        """The command is done: flush and let go; returns warnings to show."""


def _runs(observers: Sequence[CallObserver]) -> list[RunObserver]:
    return [o for o in observers if isinstance(o, RunObserver)]


def started(observers: Sequence[CallObserver], run_id: str, suite: str, header: dict) -> None:
    """Tell the run observers a suite's run starts."""
    for observer in _runs(observers):
        observer.run_started(run_id, suite, header)


def on_scored(
    observers: Sequence[CallObserver],
) -> Callable[[Sequence[Result], Sequence[Score]], None] | None:
    """The runner's callback for scored batches (None when nobody listens)."""
    listening = _runs(observers)
    if not listening:
        return None

    def scored(results: Sequence[Result], scores: Sequence[Score]) -> None:
        for observer in listening:
            observer.results_scored(results, scores)

    return scored


def ended(
    observers: Sequence[CallObserver],
    outcome: RunOutcome | None,
    error: BaseException | None = None,
) -> list[str]:
    """Tell the run observers a suite's run ended; their warnings."""
    return [w for observer in _runs(observers) for w in observer.run_ended(outcome, error)]


def close_all(observers: Sequence[CallObserver]) -> list[str]:
    """Close the run observers at the end of a command; their warnings."""
    return [w for observer in _runs(observers) for w in observer.close()]
