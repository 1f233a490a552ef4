"""A case's `context:` (retrieved passages): spellings, ids, errors at their line, the case
hash, and what prompt templates see."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary, render_messages
from evalkit.load.suites import load_suite
from evalkit.run.plan import make_plan

PROMPT = 'messages: [{role: user, content: "{{ context }}\\nQ: {{ q }}\\nA:"}]\n'


@pytest.fixture
def library(tmp_path: Path, write) -> PromptLibrary:
    write("prompts/rag/v1.yaml", PROMPT)
    write(
        "prompts/rag/v2.yaml",
        "messages:\n  - role: user\n    content: |-\n"
        "      {% for p in context %}<doc {{ p.id }}>{{ p.text }}"
        "{% if p.metadata.title %} ({{ p.metadata.title }}){% endif %}\n"
        "      {% endfor %}Q: {{ q }}\n",
    )
    return PromptLibrary([tmp_path / "prompts"])


def _suite(write, library, cases: str, prompt: str = "rag@v1"):
    path = write("suites/s.yaml", f"prompt: {prompt}\ncases:\n{cases}")
    return load_suite(path, library)


def test_strings_get_their_position_as_id_and_objects_keep_theirs(write, library):
    suite = _suite(
        write,
        library,
        """\
  - id: a
    vars: {q: "When?"}
    context: ["The bridge opened in 1932.", "It is 1,149 m long."]
  - id: b
    vars: {q: "Who?"}
    context:
      - {id: doc-7, text: "Ada wrote it.", metadata: {title: Notes}}
      - {text: "Second passage."}
  - {id: c, vars: {q: "Where?"}, context: "One passage."}
  - {id: d, vars: {q: "Nothing?"}, context: []}
""",
    )
    a, b, c, d = suite.cases
    assert [(p.id, p.text) for p in a.context] == [
        ("1", "The bridge opened in 1932."),
        ("2", "It is 1,149 m long."),
    ]
    assert [p.id for p in b.context] == ["doc-7", "2"]
    assert b.context[0].metadata == {"title": "Notes"}
    assert [p.id for p in c.context] == ["1"]
    assert d.context == () and d.context is not None
    assert str(a.context) == "[1] The bridge opened in 1932.\n[2] It is 1,149 m long."


def test_templates_see_context_as_text_or_as_passages(write, library):
    suite = _suite(
        write,
        library,
        '  - {id: b, vars: {q: "Who?"}, context: [{id: doc-7, text: "Ada wrote it.", '
        "metadata: {title: Notes}}]}\n",
        prompt="[rag@v1, rag@v2]",
    )
    (case,) = suite.cases
    v1, v2 = suite.prompts
    assert render_messages(v1, case.template_vars)[0].content == (
        "[doc-7] Ada wrote it.\nQ: Who?\nA:"
    )
    assert render_messages(v2, case.template_vars)[0].content == (
        "<doc doc-7>Ada wrote it. (Notes)\nQ: Who?"
    )
    assert "context" not in case.vars  # the vars stay the user's own


def test_context_is_part_of_the_case_hash(write, library):
    one = _suite(write, library, '  - {id: a, vars: {q: x}, context: ["A."]}\n').cases[0]
    two = _suite(write, library, '  - {id: a, vars: {q: x}, context: ["B."]}\n').cases[0]
    plain = load_suite(
        write("suites/p.yaml", "prompt: rag@v1\ncases: [{id: a, vars: {q: x, context: A.}}]\n"),
        library,
    ).cases[0]
    assert one.hash != two.hash
    # a case without `context:` hashes as before (vars and reference only)
    from evalkit.records import content_hash

    assert plain.hash == content_hash({"vars": {"q": "x", "context": "A."}, "reference": None})


@pytest.mark.parametrize(
    ("cases", "line", "message"),
    [
        ('  - {id: a, vars: {q: x}, context: [""]}\n', 3, "context passage 1 has no text"),
        (
            '  - {id: a, vars: {q: x}, context: ["A.", {id: "bad id", text: B.}]}\n',
            3,
            "context passage id 'bad id' is not a valid id",
        ),
        (
            "  - id: a\n    vars: {q: x}\n    context:\n      - {id: p, text: A.}\n"
            "      - {id: p, text: B.}\n",
            7,
            "context passages 1 and 2 share the id 'p'",
        ),
        (
            "  - id: a\n    vars: {q: x}\n    context:\n      - {id: p, txt: A.}\n",
            6,
            "context passage 1: unknown key 'txt'",
        ),
        ("  - {id: a, vars: {q: x}, context: 7}\n", 3, "`context` must be a list of passages"),
        (
            "  - id: a\n    vars: {q: x, context: y}\n    context: [A.]\n",
            4,
            "the case has both `context:` and a var named `context`",
        ),
    ],
)
def test_bad_context_is_an_error_at_its_line(write, library, cases, line, message):
    with pytest.raises(InputError) as info:
        _suite(write, library, cases)
    assert info.value.path.endswith("suites/s.yaml") and info.value.line == line
    assert str(info.value.message).endswith(f"s.yaml:{line}: {message}")


def test_a_prompt_using_context_needs_every_case_to_have_one(write, library):
    suite = _suite(
        write, library, '  - {id: a, vars: {q: x}, context: ["A."]}\n  - {id: b, vars: {q: y}}\n'
    )
    with pytest.raises(InputError) as info:
        make_plan(suite, "r", providers=["p"])
    assert info.value.message.endswith("case 'b' has no var 'context', which rag@v1 uses")
    assert info.value.fix.startswith("give the case its passages in `context:`")


def test_jsonl_and_csv_cases_carry_context(write, library):
    write(
        "suites/cases.jsonl",
        '{"id": "j", "vars": {"q": "x"}, "context": [{"id": "d1", "text": "A."}]}\n',
    )
    write(
        "suites/cases.csv",
        'id,q,context\nc1,x,"[""A."", ""B.""]"\nc2,y,Just one passage.\nc3,z,\n',
    )
    (j,) = load_suite(write("suites/j.yaml", "prompt: rag@v1\ncases: cases.jsonl\n"), library).cases
    assert [p.id for p in j.context] == ["d1"]
    c1, c2, c3 = load_suite(
        write("suites/c.yaml", "prompt: rag@v2\ncases: cases.csv\n"), library
    ).cases
    assert [p.text for p in c1.context] == ["A.", "B."] and "context" not in c1.vars
    assert [p.text for p in c2.context] == ["Just one passage."]
    assert c3.context is None
    write("suites/bad.csv", 'id,q,context\nc1,x,"[oops"\n')
    with pytest.raises(InputError) as info:
        load_suite(write("suites/b.yaml", "prompt: rag@v2\ncases: bad.csv\n"), library)
    assert info.value.line == 2 and "is not a JSON list" in info.value.message
