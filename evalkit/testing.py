"""Runs to assert on in tests: what the ``evalkit`` pytest fixture and plugin hand out.

``Evalkit.run(suite, prompt=..., provider=...)`` runs one suite through
``evalkit.api.evaluate`` (the same gates, baseline and ``--fail-on`` semantics as
``evalkit run``) and returns a ``SuiteRun``: its pass rate, gates, verdict, failing cases
and a DataFrame of its results. ``SuiteRun.explain()`` is the text pytest shows when an
assertion on it fails. Nothing heavy is imported until a run is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.config import Project
    from evalkit.contracts import Comparison, Gate, GroupSummary
    from evalkit.run.session import RunOutcome

__all__ = ["Evalkit", "SuiteRun", "format_failure"]

#: Failing cases shown in a report (the rest are counted).
SHOWN_FAILURES = 10


def _listed(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _short(text: str | None, limit: int = 200) -> str:
    if text is None:
        return "None"
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text)


def format_failure(row: dict[str, Any]) -> str:
    """One failing result as report lines: case, side, output, and why it failed."""
    head = f"{row['case_id']} [{row['prompt']} · {row['provider']}"
    head += f" · repeat {row['repeat']}]" if row.get("repeat") else "]"
    lines = [head]
    if row.get("error_class"):
        lines.append(f"    call failed ({row['error_class']}): {row.get('error') or ''}".rstrip())
        return "\n".join(lines)
    lines.append(f"    output: {_short(row.get('output'))}")
    for score in row.get("failed") or []:
        detail = f": {score['detail']}" if score.get("detail") else ""
        lines.append(f"    {score['scorer']} failed (value {score['value']}){detail}")
    for score in row.get("undecided") or []:
        lines.append(f"    {score['scorer']} undecided: {score['detail']}")
    return "\n".join(lines)


@dataclass
class SuiteRun:
    """One suite's run, to assert on: ``assert run.pass_rate >= 0.8``."""

    outcome: RunOutcome
    db: Path
    project: Project
    _failures: list[dict[str, Any]] | None = field(default=None, repr=False)

    # -- what the run was -------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """The stored run's id (use it with ``evalkit runs show`` or ``api.results``)."""
        return self.outcome.run_id

    @property
    def suite(self) -> str:
        """The suite's name."""
        return self.outcome.suite

    @property
    def status(self) -> str:
        """``completed``, ``incomplete`` or ``interrupted``."""
        return self.outcome.status

    @property
    def exit_code(self) -> int:
        """What ``evalkit run`` would exit with for this suite (gates, ``--fail-on``)."""
        return self.outcome.exit_code

    @property
    def ok(self) -> bool:
        """Completed, no gate failed, and no regression under the ``fail_on`` policy."""
        return self.outcome.exit_code == 0

    @property
    def groups(self) -> list[GroupSummary]:
        """Per prompt version × provider: counts, ``pass_rate``, score means, latency."""
        return list(self.outcome.summary.groups)

    @property
    def gates(self) -> list[Gate]:
        """Each gate of the suite with its value and whether it ``passed``."""
        return list(self.outcome.gates)

    @property
    def comparison(self) -> Comparison | None:
        """The verdict against the baseline (``evalkit.compare/1``), when one was given."""
        return self.outcome.comparison

    @property
    def verdict(self) -> str | None:
        """The comparison's overall verdict (``regressed``, ``improved``, ``equivalent``,
        ``inconclusive``), if compared."""
        return None if self.comparison is None else self.comparison.verdict

    # -- numbers ------------------------------------------------------------------------------
    def _counts(self, prompt: str | None, provider: str | None) -> tuple[int, int, int]:
        passed = failed = undecided = 0
        for group in self.groups:
            if prompt is not None and prompt not in (group.prompt, group.prompt.split("@")[0]):
                continue
            if provider is not None and group.provider != provider:
                continue
            passed += group.passed
            failed += group.failed
            undecided += group.undecided
        return passed, failed, undecided

    @property
    def passed(self) -> int:
        """Results that passed (all groups)."""
        return self._counts(None, None)[0]

    @property
    def failed(self) -> int:
        """Results that failed, including failed calls (all groups)."""
        return self._counts(None, None)[1]

    @property
    def undecided(self) -> int:
        """Results no scorer could decide (counted apart, never as pass or fail)."""
        return self._counts(None, None)[2]

    @property
    def pass_rate(self) -> float | None:
        """passed / (passed + failed) over every result of the run; None if none decided.
        With several prompt versions or providers, see ``pass_rate_of``."""
        return self.pass_rate_of()

    def pass_rate_of(self, prompt: str | None = None, provider: str | None = None) -> float | None:
        """The pass rate of one prompt version (``name@vN``) and/or provider."""
        passed, failed, _ = self._counts(prompt, provider)
        return passed / (passed + failed) if passed + failed else None

    def score(self, scorer: str, prompt: str | None = None, provider: str | None = None) -> float:
        """Mean value of one scorer (over the groups selected, weighted by their counts)."""
        total = n = 0.0
        for group in self.groups:
            if prompt is not None and prompt not in (group.prompt, group.prompt.split("@")[0]):
                continue
            if provider is not None and group.provider != provider:
                continue
            stats = group.scores.get(scorer)
            if stats is None:
                raise KeyError(f"no scorer {scorer!r} (scorers: {', '.join(group.scores)})")
            if stats.mean is not None:
                total += stats.mean * stats.n
                n += stats.n
        return total / n if n else float("nan")

    # -- cases --------------------------------------------------------------------------------
    @property
    def failures(self) -> list[dict[str, Any]]:
        """Results that did not pass, with their failing scores (see ``api.failures``)."""
        if self._failures is None:
            if not self.run_id:
                self._failures = []
            else:
                from evalkit import api

                self._failures = api.failures(self.run_id, project=self.project, db=self.db)
        return self._failures

    def to_pandas(self) -> pd.DataFrame:
        """This run's results with one column per scorer (see ``api.results``)."""
        from evalkit import api

        return api.results(self.run_id, scores=True, project=self.project, db=self.db)

    def explain(self, shown: int = SHOWN_FAILURES) -> str:
        """A readable account: groups, gates, verdict, and the first failing cases."""
        lines = [f"evalkit suite '{self.suite}' · run {self.run_id or '-'} · {self.status}"]
        if self.outcome.error:
            lines.append(f"  {self.outcome.error}")
        for group in self.groups:
            rate = group.pass_rate
            shown_rate = "n/a" if rate is None else f"{rate:.2f}"
            lines.append(
                f"  {group.prompt} · {group.provider}: pass rate {shown_rate} "
                f"({group.passed} passed, {group.failed} failed, {group.undecided} undecided)"
            )
        for gate in self.gates:
            state = {True: "pass", False: "FAIL", None: "n/a"}[gate.passed]
            sign = "≥" if gate.kind == "min" else "≤"
            actual = gate.actual
            value = f"{actual:.4g}" if isinstance(actual, float) else str(actual)
            lines.append(
                f"  gate {gate.gate} {sign} {gate.limit:g}: {state} ({gate.scope}: {value})"
            )
        if self.comparison is not None:
            lines.append(f"  verdict against the baseline: {self.verdict}")
            for pairing in self.comparison.pairings:
                for metric in pairing.metrics:
                    if metric.verdict in ("regressed", "improved"):
                        lines.append(
                            f"    {pairing.label}: {metric.metric} {metric.verdict} "
                            f"({metric.baseline} → {metric.candidate}, p={metric.p_adjusted})"
                        )
        if self.outcome.exit_reasons:
            lines.append(f"  exit {self.exit_code}: {', '.join(self.outcome.exit_reasons)}")
        rows = self.failures
        if rows and not shown:
            lines.append(f"  {len(rows)} results did not pass (api.failures('{self.run_id}'))")
        elif rows:
            lines.append(f"  {len(rows)} results did not pass:")
            for row in rows[:shown]:
                lines.append("  " + format_failure(row).replace("\n", "\n  "))
            if len(rows) > shown:
                lines.append(f"  … and {len(rows) - shown} more (api.failures('{self.run_id}'))")
        return "\n".join(lines)

    def __repr__(self) -> str:
        rate = self.pass_rate
        return (
            f"SuiteRun(suite={self.suite!r}, run_id={self.run_id!r}, status={self.status!r}, "
            f"pass_rate={'None' if rate is None else round(rate, 4)}, exit_code={self.exit_code})"
        )


@dataclass
class Evalkit:
    """Runs suites from tests (the ``evalkit`` fixture). Defaults come from the pytest
    options (``--evalkit-provider``, ``--evalkit-replay``, ``--evalkit-db``, ...)."""

    providers: Sequence[str] = ()
    replay: str | None = None
    db: str | Path | None = None
    baseline: str | None = None
    fail_on: str = "regression"
    no_cache: bool = False
    #: Where relative suite paths are looked up after the working directory.
    root: Path | None = None
    runs: list[SuiteRun] = field(default_factory=list)

    def _project(self, suite: str | Path, project: Project | None) -> tuple[Project, str]:
        from evalkit.config import Project

        path = Path(suite)
        for base in (Path.cwd(), self.root):
            if base is not None and (base / path).is_file():
                found = (base / path).resolve()
                return project or Project.discover(found.parent), str(found)
        return project or Project.discover(self.root), str(suite)

    def run(
        self,
        suite: str | Path,
        *,
        prompt: str | Sequence[str] | None = None,
        provider: str | Sequence[str] | None = None,
        repeat: int | None = None,
        limit: int | None = None,
        replay: str | None = None,
        baseline: str | None = None,
        fail_on: str | None = None,
        no_cache: bool | None = None,
        project: Project | None = None,
    ) -> SuiteRun:
        """Run one suite (a file, or a name in suites/) and store it, as ``evalkit run``
        would; returns its ``SuiteRun``. Input errors raise ``InputError``."""
        from evalkit import api

        found, path = self._project(suite, project)
        evaluation = api.evaluate(
            [path],
            project=found,
            db=self.db,
            providers=_listed(provider) or list(self.providers),
            prompts=_listed(prompt),
            repeat=repeat,
            limit=limit,
            replay=replay or self.replay,
            baseline=baseline or self.baseline,
            fail_on=fail_on or self.fail_on,
            no_cache=self.no_cache if no_cache is None else no_cache,
        )
        (outcome,) = evaluation.runs
        result = SuiteRun(outcome, evaluation.db, found)
        self.runs.append(result)
        return result

    def compare(
        self,
        suite: str | Path,
        prompts: Sequence[str] = (),
        *,
        providers: Sequence[str] = (),
        fail_on: str | None = None,
        project: Project | None = None,
    ) -> Comparison:
        """Compare two prompt versions (or two providers) on a suite, case by case,
        running whatever the store lacks; ``.to_pandas()`` on the result gives the table."""
        from evalkit import api

        found, path = self._project(suite, project)
        return api.compare(
            [path],
            prompts=list(prompts),
            providers=list(providers),
            fail_on=fail_on or self.fail_on,
            project=found,
            db=self.db,
        )
