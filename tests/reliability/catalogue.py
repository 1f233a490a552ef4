"""The malformed-input catalogue: a small project, and the ways people get each file wrong.

``BASE`` is a project that runs (against the loopback fake server at ``{url}``). Each entry of
``CATALOGUE`` overwrites some of its files (``None`` deletes one), runs a command line, and
says where the one error message must point (a regex matched right after ``error: ``), a
piece of the message and a piece of the fix. ``before`` commands run first (each must exit 0),
and ``later`` files are written after them (e.g. cases added after the run a replay reads);
``databases`` are DuckDB files made with some SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

Files = dict[str, str | bytes | None]

BASE: Files = {
    "evalkit.yaml": (
        "providers:\n"
        '  fake: {type: openai, base_url: "{url}/v1", model: fake-model}\n'
        "defaults: {provider: fake, concurrency: 2}\n"
    ),
    "prompts/capitals/v1.yaml": (
        "description: zero-shot\n"
        "messages:\n"
        '  - {role: user, content: "v1: {{ country }}"}\n'
        "params: {max_tokens: 8}\n"
    ),
    "prompts/capitals/v2.yaml": (
        "parent: v1\n"
        "messages:\n"
        '  - {role: system, content: "Answer with the city only."}\n'
        '  - {role: user, content: "v2: {{ country }}"}\n'
        "params: {max_tokens: 8}\n"
    ),
    "suites/capitals.yaml": (
        "name: capitals\n"
        "prompt: [capitals@v1, capitals@v2]\n"
        "cases: capitals.jsonl\n"
        "scorers:\n"
        '  - {type: contains, value: "{{ capital }}"}\n'
        "gates:\n"
        "  pass_rate: 0.5\n"
    ),
    "suites/capitals.jsonl": "".join(
        f'{{"id": "{c.lower()}", "vars": {{"country": "{c}", "capital": "{cap}"}}, '
        f'"reference": "{cap}"}}\n'
        for c, cap in (("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"))
    ),
    "checks.py": ("LIMIT = 3\n\n\ndef cites_source(output, case):\n    return 'http' in output\n"),
}

SUITE = "suites/capitals.yaml"
CASES = "suites/capitals.jsonl"
CONFIG = "evalkit.yaml"
V1 = "prompts/capitals/v1.yaml"


def suite_with(*, scorers: str = "", cases: str = "capitals.jsonl", extra: str = "") -> str:
    """The base suite with other scorer lines (YAML list items) or cases."""
    scorer_lines = scorers or '  - {type: contains, value: "{{ capital }}"}\n'
    return (
        "name: capitals\n"
        "prompt: [capitals@v1, capitals@v2]\n"
        f"cases: {cases}\n"
        "scorers:\n"
        f"{scorer_lines}"
        f"{extra}"
    )


def config_with(providers: str = "", defaults: str = "{provider: fake, concurrency: 2}") -> str:
    return (
        "providers:\n"
        '  fake: {type: openai, base_url: "{url}/v1", model: fake-model}\n'
        f"{providers}"
        f"defaults: {defaults}\n"
    )


def prompt_with(content: str, params: str = "{max_tokens: 8}") -> str:
    return (
        "description: zero-shot\nmessages:\n"
        f"  - {{role: user, content: {content}}}\nparams: {params}\n"
    )


@dataclass(frozen=True)
class Bad:
    args: tuple[str, ...]
    where: str
    says: str
    fix: str
    files: Files = field(default_factory=dict)
    before: tuple[tuple[str, ...], ...] = ()
    later: Files = field(default_factory=dict)
    #: DuckDB files to create first: path -> SQL run in them.
    databases: dict[str, str] = field(default_factory=dict)


RUN_FIRST = (("run",),)

#: A tool declaration appended to ``prompt_with(...)`` (its ``properties`` are line 11).
_TOOLS = (
    "tools:\n"
    "  - type: function\n"
    "    function:\n"
    "      name: get_weather\n"
    "      parameters:\n"
    "        type: object\n"
    "        properties: {city: {type: string}}\n"
)

_ENTRIES: dict[str, Bad] = {
    # -- evalkit.yaml -----------------------------------------------------------------------
    "config-yaml-syntax": Bad(
        ("run",),
        r"evalkit\.yaml:2: ",
        "quoted string opened here is not closed",
        "close the quote",
        {CONFIG: 'providers:\n  fake: {type: openai, model: "x}\ndefaults: {}\n'},
    ),
    "config-not-utf8": Bad(
        ("run",),
        r"evalkit\.yaml:2: ",
        "not UTF-8",
        "save the file as UTF-8",
        {CONFIG: b"providers:\n  fake: {type: openai, model: caf\xe9}\n"},
    ),
    "config-tab-indentation": Bad(
        ("run",),
        r"evalkit\.yaml:2: ",
        "invalid YAML",
        "tabs",
        {CONFIG: "providers:\n\tfake: {type: openai}\n"},
    ),
    "config-not-a-mapping": Bad(
        ("runs", "list"),
        r"evalkit\.yaml:1: ",
        "must be a mapping",
        "providers:",
        {CONFIG: "- fake\n"},
    ),
    "config-unknown-key": Bad(
        ("run",),
        r"evalkit\.yaml:1: ",
        "unknown key 'provders'",
        "did you mean 'providers'",
        {CONFIG: "provders:\n  fake: {type: openai}\n"},
    ),
    "config-otel-header-value-inline": Bad(
        ("run",),
        r"evalkit\.yaml:6: ",
        "must name an environment variable",
        "secrets never go into evalkit.yaml",
        {CONFIG: config_with() + "otel:\n  headers_env:\n    authorization: Bearer xyz\n"},
    ),
    "config-otel-header-env-unset": Bad(
        ("run",),
        r"evalkit\.yaml:6: ",
        "$EVALKIT_TEST_UNSET_OTLP_TOKEN, which is not set",
        "export EVALKIT_TEST_UNSET_OTLP_TOKEN=",
        {
            CONFIG: config_with()
            + "otel:\n  headers_env:\n    authorization: EVALKIT_TEST_UNSET_OTLP_TOKEN\n"
        },
    ),
    "config-providers-a-list": Bad(
        ("run",),
        r"evalkit\.yaml:1: ",
        "providers must be a mapping",
        "",
        {CONFIG: "providers: [fake]\n"},
    ),
    "config-provider-without-type": Bad(
        ("run",),
        r"evalkit\.yaml:3: ",
        "provider 'other' needs a `type`",
        "type: openai",
        {CONFIG: config_with("  other: {model: x}\n")},
    ),
    "config-provider-unknown-type": Bad(
        ("run",),
        r"evalkit\.yaml:3: ",
        "unknown provider type 'opnai'",
        "did you mean 'openai'",
        {CONFIG: config_with("  other: {type: opnai, model: x}\n")},
    ),
    "config-provider-unknown-key": Bad(
        ("run",),
        r"evalkit\.yaml:2: ",
        "provider 'fake': unknown key 'modle'",
        "did you mean 'model'",
        {CONFIG: config_with().replace("model: fake-model", "modle: m")},
    ),
    "config-provider-bad-timeout": Bad(
        ("run",),
        r"evalkit\.yaml:2: ",
        "timeout",
        "",
        {CONFIG: config_with().replace("model: fake-model", "timeout: -1")},
    ),
    "config-defaults-unknown-key": Bad(
        ("run",),
        r"evalkit\.yaml:3: ",
        "unknown key 'concurency'",
        "did you mean 'concurrency'",
        {CONFIG: config_with(defaults="{provider: fake, concurency: 2}")},
    ),
    "config-defaults-wrong-type": Bad(
        ("run",),
        r"evalkit\.yaml:3: ",
        "defaults.concurrency must be a whole number",
        "concurrency: 4",
        {CONFIG: config_with(defaults="{concurrency: many}")},
    ),
    "config-error-budget-out-of-range": Bad(
        ("run",),
        r"evalkit\.yaml:3: ",
        "error_budget",
        "error_budget: 0.05",
        {CONFIG: config_with(defaults="{error_budget: 5}")},
    ),
    "config-default-provider-unknown": Bad(
        ("run",),
        r"evalkit\.yaml:3: ",
        "provider 'fak' is not defined",
        "did you mean 'fake'",
        {CONFIG: config_with(defaults="{provider: fak}")},
    ),
    "config-judge-unknown": Bad(
        ("run",),
        r"evalkit\.yaml:3: ",
        "provider 'gtp' is not defined",
        "providers:",
        {CONFIG: config_with(defaults="{provider: fake, judge: gtp}")},
    ),
    "config-fallback-member-unknown": Bad(
        ("run", "-p", "safe"),
        r"evalkit\.yaml:3: ",
        "provider 'fkae' is not defined",
        "did you mean 'fake'",
        {CONFIG: config_with("  safe: {type: fallback, chain: [fake, fkae]}\n")},
    ),
    "config-anthropic-without-key": Bad(
        ("run", "-p", "claude"),
        r"",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_API_KEY",
        {CONFIG: config_with('  claude: {type: anthropic, base_url: "{url}", model: c}\n')},
    ),
    "config-pricing-not-a-number": Bad(
        ("run",),
        r"evalkit\.yaml:5: ",
        "pricing for 'fake-model': input must be a number",
        "input: 0.15",
        {CONFIG: config_with() + "pricing:\n  fake-model: {input: cheap, output: 1}\n"},
    ),
    "config-replay-provider-unknown-run": Bad(
        ("run", "-p", "again"),
        r"",
        "'nope'",
        "runs list",
        {CONFIG: config_with("  again: {type: replay, run: nope, provider: fake}\n")},
        before=RUN_FIRST,
    ),
    # -- prompt versions ----------------------------------------------------------------------
    "prompt-yaml-syntax": Bad(
        ("run",),
        rf"{V1}:\d+: ",
        "invalid YAML",
        "",
        {V1: "messages:\n  - {role: user, content: [\n"},
    ),
    "prompt-not-utf8": Bad(
        ("run",),
        rf"{V1}:3: ",
        "not UTF-8",
        "UTF-8",
        {V1: b"messages:\n  - role: user\n    content: \xff\xfe v1\n"},
    ),
    "prompt-empty": Bad(("run",), rf"{V1}:1: ", "is empty", "messages:", {V1: ""}),
    "prompt-messages-not-a-list": Bad(
        ("run",), rf"{V1}:1: ", "messages must be a list", "messages:", {V1: "messages: hello\n"}
    ),
    "prompt-bad-role": Bad(
        ("run",),
        rf"{V1}:2: ",
        "role",
        "user",
        {V1: "messages:\n  - role: human\n    content: hi\n"},
    ),
    "prompt-unknown-key": Bad(
        ("run",),
        rf"{V1}:1: ",
        "unknown key 'mesages'",
        "did you mean 'messages'",
        {V1: 'mesages:\n  - {role: user, content: "{{ country }}"}\n'},
    ),
    "prompt-template-syntax": Bad(
        ("run",),
        rf"{V1}:3: ",
        "template syntax error",
        "{{ }}",
        {V1: prompt_with('"v1: {{ country "')},
    ),
    "prompt-template-unknown-filter": Bad(
        ("run",),
        rf"{V1}:3: ",
        "no filter named 'uper'",
        "did you mean 'upper'",
        {V1: prompt_with('"v1: {{ country | uper }}"')},
    ),
    "prompt-template-sandbox": Bad(
        ("run",),
        rf"{V1}:3: ",
        "unsafe",
        "",
        {V1: prompt_with("\"v1: {{ ''.__class__.__mro__ }}\"")},
    ),
    "prompt-template-sandbox-globals": Bad(
        ("run",),
        rf"{V1}:3: ",
        "unsafe",
        "",
        {V1: prompt_with('"{{ cycler.__init__.__globals__ }}"')},
    ),
    "prompt-template-render-error": Bad(
        ("run",),
        rf"{V1}:3: ",
        "case 'france'",
        "",
        {V1: prompt_with('"{% for i in range(10000000) %}.{% endfor %}{{ country }}"')},
    ),
    "prompt-template-undefined-variable": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "has no var 'contry'",
        "did you mean 'country'",
        {V1: prompt_with('"v1: {{ contry }}"')},
    ),
    "prompt-temperature-not-a-number": Bad(
        ("run",),
        rf"{V1}:4: ",
        "temperature must be a number",
        "temperature: 0",
        {V1: prompt_with('"{{ country }}"', params="{temperature: hot}")},
    ),
    "prompt-max-tokens-zero": Bad(
        ("run",),
        rf"{V1}:4: ",
        "max_tokens",
        "",
        {V1: prompt_with('"{{ country }}"', params="{max_tokens: 0}")},
    ),
    "prompt-ref-unknown-name": Bad(
        ("run",),
        rf"{SUITE}:2: ",
        "prompt 'capitls' not found",
        "did you mean 'capitals'",
        {SUITE: suite_with().replace("capitals@v1, capitals@v2", "capitls@v1")},
    ),
    "prompt-ref-unknown-version": Bad(
        ("run",),
        rf"{SUITE}:2: ",
        "capitals@v9",
        "v1, v2",
        {SUITE: suite_with().replace("capitals@v2]", "capitals@v9]")},
    ),
    "prompt-ref-malformed": Bad(
        ("run",),
        rf"{SUITE}:2: ",
        "not a prompt reference",
        "NAME@vN",
        {SUITE: suite_with().replace("capitals@v2]", "capitals@2]")},
    ),
    "prompt-option-unknown-version": Bad(
        ("run", "--prompt", "capitals@v7"), r"", "'capitals@v7' not found", "v1, v2"
    ),
    # -- suites -------------------------------------------------------------------------------
    "suite-yaml-syntax": Bad(
        ("run",), rf"{SUITE}:\d+: ", "invalid YAML", "", {SUITE: "name: capitals\nprompt: [a, b\n"}
    ),
    "suite-not-utf8": Bad(
        ("run",), rf"{SUITE}:1: ", "not UTF-8", "UTF-8", {SUITE: b"name: capit\xe0les\n"}
    ),
    "suite-empty": Bad(("run",), rf"{SUITE}:1: ", "is empty", "prompt:", {SUITE: "\n"}),
    "suite-a-list": Bad(
        ("run",), rf"{SUITE}:1: ", "must be a mapping", "prompt:", {SUITE: "- capitals@v1\n"}
    ),
    "suite-unknown-key": Bad(
        ("run",),
        rf"{SUITE}:4: ",
        "unknown key 'scorer'",
        "did you mean 'scorers'",
        {SUITE: suite_with().replace("scorers:", "scorer:")},
    ),
    "suite-gates-typo": Bad(
        ("run",),
        rf"{SUITE}:7: ",
        "gates: unknown key 'pass_rat'",
        "did you mean 'pass_rate'",
        {SUITE: suite_with(extra="gates:\n  pass_rat: 0.5\n")},
    ),
    "suite-gates-typo-second-line": Bad(
        ("run",),
        rf"{SUITE}:8: ",
        "gates: unknown key 'latency_p59_ms'",
        "did you mean 'latency_p95_ms'",
        {SUITE: suite_with(extra="gates:\n  pass_rate: 0.5\n  latency_p59_ms: 900\n")},
    ),
    "suite-gates-wrong-type": Bad(
        ("run",),
        rf"{SUITE}:7: ",
        "gates.pass_rate must be a number",
        "pass_rate: 0.8",
        {SUITE: suite_with(extra="gates:\n  pass_rate: high\n")},
    ),
    "suite-gates-out-of-range": Bad(
        ("run",),
        rf"{SUITE}:7: ",
        "gates.pass_rate",
        "pass_rate: 0.8",
        {SUITE: suite_with(extra="gates:\n  pass_rate: 80\n")},
    ),
    "suite-repeat-zero": Bad(
        ("run",), rf"{SUITE}:6: ", "repeat", "repeat: 1", {SUITE: suite_with(extra="repeat: 0\n")}
    ),
    "suite-prompt-missing": Bad(
        ("run",),
        rf"{SUITE}:1: ",
        "missing required key 'prompt'",
        "prompt: [",
        {SUITE: "name: capitals\ncases: capitals.jsonl\n"},
    ),
    "suite-provider-unknown": Bad(
        ("run",),
        rf"{SUITE}:6: ",
        "provider 'fkae' is not defined",
        "did you mean 'fake'",
        {SUITE: suite_with(extra="providers: [fkae]\n")},
    ),
    "suite-duplicate-prompt": Bad(
        ("run",),
        rf"{SUITE}:2: ",
        "listed twice",
        "list it once",
        {SUITE: suite_with().replace("capitals@v2]", "capitals@v1]")},
    ),
    "suite-name-unknown": Bad(
        ("run", "capitls"), r"", "suite 'capitls' not found", "did you mean 'capitals'"
    ),
    # -- scorers ------------------------------------------------------------------------------
    "scorer-unknown-type": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "unknown scorer type 'contain'",
        "did you mean 'contains'",
        {SUITE: suite_with(scorers="  - {type: contain, value: x}\n")},
    ),
    "scorer-without-type": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "needs a `type`",
        "contains",
        {SUITE: suite_with(scorers="  - {value: x}\n")},
    ),
    "scorer-unknown-option": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "unknown key 'valeu'",
        "did you mean 'value'",
        {SUITE: suite_with(scorers="  - {type: contains, valeu: x}\n")},
    ),
    "scorer-threshold-not-a-number": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "threshold must be a number",
        "threshold:",
        {SUITE: suite_with(scorers="  - {type: chrf, threshold: high}\n")},
    ),
    "scorer-bad-regex": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "not a valid regular expression",
        "",
        {SUITE: suite_with(scorers='  - {type: regex, pattern: "([A-Z]"}\n')},
    ),
    "scorer-template-syntax": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "template syntax error",
        "{{ }}",
        {SUITE: suite_with(scorers='  - {type: contains, value: "{{ capital "}\n')},
    ),
    "scorer-template-sandbox": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "unsafe",
        "",
        {SUITE: suite_with(scorers='  - {type: contains, value: "{{ capital.__class__ }}"}\n')},
    ),
    "scorer-template-undefined-variable": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "no var 'captial'",
        "did you mean 'capital'",
        {SUITE: suite_with(scorers='  - {type: contains, value: "{{ captial }}"}\n')},
    ),
    "scorer-needs-reference": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "needs a `reference`",
        SUITE,
        {
            SUITE: suite_with(scorers="  - {type: bleu, threshold: 20}\n"),
            CASES: '{"id": "a", "vars": {"country": "France", "capital": "Paris"}}\n',
        },
    ),
    "scorer-duplicate-names": Bad(
        ("run",),
        rf"{SUITE}:6: ",
        "two scorers are named 'x'",
        "distinct",
        {SUITE: suite_with(scorers="  - {type: equals, name: x}\n  - {type: chrf, name: x}\n")},
    ),
    "scorer-judge-provider-unknown": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "scorer 'judge': provider 'fkae' is not defined",
        "did you mean 'fake'",
        {SUITE: suite_with(scorers="  - {type: judge, rubric: 'Right?', provider: fkae}\n")},
    ),
    "scorer-judge-prompt-unknown": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "nosuch",
        "prompts",
        {SUITE: suite_with(scorers="  - {type: judge, rubric: 'Right?', prompt: nosuch@v1}\n")},
    ),
    "scorer-option-wrong-choice": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "unit",
        "did you mean 'words'",
        {SUITE: suite_with(scorers="  - {type: max_length, max: 5, unit: word}\n")},
    ),
    "prompt-stop-wrong-type": Bad(
        ("run",),
        rf"{V1}:4: ",
        "params.stop must be a string or a list, got {'a': 1}",
        "fix the value",
        {V1: prompt_with('"{{ country }}"', params="{stop: {a: 1}}")},
    ),
    "suite-cases-a-number": Bad(
        ("run",),
        rf"{SUITE}:3: ",
        "cases must be a string or a list, got 5",
        "cases: support.jsonl",
        {SUITE: suite_with(cases="5")},
    ),
    "jsonl-tags-not-a-list": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "tags must be a list",
        "tags: [europe]",
        {CASES: '{"id": "a", "vars": {"country": "France", "capital": "P"}, "tags": "eu"}\n'},
    ),
    # -- JSON schemas -------------------------------------------------------------------------
    "schema-missing": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "schema file 'answer.json' not found",
        "relative to the suite",
        {SUITE: suite_with(scorers="  - {type: json_schema, schema: answer.json}\n")},
    ),
    "schema-invalid-json": Bad(
        ("run",),
        r"suites/answer\.json:2: ",
        "invalid JSON",
        "",
        {
            SUITE: suite_with(scorers="  - {type: json_schema, schema: answer.json}\n"),
            "suites/answer.json": '{"type": "object",\n "required": [answer]}\n',
        },
    ),
    "schema-invalid-schema": Bad(
        ("run",),
        r"suites/answer\.json:2: ",
        "invalid JSON Schema",
        "json-schema.org",
        {
            SUITE: suite_with(scorers="  - {type: json_schema, schema: answer.json}\n"),
            "suites/answer.json": '{\n  "type": "objekt"\n}\n',
        },
    ),
    "schema-not-an-object": Bad(
        ("run",),
        r"suites/answer\.json:1: ",
        "must be a JSON object",
        '"type": "object"',
        {
            SUITE: suite_with(scorers="  - {type: json_schema, schema: answer.json}\n"),
            "suites/answer.json": "[1, 2]\n",
        },
    ),
    "schema-not-utf8": Bad(
        ("run",),
        r"suites/answer\.json:1: ",
        "not UTF-8",
        "UTF-8",
        {
            SUITE: suite_with(scorers="  - {type: json_schema, schema: answer.json}\n"),
            "suites/answer.json": b'{"description": "caf\xe9"}\n',
        },
    ),
    "schema-empty": Bad(
        ("run",),
        r"suites/answer\.json:1: ",
        "is empty",
        '"type": "object"',
        {
            SUITE: suite_with(scorers="  - {type: json_schema, schema: answer.json}\n"),
            "suites/answer.json": "",
        },
    ),
    "schema-inline-invalid": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "invalid JSON Schema",
        "",
        {SUITE: suite_with(scorers="  - {type: json_schema, schema: {type: objekt}}\n")},
    ),
    # -- custom Python scorer modules -----------------------------------------------------------
    "python-module-missing": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "cannot import module 'chekcs'",
        "did you mean 'checks'",
        {SUITE: suite_with(scorers='  - {type: python, function: "chekcs:cites_source"}\n')},
    ),
    "python-module-syntax-error": Bad(
        ("run",),
        r"checks\.py:2: ",
        "SyntaxError",
        "fix the module",
        {
            SUITE: suite_with(scorers='  - {type: python, function: "checks:cites_source"}\n'),
            "checks.py": "def cites_source(output, case):\n    return output.startswith(\n",
        },
    ),
    "python-module-raises-on-import": Bad(
        ("run",),
        r"checks\.py:2: ",
        "RuntimeError: no config",
        "fix the module",
        {
            SUITE: suite_with(scorers='  - {type: python, function: "checks:cites_source"}\n'),
            "checks.py": "import os\nraise RuntimeError('no config')\n",
        },
    ),
    "python-function-missing": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "has no function 'cites_sorce'",
        "did you mean 'cites_source'",
        {SUITE: suite_with(scorers='  - {type: python, function: "checks:cites_sorce"}\n')},
    ),
    "python-function-not-callable": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "'LIMIT'",
        "def LIMIT(output, case)",
        {SUITE: suite_with(scorers='  - {type: python, function: "checks:LIMIT"}\n')},
    ),
    "python-function-malformed": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "is not module:function",
        "checks:cites_source",
        {SUITE: suite_with(scorers='  - {type: python, function: "checks.cites_source"}\n')},
    ),
    # -- cases: JSONL ---------------------------------------------------------------------------
    "jsonl-invalid-json": Bad(
        ("run",),
        rf"{CASES}:2: ",
        "invalid JSON",
        "one JSON object per line",
        {CASES: '{"id": "a", "vars": {"country": "France", "capital": "Paris"}}\n{"id": "b",\n'},
    ),
    "jsonl-not-utf8": Bad(
        ("run",),
        rf"{CASES}:2: ",
        "not UTF-8",
        "UTF-8",
        {
            CASES: b'{"id": "a", "vars": {"country": "France", "capital": "Paris"}}\n'
            b'{"id": "b", "vars": {"country": "Espa\xf1a", "capital": "Madrid"}}\n'
        },
    ),
    "jsonl-empty": Bad(
        ("run",), rf"{CASES}: ", "no cases", "one JSON object per line", {CASES: ""}
    ),
    "jsonl-only-blank-lines": Bad(
        ("run",), rf"{CASES}: ", "no cases", "one JSON object per line", {CASES: "\n\n  \n"}
    ),
    "jsonl-line-not-an-object": Bad(
        ("run",), rf"{CASES}:1: ", "a case must be a mapping", '"vars"', {CASES: '["France"]\n'}
    ),
    "jsonl-unknown-key": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "unknown key 'var'",
        "did you mean 'vars'",
        {CASES: '{"id": "a", "var": {"country": "France"}}\n'},
    ),
    "jsonl-vars-not-a-mapping": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "vars must be a mapping",
        "vars:",
        {CASES: '{"id": "a", "vars": "France"}\n'},
    ),
    "jsonl-duplicate-id": Bad(
        ("run",),
        rf"{CASES}:2: ",
        "duplicate case id 'a'",
        "own `id`",
        {
            CASES: '{"id": "a", "vars": {"country": "France", "capital": "Paris"}}\n'
            '{"id": "a", "vars": {"country": "Spain", "capital": "Madrid"}}\n'
        },
    ),
    "jsonl-case-lacks-variable": Bad(
        ("run",),
        rf"{CASES}:2: ",
        "case 'b' has no var 'country'",
        "add `country`",
        {
            CASES: '{"id": "a", "vars": {"country": "France", "capital": "Paris"}}\n'
            '{"id": "b", "vars": {"capital": "Madrid"}}\n'
        },
    ),
    "cases-file-missing": Bad(
        ("run",),
        rf"{SUITE}:3: ",
        "case file 'capitals.jsnol' not found",
        "relative to the suite",
        {SUITE: suite_with(cases="capitals.jsnol")},
    ),
    "cases-file-unsupported": Bad(
        ("run",),
        rf"{SUITE}:3: ",
        "unsupported case file type '.txt'",
        ".jsonl or .csv",
        {SUITE: suite_with(cases="capitals.txt"), "suites/capitals.txt": "France,Paris\n"},
    ),
    "cases-inline-not-mappings": Bad(
        ("run",),
        rf"{SUITE}:3: ",
        "a case must be a mapping",
        '"vars"',
        {SUITE: suite_with(cases="[France, Spain]")},
    ),
    "cases-inline-empty": Bad(
        ("run",), rf"{SUITE}:3: ", "no cases", "at least one case", {SUITE: suite_with(cases="[]")}
    ),
    # -- cases: CSV -----------------------------------------------------------------------------
    "csv-not-utf8": Bad(
        ("run",),
        r"suites/capitals\.csv:3: ",
        "not UTF-8",
        "UTF-8",
        {
            SUITE: suite_with(cases="capitals.csv"),
            "suites/capitals.csv": b"id,country,capital\nfr,France,Paris\nes,Espa\xf1a,Madrid\n",
        },
    ),
    "csv-empty": Bad(
        ("run",),
        r"suites/capitals\.csv:1: ",
        "no header row",
        "first line",
        {SUITE: suite_with(cases="capitals.csv"), "suites/capitals.csv": ""},
    ),
    "csv-header-only": Bad(
        ("run",),
        r"suites/capitals\.csv: ",
        "no cases",
        "one row per case",
        {SUITE: suite_with(cases="capitals.csv"), "suites/capitals.csv": "id,country,capital\n"},
    ),
    "csv-row-too-long": Bad(
        ("run",),
        r"suites/capitals\.csv:3: ",
        "more fields than the header",
        "quote fields",
        {
            SUITE: suite_with(cases="capitals.csv"),
            "suites/capitals.csv": "id,country,capital\nfr,France,Paris\nes,Spain,Madrid,Spain\n",
        },
    ),
    "csv-column-missing": Bad(
        ("run",),
        r"suites/capitals\.csv:2: ",
        "has no var 'country'",
        "add `country`",
        {
            SUITE: suite_with(cases="capitals.csv"),
            "suites/capitals.csv": "id,land,capital\nfr,France,Paris\n",
        },
    ),
    # -- stores (--db) --------------------------------------------------------------------------
    "db-is-a-directory": Bad(
        ("run", "--db", "somedir"),
        r"somedir: ",
        "is a folder",
        "--db",
        {"somedir/keep.txt": "x"},
    ),
    "db-not-duckdb": Bad(
        ("run", "--db", "notes.txt"),
        r"notes\.txt: ",
        "not a DuckDB",
        "--db",
        {"notes.txt": "shopping list\n" * 500},
    ),
    "db-not-duckdb-read-only": Bad(
        ("runs", "list", "--db", "notes.txt"),
        r"notes\.txt: ",
        "not a DuckDB",
        "--db",
        {"notes.txt": "shopping list\n" * 500},
    ),
    "db-parent-is-a-file": Bad(
        ("run", "--db", "notes.txt/evalkit.duckdb"),
        r"notes\.txt/evalkit\.duckdb: ",
        "",
        "--db",
        {"notes.txt": "x\n"},
    ),
    "db-duckdb-but-not-evalkit": Bad(
        ("query", "SELECT 1", "--db", "other.duckdb"),
        r"other\.duckdb: ",
        "not an evalkit store",
        "--db",
        databases={"other.duckdb": "CREATE TABLE orders (id INTEGER, total DOUBLE)"},
    ),
    "db-missing-read-only": Bad(
        ("runs", "list", "--db", "nothing.duckdb"), r"nothing\.duckdb: ", "no store", "evalkit run"
    ),
    "db-config-points-at-directory": Bad(
        ("run",),
        r"somedir: ",
        "is a folder",
        "db:",
        {CONFIG: config_with() + "db: somedir\n", "somedir/keep.txt": "x"},
    ),
    # -- baselines and runs ---------------------------------------------------------------------
    "baseline-unknown": Bad(
        ("run", "--baseline", "mian"),
        r"",
        "'mian'",
        "did you mean 'main'",
        before=(("run",), ("baseline", "set", "main", "last")),
    ),
    "baseline-set-unknown-run": Bad(
        ("baseline", "set", "main", "20990101-nope"),
        r"",
        "'20990101-nope'",
        "runs list",
        before=RUN_FIRST,
    ),
    "baseline-rm-unknown": Bad(
        ("baseline", "rm", "mian"),
        r"",
        "'mian'",
        "did you mean 'main'",
        before=(("run",), ("baseline", "set", "main", "last")),
    ),
    "compare-unknown-run": Bad(
        ("compare", "last", "nope"), r"", "'nope'", "runs list", before=RUN_FIRST
    ),
    "report-unknown-run": Bad(("report", "nope"), r"", "'nope'", "runs list", before=RUN_FIRST),
    "runs-show-unknown-run": Bad(
        ("runs", "show", "nope"), r"", "'nope'", "runs list", before=RUN_FIRST
    ),
    "resume-unknown-run": Bad(
        ("run", "--resume", "nope"), r"", "'nope'", "runs list", before=RUN_FIRST
    ),
    # -- replay sources -------------------------------------------------------------------------
    "replay-unknown-run": Bad(
        ("run", "--replay", "nope"), r"", "'nope'", "runs list", before=RUN_FIRST
    ),
    "replay-run-lacks-cases": Bad(
        ("run", "--replay", "last"),
        r"",
        "has no answer",
        "same suite",
        before=RUN_FIRST,
        later={
            CASES: BASE[CASES]  # type: ignore[operator]
            + '{"id": "peru", "vars": {"country": "Peru", "capital": "Lima"}}\n'
        },
    ),
    # -- retrieval-grounded cases and structured outputs ----------------------------------------
    "case-context-passage-empty": Bad(
        ("run",),
        r"suites/capitals\.jsonl:1: ",
        "context passage 1 has no text",
        "non-empty string",
        {
            CASES: '{"id": "fr", "vars": {"country": "France", "capital": "Paris"}, '
            '"context": [""]}\n'
        },
    ),
    "case-context-duplicate-id": Bad(
        ("run",),
        r"suites/capitals\.yaml:6: ",
        "context passages 1 and 2 share the id 'p'",
        "its own `id`",
        {
            SUITE: "name: capitals\nprompt: capitals@v1\ncases:\n"
            "  - id: fr\n    vars: {country: France, capital: Paris}\n"
            "    context: [{id: p, text: A}, {id: p, text: B}]\n"
        },
    ),
    "case-context-and-var": Bad(
        ("run",),
        r"suites/capitals\.jsonl:1: ",
        "both `context:` and a var named `context`",
        "rename the var",
        {CASES: '{"vars": {"country": "F", "capital": "P", "context": "x"}, "context": ["A"]}\n'},
    ),
    "prompt-uses-context-case-has-none": Bad(
        ("run",),
        r"suites/capitals\.jsonl:1: ",
        "has no var 'context'",
        "give the case its passages in `context:`",
        {V1: prompt_with('"{{ context }} v1: {{ country }}"')},
    ),
    "prompt-response-format-schema-missing": Bad(
        ("run",),
        r"prompts/capitals/v1\.yaml:5: ",
        "schema file 'nope.json' not found",
        "relative to the prompt file or the project root",
        {V1: prompt_with('"v1: {{ country }}"', "\n  response_format: {schema: nope.json}")},
    ),
    "prompt-response-format-bad-schema": Bad(
        ("run",),
        r"prompts/capitals/v1\.yaml:5: ",
        "invalid JSON Schema (inline) at type",
        "json-schema.org",
        {V1: prompt_with('"v1: {{ country }}"', "\n  response_format: {schema: {type: objekt}}")},
    ),
    "prompt-response-format-anthropic-json-object": Bad(
        ("run", "-p", "claude"),
        r"prompts/capitals/v1\.yaml:5: ",
        "cannot constrain answers to any JSON object",
        "give the prompt's response_format a schema",
        {
            CONFIG: config_with('  claude: {type: anthropic, base_url: "{url}", model: c}\n'),
            V1: prompt_with('"v1: {{ country }}"', "\n  response_format: {type: json_object}"),
        },
    ),
    "scorer-citation-without-context": Bad(
        ("run",),
        r"suites/capitals\.jsonl:1: ",
        "has no `context:`",
        "or change the scorer at suites/capitals.yaml:5",
        {SUITE: suite_with(scorers="  - {type: citation}\n")},
    ),
    "scorer-faithfulness-without-context": Bad(
        ("run",),
        r"suites/capitals\.jsonl:1: ",
        "judge mode 'faithfulness' checks against the case's retrieved passages",
        "or change the scorer at suites/capitals.yaml:5",
        {SUITE: suite_with(scorers="  - {type: judge, mode: faithfulness}\n")},
    ),
    "scorer-answer-relevance-without-question": Bad(
        ("run",),
        r"suites/capitals\.yaml:5: ",
        "answer_relevance mode needs `question:`",
        "",
        {SUITE: suite_with(scorers="  - {type: judge, mode: answer_relevance}\n")},
    ),
    # -- impossible options ---------------------------------------------------------------------
    "shard-index-above-count": Bad(
        ("run", "--shard", "3/2"), r"--shard 3/2: ", "between 1 and", "1/2"
    ),
    "shard-index-zero": Bad(("run", "--shard", "0/2"), r"--shard 0/2: ", "between 1 and", "1/2"),
    "shard-count-zero": Bad(("run", "--shard", "1/0"), r"--shard 1/0: ", "", "1/4"),
    "shard-not-a-fraction": Bad(("run", "--shard", "half"), r"--shard half: ", "is not I/N", "1/4"),
    "repeat-zero": Bad(("run", "--repeat", "0"), r"", "--repeat", "evalkit run -h"),
    "concurrency-zero": Bad(("run", "-j", "0"), r"", "--concurrency", "evalkit run -h"),
    "limit-negative": Bad(("run", "--limit", "-1"), r"", "--limit", "evalkit run -h"),
    "max-cost-negative": Bad(("run", "--max-cost", "-1"), r"", "--max-cost", "evalkit run -h"),
    "fail-on-unknown": Bad(
        ("run", "--fail-on", "regresion"), r"--fail-on 'regresion'", "not a policy", "regression"
    ),
    "tag-without-value": Bad(("run", "--tag", "branch"), r"--tag 'branch'", "K=V", "--tag branch="),
    "provider-option-unknown": Bad(
        ("run", "-p", "fkae"), r"", "provider 'fkae' is not defined", "did you mean 'fake'"
    ),
    # -- conversations and tools ------------------------------------------------------------
    "prompt-tool-parameters-invalid": Bad(
        ("run",),
        rf"{V1}:11: ",
        "invalid JSON Schema in a tool's parameters at properties/city/type",
        "json-schema.org",
        {V1: prompt_with('"v1: {{ country }}"') + _TOOLS.replace("string", "strng")},
    ),
    "prompt-tool-choice-unknown-tool": Bad(
        ("run",),
        rf"{V1}:12: ",
        "tool_choice names 'get_wether', which is not in `tools`",
        "did you mean 'get_weather'",
        {
            V1: prompt_with('"v1: {{ country }}"')
            + _TOOLS
            + "tool_choice: {type: function, function: {name: get_wether}}\n"
        },
    ),
    "prompt-tools-under-params": Bad(
        ("run",),
        rf"{V1}:4: ",
        "`tools` belongs at the top level",
        "move it out of `params:`",
        {V1: prompt_with('"v1: {{ country }}"', params="{tools: []}")},
    ),
    "prompt-tools-on-a-completion-provider": Bad(
        ("run", "-p", "base"),
        rf"{V1}: ",
        "capitals@v1 declares tools, and provider 'base' runs in completion mode",
        "mode: chat",
        {
            V1: prompt_with('"v1: {{ country }}"') + _TOOLS,
            CONFIG: config_with(
                '  base: {type: openai, base_url: "{url}/v1", model: m, mode: completion}\n'
            ),
        },
    ),
    "prompt-history-var-not-messages": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "var 'chat' (the history capitals@v1 inserts) must be a list of messages",
        "role",
        {
            V1: "messages:\n  - {history: chat}\n  - {role: user, content: hi}\n",
            CASES: '{"id": "a", "vars": {"chat": "hello", "capital": "x"}}\n',
        },
    ),
    "case-turn-undefined-variable": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "case 'a': UndefinedError: 'order' is undefined",
        "add the var",
        {CASES: '{"id": "a", "vars": {"country": "x"}, "turns": ["My order {{ order }}"]}\n'},
    ),
    "case-message-bad-role": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "messages.role must be one of",
        "role: user",
        {
            CASES: '{"id": "a", "vars": {"country": "x"}, '
            '"messages": [{"role": "bot", "content": "hi"}]}\n'
        },
    ),
    "suite-tool-result-missing-result": Bad(
        ("run",),
        rf"{SUITE}:7: ",
        "tool_results: missing required key 'result'",
        "result:",
        {SUITE: suite_with(extra="tool_results:\n  - {name: get_weather}\n")},
    ),
    "scorer-tool-call-without-name": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "give the expected call's `name`, or a list of `calls`",
        "",
        {SUITE: suite_with(scorers="  - {type: tool_call, arguments: {city: x}}\n")},
    ),
    "scorer-tool-call-template-undefined": Bad(
        ("run",),
        rf"{CASES}:1: ",
        "scorer 'tool_call' arguments use {{ city }} but case 'france' has no var 'city'",
        f"{SUITE}:5",
        {
            SUITE: suite_with(
                scorers='  - {type: tool_call, name: f, arguments: {c: "{{ city }}"}}\n'
            )
        },
    ),
    "scorer-turn-zero": Bad(
        ("run",),
        rf"{SUITE}:5: ",
        "turns count from 1",
        "",
        {SUITE: suite_with(scorers="  - {type: contains, value: x, turn: 0}\n")},
    ),
    "command-unknown": Bad(("rnu",), r"", "no such command 'rnu'", "did you mean 'run'"),
    "query-bad-sql": Bad(
        ("query", "SELEC * FROM runs"), r"", "query failed", "tables:", before=RUN_FIRST
    ),
    "query-unknown-table": Bad(
        ("query", "SELECT * FROM result"),
        r"",
        "query failed",
        "did you mean 'results'",
        before=RUN_FIRST,
    ),
    "cache-explain-unknown-result": Bad(
        ("cache", "explain", "nope"), r"", "'nope'", "result id", before=RUN_FIRST
    ),
    "prompts-show-unknown": Bad(("prompts", "show", "capitals@v9"), r"", "capitals@v9", "v1, v2"),
    "providers-check-unknown": Bad(
        ("providers", "check", "fkae"), r"", "provider 'fkae' is not defined", "did you mean 'fake'"
    ),
    "report-output-under-a-file": Bad(
        ("run", "--report", "notes.txt/report.html"),
        r"notes\.txt/report\.html: ",
        "cannot write",
        "--report",
        {"notes.txt": "x\n"},
    ),
}

CATALOGUE = [pytest.param(entry, id=name) for name, entry in _ENTRIES.items()]

#: A sample that also runs as a real subprocess (the installed ``evalkit`` command).
SUBPROCESS_SAMPLE = [
    "config-provider-unknown-type",
    "prompt-template-sandbox",
    "jsonl-not-utf8",
    "jsonl-empty",
    "db-not-duckdb",
    "suite-gates-typo",
    "shard-index-above-count",
    "replay-run-lacks-cases",
]
