"""The pytest plugin's hooks and fixture (loaded by ``evalkit.pytest_plugin``, the
``pytest11`` entry point, on pytest 7 and later): evalkit suites as tests, and the ``evalkit``
fixture.

``pytest --evalkit suites/`` collects every suite file (a YAML mapping with ``prompt`` and
``cases``) as one test that runs the suite through ``evalkit.api.evaluate`` and passes
exactly when ``evalkit run`` would exit 0 (completed, gates met, and with
``--evalkit-baseline`` no regression under ``--evalkit-fail-on``). ``--evalkit-per-case``
makes each case × prompt version × provider a test of its own, plus one ``[gates]`` test
per suite carrying the run's exit code. Failing cases show in pytest's report with their
output and the failing scorer's detail; an ``evalkit`` section at the end summarises each
suite run.

This module loads in every pytest session of every project that installs evalkit, so it
imports nothing but pytest and the standard library at module level, and without
``--evalkit`` it collects nothing. The ``evalkit`` fixture imports evalkit's machinery only
when a test uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from evalkit.testing import Evalkit, SuiteRun

__all__ = [
    "evalkit",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_configure",
    "pytest_terminal_summary",
]

_POLICIES = ("regression", "threshold", "any", "never")
_RUNS = pytest.StashKey[list[Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalkit", "evalkit: LLM evaluation suites as tests")
    group.addoption(
        "--evalkit",
        action="store_true",
        help="collect evalkit suite files (suites/*.yaml) as tests",
    )
    group.addoption(
        "--evalkit-per-case",
        action="store_true",
        help="one test per case × prompt version × provider (plus a [gates] test per suite)",
    )
    group.addoption(
        "--evalkit-baseline",
        metavar="NAME|RUN",
        help="compare each suite run with this baseline (a name, a run id, or last)",
    )
    group.addoption(
        "--evalkit-fail-on",
        metavar="POLICY",
        default="regression",
        choices=_POLICIES,
        help="when a suite test fails: regression (default; a failed gate or a significant "
        "regression), threshold (a failed gate), any, never — as `evalkit run --fail-on`",
    )
    group.addoption(
        "--evalkit-replay",
        metavar="RUN",
        help="answer every call from a stored run (no network, no key)",
    )
    group.addoption(
        "--evalkit-provider",
        action="append",
        default=[],
        metavar="ID",
        help="run on this provider id instead of the suite's (repeatable)",
    )
    group.addoption(
        "--evalkit-prompt",
        action="append",
        default=[],
        metavar="NAME@V",
        help="run this prompt version instead of the suite's (repeatable)",
    )
    group.addoption("--evalkit-repeat", type=int, metavar="N", help="ask each case N times")
    group.addoption("--evalkit-limit", type=int, metavar="N", help="only the first N cases")
    group.addoption("--evalkit-db", metavar="PATH", help="the store (default: the project's)")
    group.addoption(
        "--evalkit-no-cache", action="store_true", help="do not answer from the response cache"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "evalkit: an evalkit suite (or case) collected by --evalkit")
    config.stash[_RUNS] = []


# -- collection -------------------------------------------------------------------------------
def _is_suite(path: Path) -> bool:
    """A YAML mapping with ``prompt`` and ``cases`` (prompts have ``messages``; evalkit.yaml
    has ``providers``). Unreadable YAML counts when it sits in a ``suites`` folder, so its
    error is reported rather than the file silently skipped."""
    if path.suffix not in (".yaml", ".yml") or path.name == "evalkit.yaml":
        return False
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return path.parent.name == "suites"
    return isinstance(data, dict) and "prompt" in data and "cases" in data


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.getoption("evalkit") or not _is_suite(file_path):
        return None
    suite: SuiteFile = SuiteFile.from_parent(parent, path=file_path)
    return suite


def _session_evalkit(config: pytest.Config) -> Evalkit:
    from evalkit.testing import Evalkit

    return Evalkit(
        providers=config.getoption("evalkit_provider") or (),
        replay=config.getoption("evalkit_replay"),
        db=config.getoption("evalkit_db"),
        baseline=config.getoption("evalkit_baseline"),
        fail_on=config.getoption("evalkit_fail_on"),
        no_cache=config.getoption("evalkit_no_cache"),
        root=config.rootpath,
    )


class SuiteFile(pytest.File):
    """A suite file: runs the suite once, when its first test runs."""

    _run: SuiteRun | None = None
    _error: BaseException | None = None

    def collect(self) -> Iterator[pytest.Item]:
        config = self.config
        if not config.getoption("evalkit_per_case"):
            yield SuiteItem.from_parent(self, name=self.path.stem)
            return
        from evalkit import api
        from evalkit.config import Project

        info = api.describe_suite(
            self.path,
            providers=config.getoption("evalkit_provider"),
            prompts=config.getoption("evalkit_prompt"),
            project=Project.discover(self.path.parent),
        )
        limit = config.getoption("evalkit_limit")
        cases = info["cases"][:limit] if limit else info["cases"]
        for case in cases:
            for prompt in info["prompts"]:
                for provider in info["providers"]:
                    yield CaseItem.from_parent(
                        self,
                        name=f"{case}[{prompt}-{provider}]",
                        case=case,
                        prompt=prompt,
                        provider=provider,
                    )
        yield SuiteItem.from_parent(self, name="[gates]")

    def suite_run(self) -> SuiteRun:
        """The suite's run (made on first use; an error is raised again for each test)."""
        if self._error is not None:
            raise self._error
        if self._run is None:
            config = self.config
            try:
                self._run = _session_evalkit(config).run(
                    self.path,
                    prompt=config.getoption("evalkit_prompt") or None,
                    repeat=config.getoption("evalkit_repeat"),
                    limit=config.getoption("evalkit_limit"),
                )
            except BaseException as exc:
                self._error = exc
                raise
            config.stash[_RUNS].append(self._run)
        return self._run


class EvalkitFailure(Exception):
    """A suite or case test failed; the message is the report."""


def _render_error(excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    from evalkit.errors import EvalkitError

    if isinstance(excinfo.value, EvalkitFailure):
        return str(excinfo.value)
    if isinstance(excinfo.value, EvalkitError):
        return excinfo.value.render()
    return None


class SuiteItem(pytest.Item):
    """The whole suite: passes when ``evalkit run`` would exit 0."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker("evalkit")

    def runtest(self) -> None:
        assert isinstance(self.parent, SuiteFile)
        run = self.parent.suite_run()
        self.user_properties.append(("evalkit_run", run.run_id))
        if run.exit_code != 0:
            raise EvalkitFailure(run.explain())
        if run.failures:  # failing cases alone do not fail the suite, as in `evalkit run`
            self.add_report_section("call", "evalkit", run.explain())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return _render_error(excinfo) or super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"evalkit suite {self.path.name}::{self.name}"


class CaseItem(pytest.Item):
    """One case on one prompt version × provider: passes when every repeat passed."""

    def __init__(self, *, case: str, prompt: str, provider: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case, self.prompt, self.provider = case, prompt, provider
        self.add_marker("evalkit")

    def runtest(self) -> None:
        from evalkit.testing import format_failure

        assert isinstance(self.parent, SuiteFile)
        run = self.parent.suite_run()
        if not run.run_id:
            raise EvalkitFailure(run.explain(shown=0))
        self.user_properties.append(("evalkit_run", run.run_id))
        mine = [
            row
            for row in run.failures
            if (row["case_id"], row["prompt"], row["provider"])
            == (self.case, self.prompt, self.provider)
        ]
        failed = [row for row in mine if row["passed"] is False]
        report = "\n".join(format_failure(row) for row in mine)
        if failed:
            if _failed_in_baseline(run, self.case, self.prompt, self.provider):
                pytest.xfail("known failure: it also failed in the baseline\n" + report)
            raise EvalkitFailure(report)
        if mine:  # undecided
            pytest.skip(f"undecided: {report}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return _render_error(excinfo) or super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"evalkit case {self.name}"


def _failed_in_baseline(run: SuiteRun, case: str, prompt: str, provider: str) -> bool:
    """Whether the side this result was compared with failed this case too."""
    comparison = run.comparison
    if comparison is None:
        return False
    for pairing in comparison.pairings:
        cand = pairing.candidate
        if (cand.prompt, cand.provider) != (prompt, provider):
            continue
        if case in pairing.cases.added:
            return False
        return case not in {f.case_id for f in pairing.flips.pass_to_fail}
    return False


# -- the fixture and the summary --------------------------------------------------------------
@pytest.fixture
def evalkit(request: pytest.FixtureRequest) -> Evalkit:
    """Run a suite and assert on it::

    def test_capitals(evalkit):
        run = evalkit.run("suites/capitals.yaml", prompt="capitals@v2")
        assert run.pass_rate >= 0.8, run.explain()

    Uses the ``--evalkit-provider``/``--evalkit-replay``/``--evalkit-db``/
    ``--evalkit-baseline``/``--evalkit-fail-on`` options as defaults.
    """
    helper = _session_evalkit(request.config)
    request.addfinalizer(lambda: request.config.stash[_RUNS].extend(helper.runs))
    return helper


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    runs = config.stash.get(_RUNS, [])
    if not runs:
        return
    terminalreporter.section("evalkit")
    for i, run in enumerate(runs):
        if i:
            terminalreporter.write_line("")
        for line in run.explain(shown=0).splitlines():
            terminalreporter.write_line(line)
