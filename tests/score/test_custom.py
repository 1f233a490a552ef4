"""Custom scorers: `type: python` functions in the project, and entry-point plugins."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from evalkit.config import Project
from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite
from evalkit.registry import SCORERS
from evalkit.score.base import ScoreContext, ScoreInput
from fakeserver import FakeServer
from projects import RULES, write_project
from scoring import result

CHECKS = """
import asyncio

def short(output, case, limit=10):
    return len(output) <= limit

def length(output, case):
    return len(output)

def detailed(output, case, result):
    ok = case.vars["country"] in (result.input or "")
    return (1.0 if ok else 0.0, ok, f"provider {result.provider}")

def as_dict(output, case):
    return {"value": 0.25, "detail": "quarter"}

def unsure(output, case):
    return None

def broken(output, case):
    raise ValueError("no idea")

def weird(output, case):
    return ["a list"]

async def slow_upper(output, case):
    await asyncio.sleep(0)
    return output.isupper()
"""


def _suite(tmp_path: Path, module: str, scorers: str) -> Path:
    (tmp_path / "evalkit.yaml").write_text("providers: {gemma: {type: local}}\n")
    (tmp_path / f"{module}.py").write_text(CHECKS)
    (tmp_path / "prompts/p").mkdir(parents=True)
    (tmp_path / "prompts/p/v1.yaml").write_text(
        'messages: [{role: user, content: "{{ country }}"}]\n'
    )
    (tmp_path / "suites").mkdir()
    path = tmp_path / "suites/s.yaml"
    path.write_text(
        "name: s\nprompt: p@v1\ncases: [{id: a, vars: {country: France}}]\n"
        "scorers:\n" + textwrap.indent(textwrap.dedent(scorers).strip(), "  ") + "\n"
    )
    return path


def _score_all(path: Path, output: str):
    project = Project.discover(path.parent)
    suite = load_suite(path, PromptLibrary([project.prompts_dir]))
    context = ScoreContext(defaults={}, resources={}, root=project.root)
    scorers = [SCORERS.get(s.type)(s, context) for s in suite.scorers]
    item = ScoreInput(
        output, suite.cases[0], result(output, input="Capital of France?", provider="gemma")
    )
    outcomes = [asyncio.run(s.score_batch([item]))[0] for s in scorers]
    return scorers, outcomes


def test_return_shapes(tmp_path):
    path = _suite(
        tmp_path,
        "checks_shapes",
        """
        - {type: python, function: "checks_shapes:short", args: {limit: 5}}
        - {type: python, function: "checks_shapes:length", threshold: 3}
        - {type: python, function: "checks_shapes:detailed"}
        - {type: python, function: "checks_shapes:as_dict"}
        - {type: python, function: "checks_shapes:unsure"}
        - {type: python, function: "checks_shapes:broken"}
        - {type: python, function: "checks_shapes:weird"}
        - {type: python, function: "checks_shapes:slow_upper"}
    """,
    )
    scorers, outcomes = _score_all(path, "PARIS")
    got = [(o.value, o.passed, o.detail) for o in outcomes]
    assert got[0] == (1.0, True, None)
    assert got[1] == (5.0, None, None) and scorers[1].decide(5.0) is True
    assert got[2] == (1.0, True, "provider gemma")
    assert got[3] == (0.25, None, "quarter")
    assert got[4] == (None, None, None)
    assert got[5] == (None, None, "error: ValueError: no idea")
    assert got[6][0] is None and "returned list" in got[6][2]
    assert got[7] == (1.0, True, None)
    assert [s.decides for s in scorers] == [True, True, True, False, False, False, False, True]


def test_signature_has_module_and_source_hash(tmp_path):
    path = _suite(
        tmp_path,
        "checks_sig",
        """
        - {type: python, function: "checks_sig:short"}
        - {type: python, function: "checks_sig:length"}
        - {type: python, function: "checks_sig:short", args: {limit: 3}}
    """,
    )
    scorers, _ = _score_all(path, "x")
    a, b, c = (s.signature() for s in scorers)
    assert a["function"]["module"] == "checks_sig" and a["function"]["file"] == "checks_sig.py"
    assert a["function"]["source_hash"] != b["function"]["source_hash"]
    assert a["options"]["args"] == {} and c["options"]["args"] == {"limit": 3}
    assert len({scorers[0].signature_hash(), scorers[2].signature_hash()}) == 2


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("nowhere_mod:f", "suites/s.yaml:5: cannot import module 'nowhere_mod'"),
        ("checks_err:missing", "suites/s.yaml:5: module 'checks_err' has no function 'missing'"),
        (
            "checks_err",
            "suites/s.yaml:5: scorer 'python': function: Value error, 'checks_err' is "
            "not module:function",
        ),
    ],
)
def test_bad_function_is_a_file_line_error(tmp_path, in_tmp, function, message):
    path = _suite(tmp_path, "checks_err", f'- {{type: python, function: "{function}"}}')
    with pytest.raises(InputError) as info:
        load_suite(path, PromptLibrary([tmp_path / "prompts"]))
    assert info.value.message.startswith(message.replace("Value error, ", ""))


def test_module_that_fails_to_import(tmp_path, in_tmp):
    path = _suite(tmp_path, "checks_ok", '- {type: python, function: "checks_bad:f"}')
    (tmp_path / "checks_bad.py").write_text("def f(output, case)\n    return True\n")
    with pytest.raises(
        InputError,
        match=r"^checks_bad\.py:1: importing module 'checks_bad' "
        r"\(named by suites/s\.yaml:\d+\) failed: SyntaxError",
    ):
        load_suite(path, PromptLibrary([tmp_path / "prompts"]))


PLUGIN = '''
from evalkit.score.base import Outcome, PerItemScorer, ScorerOptions


class ShoutOptions(ScorerOptions):
    min_ratio: float = 0.5


class Shout(PerItemScorer):
    """Share of upper-case letters in the output."""

    type = "shout"
    version = "3"
    Options = ShoutOptions

    def score_one(self, item):
        letters = [c for c in item.output if c.isalpha()]
        ratio = sum(c.isupper() for c in letters) / max(len(letters), 1)
        return Outcome(ratio, ratio >= self.options.min_ratio, None)
'''


def test_entry_point_scorer_runs_in_evalkit_run(tmp_path):
    """A plugin installed as a distribution (a dist-info with an `evalkit.scorers` entry point
    on the import path) is found by name in a suite, with no change to evalkit."""
    site = tmp_path / "site"
    (site / "shout_plugin").mkdir(parents=True)
    (site / "shout_plugin/__init__.py").write_text(PLUGIN)
    info = site / "shout_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evalkit.scorers]\nshout = shout_plugin:Shout\n")
    project = tmp_path / "project"
    with FakeServer(rules=RULES) as server:
        write_project(project, server.base_url)
        suite = project / "suites/capitals.yaml"
        suite.write_text(
            suite.read_text().replace(
                "  - {type: chrf}", "  - {type: chrf}\n  - {type: shout, min_ratio: 0.1}"
            )
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(site), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
            ),
        }
        run = subprocess.run(
            [sys.executable, "-m", "evalkit", "run", "--json"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    groups = data["runs"][0]["summary"]["groups"]
    assert all(g["scores"]["shout"]["type"] == "shout" for g in groups)
    with duckdb.connect(str(project / ".evalkit/evalkit.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT value, passed, signature_json FROM scores WHERE scorer_type = 'shout'"
        ).fetchall()
    assert len(rows) == 16
    assert all(value > 0.1 and passed for value, passed, _ in rows)  # "Paris": 1/5 upper case
    assert json.loads(rows[0][2])["version"] == "3"
