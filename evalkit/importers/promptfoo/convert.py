"""A promptfoo config → an evalkit project: the plan (suites, cases, scorers) and the files.

promptfoo attaches assertions to each test; an evalkit suite has one list of scorers for
all its cases, whose options may use the case's vars. So tests whose assertions have the
same *shape* (types and fixed options) form one suite, and what differs between them (the
expected text, the pattern, the rubric) moves into a var of each case
(``expect_contains``, ...), used by the scorer as ``{{ expect_contains }}``. Tests with
different shapes become separate suites (``<name>``, ``<name>-2``, …), each running every
prompt version on every provider: the same pass/fail per test as promptfoo's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.importers.promptfoo.asserts import Assertions, Check
from evalkit.importers.promptfoo.prompts import Prompt, convert_prompts
from evalkit.importers.promptfoo.providers import Provider, Providers
from evalkit.importers.promptfoo.source import Config, Findings, Where, render_value
from evalkit.importers.promptfoo.tests import Test, load_tests
from evalkit.records import content_hash

__all__ = ["Plan", "SuitePlan", "plan"]


def slug(text: str, fallback: str = "imported") -> str:
    """A name usable as a prompt, suite or case id."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or fallback


@dataclass
class SuitePlan:
    """One suite to write: its scorers and cases."""

    name: str
    scorers: list[dict[str, Any]]
    cases: list[dict[str, Any]]


@dataclass
class Plan:
    """Everything the import writes, and what it found on the way."""

    name: str
    description: str | None
    prompts: list[Prompt]
    providers: list[Provider]
    graders: list[Provider]
    suites: list[SuitePlan]
    findings: Findings
    repeat: int = 1
    concurrency: int | None = None
    pricing: dict[str, dict[str, float]] = field(default_factory=dict)


def _var_name(kind: str, key: str, taken: set[str]) -> str:
    base = {"rubric": "expect_rubric", "values": f"expect_{kind}_values"}.get(key, f"expect_{kind}")
    if key == "pattern":
        base = "expect_pattern"
    name, n = base, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


def _template_vars(text: str) -> set[str]:
    from evalkit.load.prompts import template_variables

    return template_variables(text) if ("{{" in text or "{%" in text) else set()


def _id_from_vars(variables: dict[str, Any]) -> str:
    """A readable case id from a test's short string vars (``france``, ``paris-fr``), or
    "" when they are long or missing (the id then hashes the content, as evalkit's does)."""
    values = [str(v) for v in variables.values() if isinstance(v, str | int | float)][:2]
    if not values or sum(len(v) for v in values) > 40:
        return ""
    return slug("-".join(values), "")


def _suite(name: str, members: list[tuple[Test, list[Check]]], findings: Findings) -> SuitePlan:
    """Scorers (fixed options literal, differing ones as vars) and cases of one shape."""
    first = members[0][1]
    user_vars = {k for test, _ in members for k in test.vars}
    taken = set(user_vars)
    scorers: list[dict[str, Any]] = []
    per_case: list[dict[str, Any]] = [{} for _ in members]
    names: set[str] = set()
    for i, check in enumerate(first):
        spec: dict[str, Any] = {"type": check.type}
        wanted = check.name or check.label or check.type
        label, n = wanted, 2
        while label in names:
            label, n = f"{wanted}-{n}", n + 1
        names.add(label)
        spec["name"] = label
        spec.update(check.options)
        for key in check.slots:
            values = [checks[i].slots[key] for _, checks in members]
            if all(v == values[0] for v in values):
                spec[key] = values[0]
                continue
            var = _var_name(check.type, key, taken)
            for j, (test, _) in enumerate(members):
                value = values[j]
                per_case[j][var] = (
                    [render_value(v, test.vars) for v in value]
                    if isinstance(value, list)
                    else render_value(value, test.vars)
                )
            spec[key] = (
                [f"{{{{ {var}[{k}] }}}}" for k in range(len(values[0]))]
                if isinstance(values[0], list)
                else f"{{{{ {var} }}}}"
            )
        scorers.append(spec)
    cases = []
    ids: set[str] = set()
    for j, (test, checks) in enumerate(members):
        reference = next((c.reference for c in checks if c.reference is not None), None)
        variables = {**test.vars, **per_case[j]}
        case: dict[str, Any] = {}
        wanted = slug(test.description, "") if test.description else _id_from_vars(test.vars)
        if not wanted:
            digest = content_hash({"vars": variables, "reference": reference})
            wanted = f"case-{digest[:10]}"
        case_id, n = wanted, 2
        while case_id in ids:
            case_id, n = f"{wanted}-{n}", n + 1
        ids.add(case_id)
        case["id"] = case_id
        case["vars"] = variables
        if reference is not None:
            case["reference"] = reference
        metadata = dict(test.metadata)
        if test.description:
            metadata["description"] = test.description
        metadata["promptfoo"] = str(test.where)
        case["metadata"] = metadata
        cases.append(case)
    return SuitePlan(name, scorers, cases)


def _suite_names(base: str, groups: list[list[tuple[Test, list[Check]]]]) -> list[str]:
    """``base`` for the first suite; the others are named after the assertions that set
    them apart (``base-icontains``, ``base-llm-rubric``), numbered if that repeats."""
    shapes = [[c.shape() for c in members[0][1]] for members in groups]
    shared = 0  # the checks every suite starts with (defaultTest's)
    while all(len(s) > shared and s[shared] == shapes[0][shared] for s in shapes):
        shared += 1
    names: list[str] = []
    for i, members in enumerate(groups):
        own = [c.label for c in members[0][1][shared:]]
        wanted = base if i == 0 else slug(f"{base}-{'-'.join(own) or 'defaults'}")
        name, n = wanted, 2
        while name in names:
            name, n = f"{wanted}-{n}", n + 1
        names.append(name)
    return names


def _fill_missing(plan: Plan, findings: Findings) -> None:
    """Vars a template uses that a case lacks render empty in promptfoo; evalkit refuses a
    missing var, so such a case gets the var as ``""`` (and the import says so)."""
    prompt_vars: set[str] = set()
    for prompt in plan.prompts:
        for message in prompt.messages:
            prompt_vars |= _template_vars(message["content"])
    for suite in plan.suites:
        needed = set(prompt_vars)
        for spec in suite.scorers:
            for value in spec.values():
                for text in value if isinstance(value, list) else [value]:
                    if isinstance(text, str):
                        needed |= _template_vars(text)
        for case in suite.cases:
            for var in sorted(needed - set(case["vars"])):
                case["vars"][var] = ""
                findings.note(
                    Where(case["metadata"]["promptfoo"]),
                    f"var '{var}'",
                    "a template uses it but some tests do not set it: promptfoo renders it "
                    'empty, so those cases get it as ""',
                )


def _self_judging(plan: Plan, findings: Findings, where: Where) -> None:
    """promptfoo lets a provider grade its own answers; evalkit refuses unless told, so a
    judge that is (the same model as) a provider under test gets ``allow_self_judge``."""

    def key(provider: Provider) -> tuple[Any, ...]:
        spec = provider.spec
        return (spec["type"], spec.get("model"), spec.get("base_url"), spec.get("endpoint"))

    under_test = {key(p) for p in plan.providers}
    by_id = {p.id: p for p in plan.providers + plan.graders}
    for suite in plan.suites:
        for spec in suite.scorers:
            judge = by_id.get(spec.get("provider", ""))
            if spec["type"] == "judge" and judge is not None and key(judge) in under_test:
                spec["allow_self_judge"] = True
                findings.note(
                    where,
                    f"grading provider '{judge.id}'",
                    "it is also a provider under test: it grades its own answers (as in "
                    "promptfoo); `allow_self_judge: true` is set",
                )


def plan(config_path: Path, name: str | None = None) -> Plan:
    """Read the promptfoo config (and every file it names) and decide what to write."""
    config = Config(config_path)
    findings = Findings()
    data = config.data
    description = data.get("description") if isinstance(data.get("description"), str) else None
    base = slug(name or description or config.root.name or config.path.stem)
    providers = Providers(config, findings)
    under_test = providers.convert_all()
    prompts = convert_prompts(config, findings)
    tests = load_tests(config, findings) or [Test(where=config.where(), description="prompt only")]
    assertions = Assertions(config, providers, findings)
    groups: dict[tuple[str, ...], list[tuple[Test, list[Check]]]] = {}
    for test in tests:
        checks: list[Check] = []
        for assertion, where in test.asserts:
            if not isinstance(assertion, dict):
                findings.drop(where, "assertion", f"not a mapping: {assertion!r}")
                continue
            check = assertions.convert(assertion, where, test.vars, test.grader)
            if check is None:
                continue
            if check.reference is not None and any(c.reference is not None for c in checks):
                findings.drop(
                    where,
                    f"assertion '{assertion.get('type')}'",
                    "a case has one reference, already taken by another assertion of the test",
                )
                continue
            checks.append(check)
        groups.setdefault(tuple(c.shape() for c in checks), []).append((test, checks))
    suites = [
        _suite(name, members, findings)
        for name, members in zip(
            _suite_names(base, list(groups.values())), groups.values(), strict=True
        )
    ]
    if len(suites) > 1:
        findings.note(
            config.where("tests"),
            "tests",
            f"tests with different kinds of assertions became {len(suites)} suites "
            f"({', '.join(s.name for s in suites)}): an evalkit suite has one list of scorers",
        )
    options = data.get("evaluateOptions") or {}
    pricing: dict[str, dict[str, float]] = {}
    for provider in providers.converted:
        pricing.update(provider.pricing)
    graders = [p for p in providers.converted if p not in under_test]
    result = Plan(
        name=base,
        description=description,
        prompts=prompts,
        providers=under_test,
        graders=graders,
        suites=suites,
        findings=findings,
        repeat=int(options.get("repeat") or 1),
        concurrency=int(options["maxConcurrency"]) if options.get("maxConcurrency") else None,
        pricing=pricing,
    )
    if not under_test:
        findings.note(
            config.where("providers"),
            "providers",
            "none converted: the suites run on the embedded local model (or name one with "
            "`evalkit run -p ID` after adding it to evalkit.yaml)",
        )
    _self_judging(result, findings, config.where())
    for key in ("scenarios", "redteam", "nunjucksFilters", "extensions", "derivedMetrics"):
        if data.get(key):
            findings.drop(config.where(key), key, "no evalkit equivalent")
    _fill_missing(result, findings)
    return result


# -- writing ------------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """YAML with multi-line strings as ``|`` blocks and keys in the order given."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any, header: str = "") -> str:
    """``data`` as readable YAML, after ``header`` comment lines."""
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return "".join(f"# {line}\n" for line in header.splitlines()) + text


def files(plan: Plan, source: str) -> dict[str, str]:
    """Relative path → content of every file the import writes."""
    header = f"Imported from {source} by `evalkit import promptfoo`."
    out: dict[str, str] = {}
    config: dict[str, Any] = {"providers": {p.id: p.spec for p in plan.providers + plan.graders}}
    defaults: dict[str, Any] = {}
    if plan.providers:
        defaults["provider"] = plan.providers[0].id
    if plan.concurrency:
        defaults["concurrency"] = plan.concurrency
    if len(plan.graders) == 1:
        defaults["judge"] = plan.graders[0].id
    if defaults:
        config["defaults"] = defaults
    if plan.pricing:
        config["pricing"] = plan.pricing
    out["evalkit.yaml"] = dump_yaml(config, header)
    refs = []
    for number, prompt in enumerate(plan.prompts, start=1):
        refs.append(f"{plan.name}@v{number}")
        version: dict[str, Any] = {"description": prompt.label, "messages": prompt.messages}
        if prompt.params:
            version["params"] = prompt.params
        out[f"prompts/{plan.name}/v{number}.yaml"] = dump_yaml(
            version, f"{header}\nFrom {prompt.where}."
        )
    for suite in plan.suites:
        body: dict[str, Any] = {"name": suite.name}
        if plan.description:
            body["description"] = plan.description
        body["prompt"] = refs
        if plan.providers:
            body["providers"] = [p.id for p in plan.providers]
        body["cases"] = f"{suite.name}.jsonl"
        if plan.repeat > 1:
            body["repeat"] = plan.repeat
        body["scorers"] = suite.scorers
        out[f"suites/{suite.name}.yaml"] = dump_yaml(body, header)
        out[f"suites/{suite.name}.jsonl"] = "".join(
            json.dumps(case, ensure_ascii=False, default=str) + "\n" for case in suite.cases
        )
    return out
