"""The example projects examples/conversations and examples/tools: as shipped, they load; on
the loopback fake server they run end to end, store every turn and call, show them, and
compare their two prompt versions; the conversation example also runs on the local model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.config import Project
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import discover_suites, load_suite
from evalkit.providers.pool import provider_specs
from fakeserver import FakeServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def copy_example(name: str, into: Path) -> dict[str, Any]:
    shutil.copytree(
        EXAMPLES / name, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".evalkit")
    )
    config: dict[str, Any] = yaml.safe_load((into / "evalkit.yaml").read_text())
    return config


@pytest.mark.parametrize("name", ["conversations", "tools"])
def test_the_examples_load_and_plan(name):
    project = Project.discover(EXAMPLES / name)
    library = PromptLibrary([project.prompts_dir])
    (path,) = discover_suites(project.suites_dir)
    suite = load_suite(path, library, provider_specs(project))
    assert len(suite.prompts) == 2 and suite.prompts[1].parent == "v1"
    assert len(suite.cases) >= 12


def test_the_tool_example_on_the_fake_server(in_tmp, monkeypatch):
    config = copy_example("tools", in_tmp)
    cases = [json.loads(line) for line in Path("suites/weather.jsonl").read_text().splitlines()]
    v2_system = "temperature the tool returned."
    tool_rules = []
    rules = [("unknown city", "Sorry, I do not know that city.")]
    for n, case in enumerate(cases):
        city, question, temp = case["vars"]["city"], case["vars"]["question"], case["vars"]["temp"]
        tool_rules.append(
            {
                "match": f"{v2_system}\n{question}",
                "calls": [{"name": "get_weather", "arguments": {"city": city}}],
            }
        )
        # v1: every third question gets the city in lower case (the tool does not know it)
        shown = city.lower() if n % 3 == 0 else city
        tool_rules.append(
            {"match": question, "calls": [{"name": "get_weather", "arguments": {"city": shown}}]}
        )
        rules.append((f'"temperature_c": "{temp}"', f"It is {temp} °C in {city}."))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with FakeServer(rules=rules, tool_rules=tool_rules) as server:
        config["providers"] = {
            "gpt": {"type": "openai", "base_url": server.openai_base_url, "model": "fake-model"},
            "claude": {"type": "anthropic", "base_url": server.base_url, "model": "fake-claude"},
        }
        Path("evalkit.yaml").write_text(yaml.safe_dump(config))
        result = invoke("run", "-p", "gpt", "-p", "claude", "--json")
        assert result.exit_code == 0, result.output
        (run,) = json.loads(result.stdout)["runs"]
        rates = {(g["prompt"], g["provider"]): g["pass_rate"] for g in run["summary"]["groups"]}
        assert rates[("weather@v2", "gpt")] == rates[("weather@v2", "claude")] == 1.0
        assert rates[("weather@v1", "gpt")] == pytest.approx(8 / 12)
        # every call and every request is stored
        ((calls, steps),) = rows(
            "SELECT sum(json_array_length(tool_calls)), sum(json_array_length(transcript)) "
            "FROM results"
        )
        assert (calls, steps) == (48, 96)
        paris = next(
            t for t in run["transcripts"] if t["case_id"] == "paris" and t["prompt"] == "weather@v1"
        )
        assert paris["failures"] == [
            "quotes-result: missing '18'",
            "tool_call: get_weather: city='paris', expected 'Paris'",
        ]
        assert json.loads(paris["steps"][1]["messages"][0]["content"]) == {"error": "unknown city"}
        shown = invoke("runs", "show", "last", "--case", "rome").output
        assert '→ get_weather({"city": "Rome"})' in shown
        assert "assistant: It is 24 °C in Rome." in shown
        compared = invoke("compare", "--prompt", "weather@v1", "--prompt", "weather@v2", "weather")
        assert compared.exit_code == 0, compared.output
        assert "4 cases went fail → pass" in compared.output


def _answer(route: str, body: Any, prompt: str) -> str | None:
    """A support agent for the conversation example: greets, and (when its instructions say
    so) repeats the order number of the customer's last turn."""
    last = prompt.rsplit("Customer: ", 1)[-1]
    order = re.search(r"\b[A-Z]-\d\d\b", last)
    if order is None:
        return " Hello! How can I help you today?"
    if "repeats the customer's order number" in prompt:
        return f" I am sorry about order {order.group(0)}. I will check where it is."
    return " I am sorry about that. I will check."


def test_the_conversation_example_on_the_fake_server(in_tmp):
    config = copy_example("conversations", in_tmp)
    with FakeServer(answer_fn=_answer) as server:
        gemma = config["providers"]["gemma"]
        gemma.update(type="openai", base_url=server.openai_base_url, model="fake-model")
        gemma["mode"] = "completion"
        Path("evalkit.yaml").write_text(yaml.safe_dump(config))
        result = invoke("run", "--json")
        assert result.exit_code == 0, result.output
        (run,) = json.loads(result.stdout)["runs"]
        prompts = [r.body["prompt"] for r in server.requests]
    groups = {g["prompt"]: g for g in run["summary"]["groups"]}
    assert groups["support@v1"]["scores"]["names-order"]["mean"] == 0.0
    assert groups["support@v2"]["scores"]["names-order"]["mean"] == 1.0
    assert groups["support@v2"]["scores"]["greets"]["mean"] == 1.0  # turn 1
    assert groups["support@v2"]["scores"]["brief"]["passed"] == 20  # every turn
    # the second request holds the first turn and its reply, speakers named by the template
    second = next(p for p in prompts if "A-17" in p and "v1" not in p and "Q-31" not in p)
    assert second.endswith(
        "Customer: Hi, I need help.\nAgent: Hello! How can I help you today?\n"
        "Customer: My order A-17 is late.\nAgent:"
    )
    assert rows("SELECT count(*), sum(json_array_length(transcript)) FROM results") == [(40, 80)]


@pytest.mark.server
def test_the_conversation_example_on_the_local_model(tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLES / "conversations")
    db = tmp_path / "chat.duckdb"
    result = invoke("run", "--limit", "1", "--json", "--db", str(db))
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    assert run["status"] == "completed"
    assert {g["prompt"]: g["errors"] for g in run["summary"]["groups"]} == {
        "support@v1": 0,
        "support@v2": 0,
    }
    for transcript in run["transcripts"]:
        assert [s["turn"] for s in transcript["steps"]] == [1, 2]
        assert all(s["output"] is not None for s in transcript["steps"])
