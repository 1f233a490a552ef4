"""The exception tree's helpers: the closest valid name for a typo."""

from __future__ import annotations

import pytest

from evalkit.errors import InputError, closest, did_you_mean


@pytest.mark.parametrize(
    ("typo", "choices", "expected"),
    [
        ("modle", ["type", "model", "mode", "stream"], "model"),  # a swap beats a deletion
        ("provders", ["db", "providers", "defaults", "pricing"], "providers"),
        ("pass_rat", ["pass_rate", "latency_p95_ms"], "pass_rate"),
        ("latency_p59_ms", ["pass_rate", "latency_p95_ms", "ttft_p95_ms"], "latency_p95_ms"),
        ("Contains", ["contains", "equals"], "contains"),
        ("fak", ["fake", "local"], "fake"),
        ("x", ["a", "b"], None),  # replacing every letter is no suggestion
        ("temperature", ["model", "stream"], None),
        ("model", ["model", "mode"], "mode"),  # never the name itself
    ],
)
def test_closest(typo, choices, expected):
    assert closest(typo, choices) == expected


def test_did_you_mean_leads_and_keeps_the_list():
    assert did_you_mean("contain", ["contains", "regex"], also="use one of: contains, regex") == (
        "did you mean 'contains'? Use one of: contains, regex"
    )
    assert did_you_mean("zzz", ["contains"], also="use one of: contains") == "use one of: contains"
    assert did_you_mean("zzz", ["contains"]) == ""


def test_input_error_names_file_line_and_fix():
    error = InputError("unknown key 'x'", path="suites/s.yaml", line=4, fix="remove it")
    assert error.render() == "error: suites/s.yaml:4: unknown key 'x'\n  (remove it)"
    assert error.exit_code == 2
