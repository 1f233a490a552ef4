from __future__ import annotations

import pytest

from scoring import case, make_scorer, score


@pytest.mark.parametrize(
    ("options", "output", "vars", "passed"),
    [
        ({"type": "contains", "value": "Paris"}, "It is Paris.", {}, True),
        ({"type": "contains", "value": "paris"}, "It is Paris.", {}, False),
        ({"type": "contains", "value": "paris", "ignore_case": True}, "PARIS", {}, True),
        ({"type": "contains", "value": "{{ capital }}"}, "Rome!", {"capital": "Rome"}, True),
        ({"type": "contains", "value": "{{ capital }}"}, "Milan", {"capital": "Rome"}, False),
        ({"type": "contains", "values": ["a", "z"]}, "abc", {}, True),
        ({"type": "contains", "values": ["a", "z"], "match": "all"}, "abc", {}, False),
        ({"type": "contains", "value": "sorry", "negate": True}, "Sure.", {}, True),
        ({"type": "contains", "value": "sorry", "negate": True}, "sorry", {}, False),
        ({"type": "regex", "pattern": "[0-9]{4}"}, "in 1999.", {}, True),
        ({"type": "regex", "pattern": "^[0-9]{4}$"}, "in 1999.", {}, False),
        ({"type": "regex", "pattern": "[0-9]{4}", "mode": "fullmatch"}, "1999", {}, True),
        ({"type": "regex", "pattern": "^{{ y }}"}, "2024-01", {"y": "2024"}, True),
        ({"type": "regex", "pattern": "abc", "ignore_case": True}, "ABC", {}, True),
        ({"type": "equals", "value": "Paris"}, "  Paris \n", {}, True),
        ({"type": "equals", "value": "Paris"}, "Paris.", {}, False),
        ({"type": "equals", "value": "paris", "ignore_case": True}, "Paris", {}, True),
    ],
)
def test_boolean_scorers(options, output, vars, passed):
    scorer = make_scorer(**options)
    outcome, decided = score(scorer, output, case(vars))
    assert decided is passed
    assert outcome.value == (1.0 if passed else 0.0)
    assert (outcome.detail is None) is passed
    assert scorer.decides


def test_equals_defaults_to_any_reference():
    scorer = make_scorer(type="equals")
    assert score(scorer, "Tokyo", case(reference=["Tokio", "Tokyo"]))[1] is True
    assert score(scorer, "Kyoto", case(reference=["Tokio", "Tokyo"]))[1] is False


def test_failure_detail_says_what_is_missing():
    outcome, _ = score(make_scorer(type="contains", value="Paris"), "Lyon")
    assert outcome.detail == "missing 'Paris'"


def test_signature_has_options_but_not_threshold_or_name():
    a = make_scorer(type="contains", value="x", name="a")
    b = make_scorer(type="contains", value="x", name="b")
    c = make_scorer(type="contains", value="y")
    assert a.signature_hash() == b.signature_hash() != c.signature_hash()
    assert a.signature()["options"]["value"] == "x"
