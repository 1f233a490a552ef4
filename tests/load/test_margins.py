"""A suite's ``equivalence_margin:``: one number, or per metric (absolute or a percentage);
every mistake is an input error naming the file, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.contracts import MarginSetting, margin_for
from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite

SUITE = """
name: caps
prompt: cap@v1
cases: [{id: fr, vars: {country: France}, reference: Paris}]
scorers:
  - {type: contains, value: "{{ country }}"}
  - {type: bleu}
  - {type: chrf, threshold: 40, name: chrf40}
"""


@pytest.fixture
def library(tmp_path: Path, write) -> PromptLibrary:
    write("prompts/cap/v1.yaml", 'messages: [{role: user, content: "{{ country }}"}]\n')
    return PromptLibrary([tmp_path / "prompts"])


def _load(write, library, margin: str):
    return load_suite(write("suites/s.yaml", SUITE + margin), library)


def test_absent_one_number_or_per_metric(write, library):
    assert _load(write, library, "").equivalence_margin is None
    assert _load(write, library, "equivalence_margin: 0.03\n").equivalence_margin == {
        "rates": 0.03,
        "metrics": {},
    }
    suite = _load(
        write, library, 'equivalence_margin: {pass_rate: 0.05, bleu: 1.5, chrf40: "5%"}\n'
    )
    setting = MarginSetting.model_validate(suite.equivalence_margin)
    assert setting.metrics == {"pass_rate": 0.05, "bleu": 1.5, "chrf40": "5%"}
    assert margin_for(setting, "pass_rate", "pass_rate", 0.9).value == 0.05
    assert margin_for(setting, "bleu", "mean", 30.0).value == 1.5
    relative = margin_for(setting, "chrf40", "pass_fail", 0.8)
    assert relative.value == pytest.approx(0.04) and relative.relative == 0.05
    # metrics it does not name keep the defaults
    assert margin_for(setting, "contains", "pass_fail", 0.5).value == 0.02
    assert margin_for(setting, "other", "mean", 50.0).value == pytest.approx(1.0)
    assert margin_for(None, "contains", "pass_fail", 0.5).source == "default"


@pytest.mark.parametrize(
    ("margin", "line", "message", "fix"),
    [
        ("equivalence_margin: 2\n", 8, "a pass-rate margin is a share", "±2 points"),
        ('equivalence_margin: "2%"\n', 8, "give percentages per metric", "per metric"),
        ("equivalence_margin: {blue: 1}\n", 8, "'blue' is not a metric of this suite", "bleu"),
        ("equivalence_margin:\n  bleu: -1\n", 9, "must be a positive number", "per metric"),
        ("equivalence_margin:\n  bleu: lots\n", 9, "not a percentage", "per metric"),
        ("equivalence_margin:\n  chrf40: 3\n", 9, "has a pass/fail outcome", "chrf40: 0.02"),
        ("equivalence_margin: true\n", 8, "a number or a percentage", "per metric"),
    ],
)
def test_mistakes_name_the_line_and_the_fix(write, library, margin, line, message, fix):
    with pytest.raises(InputError) as info:
        _load(write, library, margin)
    error = info.value
    assert error.line == line and str(error.path).endswith("s.yaml")
    assert message in error.message and fix in (error.fix or "")
