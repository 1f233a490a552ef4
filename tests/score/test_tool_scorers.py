"""tool_call and no_tool_call: expected calls against the calls a model made; turn: on
every scorer (last, all, N)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import InputError
from evalkit.load.source import LineMap, validate
from evalkit.records import Case, ScorerSpec, ToolCall
from evalkit.registry import SCORERS
from evalkit.score.base import ScoreContext, ScoreInput, Scorer
from evalkit.score.batch import BatchScorer
from evalkit.score.tools import match_calls
from scoring import case, result

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]


def make(tmp_path: Path | None = None, **options: Any) -> Scorer:
    cls = SCORERS.get(options["type"])
    opts = validate(cls.Options, options, LineMap("suite.yaml"))
    if tmp_path is not None:
        (tmp_path / "evalkit.yaml").write_text("providers: {}\n")
        cls.resolve(opts, LineMap("suite.yaml"), tmp_path / "suite.yaml")
    label = getattr(opts, cls.label_option) or options["type"]
    spec = ScorerSpec(type=options["type"], name=label, options=opts)
    return cls(spec, ScoreContext(defaults={}, resources={}, root=tmp_path))  # type: ignore[no-any-return]


def call(name: str, n: int = 1, **arguments: Any) -> ToolCall:
    return ToolCall(f"call_1_{n}", name, arguments)


def score(scorer: Scorer, *calls: ToolCall, the_case: Case | None = None, **extra: Any):
    item = ScoreInput("", the_case or case(), result("", **extra), tuple(calls))
    (outcome,) = asyncio.run(scorer.score_batch([item]))
    return outcome


def test_one_expected_call_with_templated_arguments():
    scorer = make(type="tool_call", name="get_weather", arguments={"city": "{{ city }}"})
    paris = case({"city": "Paris"})
    hit = score(scorer, call("get_weather", city="Paris", days=2), the_case=paris)
    assert (hit.value, hit.passed, hit.detail) == (1.0, True, None)
    wrong = score(scorer, call("get_weather", city="paris"), the_case=paris)
    assert (wrong.value, wrong.passed) == (0.0, False)
    assert wrong.detail == "get_weather: city='paris', expected 'Paris'"
    none = score(scorer, the_case=paris)
    assert none.passed is False and none.detail == "expected get_weather, but no tool was called"
    other = score(scorer, call("get_time"), the_case=paris)
    assert other.detail == "expected get_weather, called get_time"


def test_exact_arguments_refuse_extra_keys():
    scorer = make(
        type="tool_call", name="get_weather", arguments={"city": "Paris"}, arguments_match="exact"
    )
    outcome = score(scorer, call("get_weather", city="Paris", days=2))
    assert outcome.passed is False and outcome.detail == "get_weather: unexpected argument 'days'"


def test_arguments_that_are_not_json_fail_an_argument_check():
    scorer = make(type="tool_call", name="get_weather", arguments={"city": "Paris"})
    outcome = score(scorer, ToolCall("c", "get_weather", "{city: Paris"))
    assert outcome.passed is False
    assert "arguments are not a JSON object" in outcome.detail
    # a name-only expectation does not look at the arguments
    assert score(
        make(type="tool_call", name="get_weather"), ToolCall("c", "get_weather", "?")
    ).passed


def test_f1_over_a_set_of_expected_calls_in_any_order():
    scorer = make(
        type="tool_call",
        calls=[{"name": "search", "arguments": {"q": "hotels"}}, {"name": "book"}],
    )
    both = score(scorer, call("book", 1), call("search", 2, q="hotels"))
    assert (both.value, both.passed) == (1.0, True)
    half = score(scorer, call("search", 1, q="hotels"), call("weather", 2))
    assert half.value == pytest.approx(0.5) and half.passed is False  # P 1/2, R 1/2
    assert half.detail == "expected book, called search, weather"
    extra = score(scorer, call("search", 1, q="hotels"), call("book", 2), call("pay", 3))
    assert extra.value == pytest.approx(0.8) and extra.passed is True  # extras allowed...
    only = make(type="tool_call", calls=[{"name": "search"}, {"name": "book"}], only=True)
    refused = score(only, call("search", 1), call("book", 2), call("pay", 3))
    assert refused.passed is False and refused.detail == "other calls: pay({})"  # ...unless only


def test_ordered_calls_must_come_in_order():
    scorer = make(type="tool_call", calls=[{"name": "search"}, {"name": "book"}], ordered=True)
    assert score(scorer, call("search", 1), call("book", 2)).passed is True
    backwards = score(scorer, call("book", 1), call("search", 2))
    assert backwards.passed is False and backwards.value == pytest.approx(0.5)
    loose = make(type="tool_call", calls=[{"name": "search"}, {"name": "book"}])
    assert score(loose, call("book", 1), call("search", 2)).passed is True


def test_matching_is_one_to_one_and_maximal():
    # greedy would give the loose expectation the only Paris call and leave the strict one
    # without; the largest matching pairs both
    checks = [
        lambda c: None if c.name == "w" else "no",
        lambda c: None if c.arguments.get("city") == "Paris" else "no",
    ]
    made = [call("w", 1, city="Paris"), call("w", 2, city="Rome")]
    assert match_calls(checks, made, ordered=False) == [(0, 1), (1, 0)]
    assert match_calls(checks, made, ordered=True) == [(0, 0)]


def test_threshold_decides_on_f1():
    scorer = make(type="tool_call", calls=[{"name": "a"}, {"name": "b"}], threshold=0.6)
    assert score(scorer, call("a")).passed is True  # F1 2/3
    assert score(scorer, call("c")).passed is False


def test_schema_inline_declared_and_from_a_file(tmp_path):
    inline = make(
        tmp_path,
        type="tool_call",
        name="get_weather",
        schema={"type": "object", "required": ["city"], "properties": {"days": {"maximum": 7}}},
    )
    assert score(inline, call("get_weather", city="Oslo")).passed is True
    bad = score(inline, call("get_weather", city="Oslo", days=9))
    assert (
        bad.passed is False
        and bad.detail == "get_weather: arguments $.days: 9 is greater than the maximum of 7"
    )
    declared = make(type="tool_call", name="get_weather", schema="declared")
    params = {"tools": WEATHER_TOOLS}
    assert score(declared, call("get_weather", city="Oslo"), params=params).passed is True
    missing = score(declared, call("get_weather", days=2), params=params)
    assert missing.detail == "get_weather: arguments $: 'city' is a required property"
    (tmp_path / "weather.json").write_text('{"type": "object", "required": ["city"]}')
    from_file = make(tmp_path, type="tool_call", name="get_weather", schema="weather.json")
    assert score(from_file, call("get_weather")).passed is False
    assert from_file.signature()["schema_hash"]


def test_a_python_function_checks_arguments(tmp_path):
    (tmp_path / "argcheck.py").write_text(
        "def sensible(arguments, case):\n"
        "    days = arguments.get('days', 1)\n"
        "    return (1.0, days <= 7, f'{days} days')\n"
    )
    scorer = make(tmp_path, type="tool_call", name="get_weather", function="argcheck:sensible")
    assert score(scorer, call("get_weather", days=3)).passed is True
    no = score(scorer, call("get_weather", days=30))
    assert no.passed is False
    assert no.detail == "get_weather: argcheck:sensible did not accept the arguments: 30 days"
    assert "argcheck:sensible" in scorer.signature()["functions"]


def test_scorer_options_are_checked():
    with pytest.raises(InputError, match="give the expected call's `name`, or a list of `calls`"):
        make(type="tool_call")
    with pytest.raises(InputError, match="with `calls`, give arguments"):
        make(type="tool_call", calls=[{"name": "a"}], arguments={"x": 1})
    with pytest.raises(InputError, match="turns count from 1"):
        make(type="contains", value="x", turn=0)


def test_name_is_the_tool_and_label_the_scorer():
    scorer = make(type="tool_call", name="get_weather", label="weather-call")
    assert scorer.name == "weather-call"
    assert scorer.signature()["options"]["name"] == "get_weather"
    assert "label" not in scorer.signature()["options"]


def test_no_tool_call():
    anything = make(type="no_tool_call")
    assert score(anything).value == 1.0
    called = score(anything, call("get_weather", city="Oslo"))
    assert called.value == 0.0 and called.detail == 'called get_weather({"city": "Oslo"})'
    only_delete = make(type="no_tool_call", names=["delete_account"])
    assert score(only_delete, call("get_weather")).value == 1.0
    assert score(only_delete, call("delete_account")).value == 0.0


def test_turn_default_keeps_older_signatures():
    plain = make(type="contains", value="x")
    assert "turn" not in plain.signature()["options"]
    assert make(type="contains", value="x", turn=2).signature()["options"]["turn"] == 2


def conversation_result(replies: list[tuple[str, list[ToolCall]]], **extra: Any):
    steps = [
        {
            "turn": n,
            "step": n,
            "output": text,
            "tool_calls": [c.as_dict() for c in calls],
        }
        for n, (text, calls) in enumerate(replies, start=1)
    ]
    return result(replies[-1][0], transcript=steps, **extra)


def batch(scorers: list[Scorer], *results: Any) -> dict[str, Any]:
    cases = [case(id="c1")]
    scored = asyncio.run(BatchScorer(scorers, cases, "run").score(list(results)))
    return {s.scorer: s for s in scored}


def test_turn_picks_the_reply_scored():
    two = conversation_result([("Hello, how can I help?", []), ("Your order ships today.", [])])
    scores = batch(
        [
            make(type="contains", value="ships"),
            make(type="contains", value="help", turn=1, name="first"),
            make(type="contains", value="help", turn=-1, name="from-end"),
            make(type="contains", value="o", turn="all", name="every"),
            make(type="contains", value="help", turn="all", name="every-help"),
            make(type="contains", value="x", turn=3, name="third"),
        ],
        two,
    )
    assert scores["contains"].passed is True  # the last turn by default
    assert scores["first"].passed is True
    assert scores["from-end"].passed is False
    assert (scores["every"].value, scores["every"].passed) == (1.0, True)
    assert (scores["every-help"].value, scores["every-help"].passed) == (0.5, False)
    assert scores["every-help"].detail == "turn 2: missing 'help'"
    third = scores["third"]
    assert (third.value, third.passed) == (None, None)
    assert third.detail == "the conversation has no turn 3 (it ended at turn 2)"
    assert two.passed is False  # every-help failed


def test_tool_calls_of_the_turn_scored():
    replies = [("", [call("lookup_order", order="A-17")]), ("It ships today.", [])]
    steps = [
        {"turn": 1, "step": 1, "output": "", "tool_calls": [replies[0][1][0].as_dict()]},
        {"turn": 1, "step": 2, "output": "Let me check.", "tool_calls": []},
        {"turn": 2, "step": 3, "output": "It ships today.", "tool_calls": []},
    ]
    res = result("It ships today.", transcript=steps)
    scores = batch(
        [
            make(type="tool_call", name="lookup_order", turn=1, label="looked-up"),
            make(type="no_tool_call", label="quiet-after"),
        ],
        res,
    )
    assert scores["looked-up"].passed is True
    assert scores["quiet-after"].passed is True
