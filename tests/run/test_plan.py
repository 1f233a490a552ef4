from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite
from evalkit.run.plan import make_plan, parse_shard


@pytest.fixture
def suite(tmp_path: Path, write):
    write("prompts/p/v1.yaml", 'messages: [{role: user, content: "{{ q }}"}]\n')
    write("prompts/p/v2.yaml", 'messages: [{role: user, content: "Q: {{ q }}"}]\n')
    write("prompts/other/v1.yaml", 'messages: [{role: user, content: "{{ missing }}"}]\n')
    cases = "\n".join(f'{{"id": "c{i}", "vars": {{"q": "{i}"}}}}' for i in range(10))
    write("suites/s.jsonl", cases + "\n")
    path = write("suites/s.yaml", "prompt: [p@v1, p@v2]\ncases: s.jsonl\nrepeat: 2\n")
    return load_suite(path, PromptLibrary([tmp_path / "prompts"]))


def test_plan_is_the_cross_product_with_unique_deterministic_ids(suite):
    plan = make_plan(suite, "run1", providers=["a", "b"])
    assert plan.size == 10 * 2 * 2 * 2
    assert len({i.result_id for i in plan.items}) == plan.size
    again = make_plan(suite, "run1", providers=["a", "b"])
    assert [i.result_id for i in plan.items] == [i.result_id for i in again.items]
    other = make_plan(suite, "run2", providers=["a", "b"])
    assert not {i.result_id for i in plan.items} & {i.result_id for i in other.items}
    # whole cases first: the first 4 items are case c0, repeat 0, every prompt × provider
    assert {(i.case.id, i.repeat) for i in plan.items[:4]} == {("c0", 0)}


def test_overrides_limit_and_repeat(suite):
    plan = make_plan(suite, "r", providers=["a"], prompts=[suite.prompts[1]], repeat=3, limit=4)
    assert plan.size == 4 * 3 and {i.prompt.ref for i in plan.items} == {"p@v2"}
    assert [c.id for c in plan.cases] == ["c0", "c1", "c2", "c3"]


def test_shards_partition_the_cases(suite):
    seen: list[str] = []
    for i in (1, 2, 3):
        seen += [
            c.id for c in make_plan(suite, "r", providers=["a"], shard=parse_shard(f"{i}/3")).cases
        ]
    assert sorted(seen) == sorted(c.id for c in suite.cases)


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "1"])
def test_bad_shard(text):
    with pytest.raises(InputError):
        parse_shard(text)


def test_missing_variable_names_case_file_and_line(suite, tmp_path: Path):
    other = PromptLibrary([tmp_path / "prompts"]).get("other@v1")
    with pytest.raises(InputError) as info:
        make_plan(suite, "r", providers=["a"], prompts=[other])
    err = info.value
    assert err.path.endswith("s.jsonl") and err.line == 1
    assert "case 'c0' has no var 'missing', which other@v1 uses" in err.message
