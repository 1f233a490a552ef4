"""judge: prompts, signatures, the self-judge rule and invalid verdicts (no model calls here
except through the loopback fake; the real local model is in test_judge_model.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

from evalkit.config import Project
from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite
from evalkit.providers.pool import ProviderPool
from fakeserver import FakeServer
from judging import build, judge_outputs, judge_project
from scoring import case

RUBRIC = '{type: judge, provider: judge, rubric: "Names {{ capital }}."}'
CASES = '  - {id: italy, vars: {question: "Capital of Italy?", capital: Rome}, reference: Rome}\n'


def _scorer(root, under_test=("sut",)):
    async def go():
        async with ProviderPool(Project.discover(root)) as pool:
            return build(root, pool, under_test)

    return asyncio.run(go())


def test_default_prompt_ships_in_the_package_and_signs_the_score(tmp_path):
    judge_project(tmp_path, "http://127.0.0.1:9", RUBRIC, cases=CASES)
    (scorer,) = _scorer(tmp_path)
    sig = scorer.signature()
    assert sig["judge_prompt"]["ref"] == "judge-rubric@v1"
    assert sig["judge_prompt"]["from"] == "package" and len(sig["judge_prompt"]["hash"]) == 16
    assert sig["judge"]["provider"] == "judge"
    assert sig["judge"]["identity"]["model"] == "gemma-judge"
    assert sig["judge"]["params"]["temperature"] == 0 and sig["judge"]["params"]["seed"] == 0
    assert sig["options"]["rubric"] == "Names {{ capital }}."
    json.dumps(sig)


def test_suite_may_name_its_own_judge_prompt(tmp_path):
    mine = """
        messages: [{role: user, content: "Rate {{ output }} by {{ rubric }}:"}]
        params: {max_tokens: 40}
    """
    judge_project(
        tmp_path,
        "http://127.0.0.1:9",
        '{type: judge, provider: judge, rubric: "x", prompt: strict@v1}',
        cases=CASES,
        extra_prompts={"strict/v1.yaml": mine},
    )
    (scorer,) = _scorer(tmp_path)
    info = scorer.signature()["judge_prompt"]
    assert info["ref"] == "strict@v1" and info["from"] == "project"
    default = judge_project(
        tmp_path / "b",
        "http://127.0.0.1:9",
        '{type: judge, provider: judge, rubric: "x"}',
        cases=CASES,
    )
    assert _scorer(default)[0].signature_hash() != scorer.signature_hash()


@pytest.mark.parametrize(
    ("scorer_line", "message"),
    [
        (
            '{type: judge, provider: judge, rubric: "x", prompt: nope@v1}',
            "suites/qa.yaml:7: prompt 'nope' not found",
        ),
        (
            '{type: judge, provider: judge, rubric: "x", prompt: qa@v1}',
            "suites/qa.yaml:7: judge prompt qa@v1 never shows {{ output }} to the judge",
        ),
        (
            "{type: judge, provider: judge}",
            "suites/qa.yaml:7: scorer 'judge': rubric mode needs `rubric:`",
        ),
        (
            '{type: judge, rubric: "x", scale: [5, 1]}',
            "suites/qa.yaml:7: scorer 'judge': scale must be [lowest, highest]",
        ),
        (
            "{type: judge, mode: pairwise, against: qa@v9}",
            "suites/qa.yaml:7: prompt version 'qa@v9' not found",
        ),
    ],
)
def test_judge_errors_point_at_the_suite(tmp_path, in_tmp, scorer_line, message):
    judge_project(tmp_path, "http://127.0.0.1:9", scorer_line, cases=CASES)
    with pytest.raises(InputError) as info:
        load_suite(tmp_path / "suites/qa.yaml", PromptLibrary([tmp_path / "prompts"]))
    assert info.value.message.startswith(message)


def test_reference_mode_needs_references(tmp_path, in_tmp):
    judge_project(
        tmp_path,
        "http://127.0.0.1:9",
        "{type: judge, mode: reference}",
        cases='  - {id: noref, vars: {question: "?"}}\n',
    )
    with pytest.raises(
        InputError,
        match="judge mode 'reference' compares with the reference, "
        "and case 'noref' has no `reference`",
    ):
        load_suite(tmp_path / "suites/qa.yaml", PromptLibrary([tmp_path / "prompts"]))


@pytest.mark.parametrize(
    ("scorer_line", "defaults", "refused"),
    [
        ('{type: judge, provider: sut, rubric: "x"}', "", "is the provider under test 'sut'"),
        ('{type: judge, rubric: "x"}', ", judge: sut", "is the provider under test 'sut'"),
        ('{type: judge, provider: twin, rubric: "x"}', "", "has the same model as the provider"),
        ('{type: judge, provider: sut, rubric: "x", allow_self_judge: true}', "", None),
        ('{type: judge, provider: judge, rubric: "x"}', "", None),
    ],
)
def test_the_judge_is_never_silently_the_provider_under_test(
    tmp_path, scorer_line, defaults, refused
):
    judge_project(tmp_path, "http://127.0.0.1:9", scorer_line, cases=CASES, defaults=defaults)
    config = tmp_path / "evalkit.yaml"
    # `twin`: another id for exactly the model under test
    config.write_text(
        config.read_text().replace(
            "  judge:",
            '  twin: {type: openai, base_url: "http://127.0.0.1:9/v1", model: gemma-sut, '
            "mode: completion,\n        stream: false}\n  judge:",
        )
    )

    async def go():
        async with ProviderPool(Project.discover(tmp_path)) as pool:
            (scorer,) = build(tmp_path, pool)
            await scorer.start()
            return scorer

    if refused:
        with pytest.raises(InputError) as info:
            asyncio.run(go())
        assert refused in info.value.message
        assert "allow_self_judge: true" in info.value.fix
    else:
        assert asyncio.run(go()).provider is not None


def test_a_judge_fed_garbage_returns_invalid_never_pass_or_fail(tmp_path):
    garbage = "Honestly this looks great to me!! 10/10"
    with FakeServer(rules=[("Verdict", garbage)]) as server:
        judge_project(
            tmp_path,
            server.base_url,
            """
            - {type: judge, provider: judge, rubric: "Names Rome.", threshold: 0.5}
            - {type: judge, provider: judge, mode: pairwise, threshold: 0.5}
            - {type: judge, provider: judge, mode: reference, structured: none}
        """,
            cases=CASES,
        )
        the_case = case({"question": "Capital of Italy?", "capital": "Rome"}, "Rome", "italy")
        for index in range(3):
            ((outcome, detail),) = judge_outputs(tmp_path, [("Rome", the_case)], index)
            assert outcome.value is None and outcome.passed is None
            assert detail["verdict"] == "invalid" and detail["judge"] == "judge"
            raws = [detail["raw"]] if "raw" in detail else [o["raw"] for o in detail["orders"]]
            assert garbage in raws
        requests = server.log.bodies("completions")
    assert len(requests) == 4  # rubric, reference, and pairwise asked in both orders
    assert all(r["temperature"] == 0 and r["seed"] == 0 for r in requests)
    assert all("Rome" in r["prompt"] for r in requests)


def test_judge_call_failure_is_undecided(tmp_path):
    with FakeServer(faults={"400": 1.0}) as server:
        judge_project(tmp_path, server.base_url, RUBRIC, cases=CASES)
        the_case = case({"question": "?", "capital": "Rome"}, "Rome", "italy")
        ((outcome, detail),) = judge_outputs(tmp_path, [("Rome", the_case)])
    assert outcome.value is None and detail["verdict"] == "invalid"
    assert detail["error"].startswith("judge call failed (bad_request)")


def test_a_run_whose_verdicts_are_all_invalid_completes_with_exit_0(in_tmp):
    from typer.testing import CliRunner

    from evalkit.cli.main import app
    from projects import RULES, write_project

    with FakeServer(rules=[("Verdict", "I refuse to grade."), *RULES]) as server:
        write_project(in_tmp, server.base_url)
        suite = in_tmp / "suites/capitals.yaml"
        suite.write_text(
            suite.read_text()
            .replace(
                "  - {type: chrf}",
                "  - {type: judge, provider: fake, allow_self_judge: true, mode: reference, "
                "threshold: 0.5}",
            )
            .replace("  - {type: equals}\n", "")
            .replace('  - {type: contains, value: "{{ capital }}", name: has-capital}\n', "")
        )
        result = CliRunner().invoke(app, ["run", "--prompt", "capitals@v2", "--json"])
        shown = CliRunner().invoke(app, ["runs", "show", "last"])
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.stdout)["runs"][0]["summary"]["groups"]
    assert (group["passed"], group["failed"], group["undecided"]) == (0, 0, 8)
    assert group["pass_rate"] is None
    judge = group["scores"]["judge"]
    assert judge["unscored"] == 8 and judge["undecided"] == 8 and judge["n"] == 0
    assert (
        "judge (capitals@v2 · fake): all 8 verdicts invalid: no judge decision in this run "
        "(undecided, never counted as pass or fail)" in shown.stdout
    )
    import duckdb

    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        rows = con.execute("SELECT value, passed, detail FROM scores").fetchall()
    assert len(rows) == 8 and all(v is None and p is None for v, p, _ in rows)
    detail = json.loads(rows[0][2])
    assert detail["verdict"] == "invalid" and detail["raw"] == "I refuse to grade."
    assert detail["self_judge"] is True


def test_judge_calls_are_cached_like_any_call(in_tmp):
    from typer.testing import CliRunner

    from evalkit.cli.main import app
    from projects import RULES, write_project

    verdict = '{"score": 4, "rationale": "names the capital"}'
    with FakeServer(rules=[("Verdict", verdict), *RULES]) as server:
        write_project(in_tmp, server.base_url)
        config = in_tmp / "evalkit.yaml"
        config.write_text(
            config.read_text().replace(
                "defaults:",
                f'  judge: {{type: openai, base_url: "{server.base_url}/v1", '
                "model: judge-model, mode: completion, stream: false}\ndefaults:",
            )
        )
        suite = in_tmp / "suites/capitals.yaml"
        suite.write_text(
            suite.read_text().replace(
                "  - {type: chrf}",
                "  - {type: judge, provider: judge, mode: reference, "
                "structured: none, threshold: 0.5}",
            )
        )
        runner = CliRunner()
        first = runner.invoke(app, ["run", "--prompt", "capitals@v2", "--json"])
        judged = len(server.log.bodies("completions"))
        server.reset_log()
        second = runner.invoke(app, ["run", "--prompt", "capitals@v2", "--json"])
        assert server.requests == [], "the answers and the verdicts all came from the cache"
        third = runner.invoke(app, ["run", "--prompt", "capitals@v2", "--no-cache"])
        assert len(server.log.bodies("completions")) == judged == 8
    assert first.exit_code == second.exit_code == third.exit_code == 0, first.output
    import duckdb

    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        details = [
            json.loads(d)
            for (d,) in con.execute(
                "SELECT detail FROM scores WHERE scorer = 'judge' ORDER BY run_id"
            ).fetchall()
        ]
        runs = [r for (r,) in con.execute("SELECT id FROM runs ORDER BY id").fetchall()]
        per_run = con.execute(
            "SELECT run_id, count(*), avg(value) FROM scores "
            "WHERE scorer = 'judge' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [n for _, n, _ in per_run] == [8, 8, 8] and len({v for _, _, v in per_run}) == 1
    assert sum(1 for d in details if d.get("cached")) == 8
    assert all(d["verdict"] == "valid" and d["rationale"] == "names the capital" for d in details)
    assert len(runs) == 3
