"""pandas DataFrames of what evalkit stored and compared.

``evalkit.api.results()``, ``scores()`` and ``runs()`` read the store (the SQL lives in
``evalkit.store.frames``); ``Evaluation.to_pandas()`` and ``Comparison.to_pandas()`` turn
what ``evaluate()`` and ``compare()`` returned into frames. pandas is imported only when a
frame is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.config import Project
    from evalkit.store.db import Store

__all__ = [
    "COMPARISON_COLUMNS",
    "comparison_frame",
    "evaluation_frame",
    "read_frame",
]


@contextmanager
def _store(project: Project | None, db: str | Path | None) -> Iterator[Store]:
    from evalkit.config import Project
    from evalkit.store.db import open_store

    with open_store(project or Project.discover(), db, read_only=True) as store:
        yield store


def _run_ids(store: Store, run: str | Sequence[str] | None, suite: str | None) -> list[str] | None:
    """Run ids for ``run``: one reference or several (``last``, ids, unique prefixes,
    baseline names — as on the command line); None selects every run."""
    if run is None:
        return None
    from evalkit.store.runs import resolve_run

    refs = [run] if isinstance(run, str) else list(run)
    return list(dict.fromkeys(resolve_run(store, ref, suite) for ref in refs))


def read_frame(
    kind: str,
    *,
    run: str | Sequence[str] | None = None,
    suite: str | None = None,
    prompt: str | None = None,
    provider: str | None = None,
    project: Project | None = None,
    db: str | Path | None = None,
    **options: Any,
) -> pd.DataFrame:
    """``kind`` = ``results`` | ``scores`` | ``runs``: the store's frame of that kind for the
    selected runs (see ``evalkit.store.frames`` for the columns)."""
    from evalkit.store import frames

    builders: dict[str, Any] = {
        "results": frames.results_frame,
        "scores": frames.scores_frame,
        "runs": frames.runs_frame,
    }
    build = builders[kind]
    with _store(project, db) as store:
        run_ids = _run_ids(store, run, suite)
        frame: pd.DataFrame = build(
            store, run_ids=run_ids, suite=suite, prompt=prompt, provider=provider, **options
        )
        return frame


def evaluation_frame(evaluation: Any, *, scores: bool = True) -> pd.DataFrame:
    """The results of an evaluation's runs (one row per result), with one column per
    scorer (``<scorer>``, ``<scorer>_passed``) unless ``scores`` is false. A dry run has
    no results: the frame is empty."""
    from evalkit.store import frames
    from evalkit.store.db import Store

    run_ids = [r.run_id for r in evaluation.runs if r.run_id]
    path = Path(evaluation.db)
    if not run_ids or not path.exists():
        import pandas as pd

        names = [c.rsplit(" AS ", 1)[-1].split(".")[-1] for c in frames.RESULT_FRAME_COLUMNS]
        return pd.DataFrame(columns=names)
    with Store(path, read_only=True) as store:
        frame: pd.DataFrame = frames.results_frame(store, run_ids=run_ids, with_scores=scores)
        return frame


#: Columns of ``comparison_frame``, in order.
COMPARISON_COLUMNS: list[str] = [
    "suite",
    "pairing",
    "baseline_run",
    "candidate_run",
    "baseline_prompt",
    "candidate_prompt",
    "baseline_provider",
    "candidate_provider",
    "metric",
    "kind",
    "scorer",
    "verdict",
    "baseline",
    "candidate",
    "change",
    "ci_low",
    "ci_high",
    "p",
    "p_adjusted",
    "test",
    "cases",
    "detectable",
    "same_as",
    "reason",
]


def _as_dict(data: Any) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    dump = getattr(data, "model_dump", None)  # a pydantic model of the same data
    if dump is not None:
        result: Mapping[str, Any] = dump(mode="json")
        return result
    raise TypeError(f"not comparison data: {type(data).__name__}")


def comparison_frame(data: Any) -> pd.DataFrame:
    """``evalkit.compare/1`` data as one row per metric per pairing: the tested metrics
    (pass rate and each scorer: ``change`` is the difference, with its 95% interval, raw and
    Holm-adjusted p) and the budget metrics (latency p95, cost per result: ``change`` is
    the ratio candidate / baseline)."""
    import pandas as pd

    comparison = _as_dict(data)
    rows: list[dict[str, Any]] = []
    for pairing in comparison.get("pairings") or []:
        base, cand = pairing.get("baseline") or {}, pairing.get("candidate") or {}
        common = {
            "suite": comparison.get("suite"),
            "pairing": pairing.get("label"),
            "baseline_run": base.get("run_id"),
            "candidate_run": cand.get("run_id"),
            "baseline_prompt": base.get("prompt"),
            "candidate_prompt": cand.get("prompt"),
            "baseline_provider": base.get("provider"),
            "candidate_provider": cand.get("provider"),
        }
        pass_rate_mde = (pairing.get("mde") or {}).get("pass_rate")
        for metric in pairing.get("metrics") or []:
            ci = metric.get("ci") or [None, None]
            rows.append(
                {
                    **common,
                    "metric": metric.get("metric"),
                    "kind": metric.get("kind"),
                    "scorer": metric.get("scorer"),
                    "verdict": metric.get("verdict"),
                    "baseline": metric.get("baseline"),
                    "candidate": metric.get("candidate"),
                    "change": metric.get("estimate"),
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "p": metric.get("p"),
                    "p_adjusted": metric.get("p_adjusted"),
                    "test": metric.get("test"),
                    "cases": metric.get("cases"),
                    "detectable": metric.get("mde")
                    if metric.get("mde") is not None
                    else (pass_rate_mde if metric.get("kind") == "pass_rate" else None),
                    "same_as": metric.get("same_as"),
                    "reason": metric.get("reason"),
                }
            )
        for budget in pairing.get("budgets") or []:
            ci = budget.get("ci") or [None, None]
            rows.append(
                {
                    **common,
                    "metric": budget.get("metric"),
                    "kind": "budget",
                    "scorer": None,
                    "verdict": budget.get("verdict"),
                    "baseline": budget.get("baseline"),
                    "candidate": budget.get("candidate"),
                    "change": budget.get("ratio"),
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "test": budget.get("statistic"),
                }
            )
    return pd.DataFrame.from_records(rows, columns=COMPARISON_COLUMNS)
