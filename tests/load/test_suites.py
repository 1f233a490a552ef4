from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite

PROMPT = 'messages: [{role: user, content: "Q: {{ country }}\\nA:"}]\n'


@pytest.fixture
def library(tmp_path: Path, write) -> PromptLibrary:
    write("prompts/cap/v1.yaml", PROMPT)
    write("prompts/cap/v2.yaml", PROMPT.replace("Q:", "Question:"))
    return PromptLibrary([tmp_path / "prompts"])


def test_inline_suite(write, library):
    path = write(
        "suites/s.yaml",
        """
        name: caps
        prompt: [cap@v1, cap@latest]
        cases:
          - {id: fr, vars: {country: France}, reference: Paris, tags: [eu]}
          - vars: {country: Japan}
            reference: [Tokyo, Tōkyō]
        repeat: 2
        scorers:
          - {type: contains, value: "{{ country }}"}
          - {type: bleu, threshold: 20}
          - {type: contains, values: [a, b], match: all, name: ab}
          - {type: contains, value: x}
        gates: {pass_rate: 0.5, latency_p95_ms: 3000}
    """,
    )
    suite = load_suite(path, library)
    assert suite.name == "caps" and suite.repeat == 2
    assert [p.ref for p in suite.prompts] == ["cap@v1", "cap@v2"]
    fr, jp = suite.cases
    assert fr.id == "fr" and fr.tags == ("eu",) and fr.line == 4
    assert jp.id.startswith("case-") and jp.references == ["Tokyo", "Tōkyō"] and jp.line == 5
    assert [s.name for s in suite.scorers] == ["contains", "bleu", "ab", "contains-3"]
    assert suite.gates.pass_rate == 0.5 and suite.gates.latency_p95_ms == 3000


def test_derived_case_id_is_stable_and_hash_tracks_content(write, library):
    body = "prompt: cap@v1\ncases: [{vars: {country: %s}}]\n"
    a = load_suite(write("suites/a.yaml", body % "France"), library).cases[0]
    b = load_suite(write("suites/b.yaml", body % "France"), library).cases[0]
    c = load_suite(write("suites/c.yaml", body % "Spain"), library).cases[0]
    assert a.id == b.id and a.hash == b.hash
    assert c.id != a.id and c.hash != a.hash


def test_jsonl_cases_with_lines(write, library):
    write(
        "suites/caps.jsonl",
        """
        {"id": "fr", "vars": {"country": "France"}, "reference": "Paris"}

        {"id": "es", "vars": {"country": "Spain"}, "reference": "Madrid"}
    """,
    )
    suite = load_suite(write("suites/caps.yaml", "prompt: cap@v1\ncases: caps.jsonl\n"), library)
    assert [(c.id, c.line) for c in suite.cases] == [("fr", 1), ("es", 3)]
    assert suite.cases[0].source.endswith("caps.jsonl")
    assert suite.name == "caps"  # from the file name


def test_csv_cases(write, library):
    write(
        "suites/caps.csv",
        """
        id,country,reference,tags,metadata.region
        fr,France,Paris,eu;west,europe
        "jp","Japan","Tokyo",,asia
    """,
    )
    suite = load_suite(write("suites/caps.yaml", "prompt: cap@v1\ncases: caps.csv\n"), library)
    fr, jp = suite.cases
    assert fr.vars == {"country": "France"} and fr.reference == "Paris"
    assert fr.tags == ("eu", "west") and fr.metadata == {"region": "europe"}
    assert (fr.line, jp.line) == (2, 3) and jp.tags == ()


BAD = [
    # (suite text, extra files, where (file suffix, line), message fragment)
    (
        "prompt: cap@v1\ncases: [{vars: {country: x}}]\nscorers:\n"
        "  - {type: bleu, threshold: high}\n",
        {},
        ("s.yaml", 4),
        "scorer 'bleu': threshold must be a number, got 'high'",
    ),
    (
        "prompt: cap@v1\ncases: [{vars: {country: x}}]\nscorers:\n  - {type: blue}\n",
        {},
        ("s.yaml", 4),
        "unknown scorer type 'blue'",
    ),
    (
        "prompt: cap@v1\ncases: [{vars: {country: x}}]\nscorers:\n  - {type: contains, vlue: a}\n",
        {},
        ("s.yaml", 4),
        "unknown key 'vlue'",
    ),
    ("prompt: cap@v9\ncases: [{vars: {country: x}}]\n", {}, ("s.yaml", 1), "cap@v9"),
    ("prompt: [cap@v1, nope@v1]\ncases: [{vars: {country: x}}]\n", {}, ("s.yaml", 1), "nope"),
    (
        "prompt: cap@v1\ncases:\n  - {vars: {country: x}}\n  - {vars: {country: y}, colour: 1}\n",
        {},
        ("s.yaml", 4),
        "unknown key 'colour'",
    ),
    (
        "prompt: cap@v1\ncases: c.jsonl\n",
        {"c.jsonl": '{"vars": {"country": "x"}}\n{"vars": }\n'},
        ("c.jsonl", 2),
        "invalid JSON",
    ),
    (
        "prompt: cap@v1\ncases: c.jsonl\n",
        {
            "c.jsonl": '{"id": "a", "vars": {"country": "x"}}\n'
            '{"id": "a", "vars": {"country": "y"}}\n'
        },
        ("c.jsonl", 2),
        "duplicate case id 'a'",
    ),
    ("prompt: cap@v1\ncases: missing.jsonl\n", {}, ("s.yaml", 2), "not found"),
    (
        "prompt: cap@v1\ncases: [{vars: {country: x}}]\nscorers: [{type: bleu}]\n",
        {},
        ("s.yaml", 2),
        "needs a `reference`",
    ),
    (
        "prompt: cap@v1\ncases: [{id: a, vars: {country: x}}]\n"
        "scorers: [{type: contains, value: '{{ capital }}'}]\n",
        {},
        ("s.yaml", 2),
        "has no var 'capital'",
    ),
    ("prompt: cap@v1\ncases: [{vars: {country: x}}]\nrepeat: 0\n", {}, ("s.yaml", 3), "repeat"),
    (
        "prompt: cap@v1\ncases: [{vars: {country: x}}]\ngates: {pass_rate: 1.5}\n",
        {},
        ("s.yaml", 3),
        "pass_rate",
    ),
    (
        "prompt: cap@v1\ncases: [{vars: {country: x}}]\ngates: {passrate: 0.5}\n",
        {},
        ("s.yaml", 3),
        "unknown key 'passrate'",
    ),
    ("prompt: cap@v1\ncases: []\n", {}, ("s.yaml", 2), "no cases"),
    ("cases: [{vars: {country: x}}]\n", {}, ("s.yaml", 1), "missing required key 'prompt'"),
    (
        "prompt: cap@v1\ncases: [{vars: {country: x}}]\nscorers:\n"
        "  - {type: regex, pattern: '[a-'}\n",
        {},
        ("s.yaml", 4),
        "not a valid regular expression",
    ),
]


@pytest.mark.parametrize(("text", "files", "where", "fragment"), BAD)
def test_bad_suites_name_file_line_and_fix(write, library, text, files, where, fragment):
    for name, content in files.items():
        write(f"suites/{name}", content)
    path = write("suites/s.yaml", text)
    with pytest.raises(InputError) as info:
        load_suite(path, library)
    err = info.value
    assert fragment in err.message, err.render()
    assert err.path is not None and err.path.endswith(where[0]), err.render()
    assert err.line == where[1], err.render()
    assert err.fix, err.render()
    assert err.exit_code == 2


def test_unknown_provider_id(write, library):
    path = write(
        "suites/s.yaml", "prompt: cap@v1\nproviders: [gtp]\ncases: [{vars: {country: x}}]\n"
    )
    with pytest.raises(InputError) as info:
        load_suite(path, library, provider_ids=["gpt", "local"])
    assert info.value.line == 2 and "gtp" in info.value.message
    assert "gpt, local" in (info.value.fix or "")


def test_jsonl_with_a_byte_order_mark_loads(write, library, tmp_path):
    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "suites/c.jsonl").write_bytes(
        b'\xef\xbb\xbf{"id": "fr", "vars": {"country": "France"}}\n'
    )
    suite = load_suite(write("suites/s.yaml", "prompt: cap@v1\ncases: c.jsonl\n"), library)
    assert [c.id for c in suite.cases] == ["fr"]
