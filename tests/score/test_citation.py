"""citation: cited ids exist in the case's context; quoted spans are in the passage cited."""

from __future__ import annotations

import pytest

from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite
from evalkit.records import Case, Passage, Passages
from evalkit.score.citation import find_citations, find_quotes
from scoring import make_scorer, score

CASE = Case(
    id="bridge",
    hash="h",
    vars={},
    context=Passages(
        [
            Passage("1", "The Harbour Bridge opened in 1932 after eight years of construction."),
            Passage("doc-2", "It carries rail, vehicle and “pedestrian” traffic."),
        ]
    ),
)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("It opened in 1932 [1].", [("1",)]),
        ("Both [1, doc-2] and [doc-2; 1].", [("1", "doc-2"), ("doc-2", "1")]),
        ("A footnote[^doc-2] and [1][doc-2].", [("doc-2",), ("1",), ("doc-2",)]),
        ("A [link](https://x.org) and [citation needed].", []),
    ],
)
def test_citation_syntax(text, ids):
    assert [c.ids for c in find_citations(text)] == ids


def test_quote_marks():
    text = 'He said "one two three", “four five six”, «sept huit neuf» and „zehn elf zwölf“.'
    assert [q.text for q in find_quotes(text, 3)] == [
        "one two three",
        "four five six",
        "sept huit neuf",
        "zehn elf zwölf",
    ]
    assert find_quotes('a "short" word', 3) == []


@pytest.mark.parametrize(
    ("output", "passed", "detail"),
    [
        ("It opened in 1932 [1].", True, None),
        ('It "opened in 1932 after eight years" [1].', True, None),
        ("[1] says «opened in 1932 after eight years».", True, None),
        ("It carries \"rail, vehicle and 'pedestrian' traffic\" [doc-2].", True, None),
        ('It "opened in 1932 … of construction" [1].', True, None),
        (
            'It "opened in 1932 after nine years" [1].',
            False,
            "quote 'opened in 1932 after nine years' is not in cited passage 1",
        ),
        (
            'It "carries rail, vehicle" [1].',
            False,
            "quote 'carries rail, vehicle' is not in cited passage 1",
        ),
        (
            "It opened in 1932 [doc-9].",
            False,
            "cites unknown passage 'doc-9' (the context has 1, doc-2)",
        ),
        ("It opened in 1932.", False, "0 citations, at least 1 required"),
        (
            'It opened [1]. They say "opened in 1851 for sure".',
            False,
            "quote 'opened in 1851 for sure' is in no passage of the context",
        ),
    ],
)
def test_citations_and_quotes(output, passed, detail):
    outcome, ok = score(make_scorer(type="citation"), output, CASE)
    assert ok is passed and outcome.value == (1.0 if passed else 0.0)
    assert outcome.detail == detail


def test_options():
    loose = make_scorer(type="citation", min_citations=0, unattributed="ignore")
    assert score(loose, 'No citation and "a made up quote here".', CASE)[1] is True
    strict = make_scorer(type="citation", unattributed="fail")
    outcome, ok = score(strict, 'It opened [1]. And "opened in 1932 after eight".', CASE)
    assert ok is False and outcome.detail == "quote 'opened in 1932 after eight' cites no passage"
    custom = make_scorer(type="citation", pattern=r"\(source: (\w[\w-]*)\)")
    assert score(custom, "Opened in 1932 (source: doc-2).", CASE)[1] is True
    assert score(custom, "Opened in 1932 [1].", CASE)[1] is False


def test_citation_needs_context_on_every_case(write, tmp_path):
    write("prompts/qa/v1.yaml", 'messages: [{role: user, content: "{{ q }}"}]\n')
    path = write(
        "suites/s.yaml",
        "prompt: qa@v1\ncases:\n  - {id: a, vars: {q: x}, context: [A.]}\n"
        "  - {id: b, vars: {q: y}}\nscorers:\n  - {type: citation}\n",
    )
    with pytest.raises(InputError) as info:
        load_suite(path, PromptLibrary([tmp_path / "prompts"]))
    assert info.value.line == 4
    assert "case 'b' has no `context:`" in info.value.message


def test_a_pattern_without_a_group_is_refused(write, tmp_path):
    write("prompts/qa/v1.yaml", 'messages: [{role: user, content: "{{ q }}"}]\n')
    path = write(
        "suites/s.yaml",
        "prompt: qa@v1\ncases:\n  - {id: a, vars: {q: x}, context: [A.]}\n"
        'scorers:\n  - {type: citation, pattern: "\\\\[\\\\d+\\\\]"}\n',
    )
    with pytest.raises(InputError) as info:
        load_suite(path, PromptLibrary([tmp_path / "prompts"]))
    assert "pattern needs a group" in info.value.message and info.value.line == 5
