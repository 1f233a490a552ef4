"""promptfoo ``tests`` and ``defaultTest`` → test records (vars, assertions, metadata).

Tests come inline, or from ``file://`` CSV (with ``__expected``, ``__description``,
``__metric``, ``__threshold``, ``__metadata:<key>`` and ``__config:__expected<N>:threshold``
columns, parsed as promptfoo parses them), YAML/JSON (a list of tests), JSONL (one test per
line), globs and folders. Vars may be ``file://`` text (loaded as a string, trailing newline
removed) or YAML/JSON (parsed); a list of strings expands into one test per value (every
combination, as promptfoo does); vars that refer to other vars (``'a {{topic}}'``) are
resolved. ``defaultTest`` vars sit under each test's, its assertions apply to every test
(unless ``options.disableDefaultAsserts``).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.importers.promptfoo.source import FILE, Config, Findings, Where

__all__ = ["Test", "assertion_from_string", "load_tests"]

#: promptfoo's base assertion types (``not-`` may precede any).
BASE_TYPES = [
    "answer-relevance", "bleu", "classifier", "contains", "contains-all", "contains-any",
    "contains-html", "contains-json", "contains-sql", "contains-xml", "context-faithfulness",
    "context-recall", "context-relevance", "conversation-relevance", "cost", "equals",
    "factuality", "finish-reason", "g-eval", "gleu", "guardrails", "icontains", "icontains-all",
    "icontains-any", "is-html", "is-json", "is-refusal", "is-sql", "is-valid-function-call",
    "is-valid-openai-function-call", "is-valid-openai-tools-call", "is-xml", "javascript",
    "latency", "levenshtein", "llm-rubric", "meteor", "model-graded-closedqa",
    "model-graded-factuality", "moderation", "perplexity", "perplexity-score", "pi", "python",
    "regex", "rouge-n", "ruby", "select-best", "similar", "starts-with", "tool-call-f1",
    "webhook", "word-count",
]  # fmt: skip
_ASSERTION = re.compile(
    r"^(not-)?(" + "|".join(sorted(map(re.escape, BASE_TYPES), key=len, reverse=True)) + r")"
    r"(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
)
_THRESHOLD_TYPES = {
    "answer-relevance", "classifier", "context-faithfulness", "context-recall",
    "context-relevance", "cost", "latency", "levenshtein", "perplexity-score", "perplexity",
    "rouge-n", "similar", "starts-with",
}  # fmt: skip
_LISTS = {"contains-all", "contains-any", "icontains-all", "icontains-any"}


def assertion_from_string(expected: str) -> dict[str, Any]:
    """An assertion written as a string (``contains: Paris``, ``similar(0.9):text``,
    ``not-regex:^x``; anything else is ``equals``), as promptfoo reads CSV cells."""
    for prefix in ("javascript:", "fn:", "eval:"):
        if expected.startswith(prefix):
            return {"type": "javascript", "value": expected[len(prefix) :].strip()}
    if expected.startswith(("grade:", "llm-rubric:")):
        return {"type": "llm-rubric", "value": expected.split(":", 1)[1].strip()}
    if expected.startswith("python:"):
        return {"type": "python", "value": expected[len("python:") :].strip()}
    if expected.startswith(FILE) and re.search(r"\.(py|js|ts|mjs|cjs)(:\w+)?$", expected):
        kind = "python" if ".py" in expected else "javascript"
        return {"type": kind, "value": expected[len(FILE) :].strip()}
    match = _ASSERTION.match(expected)
    if not match:
        return {"type": "equals", "value": expected}
    negate, kind, threshold, value = match.groups()
    out: dict[str, Any] = {"type": f"{negate or ''}{kind}"}
    if kind in _LISTS:
        out["value"] = [v.strip() for v in value.split(",")] if value else value
    elif kind in ("contains-json", "is-json"):
        out["value"] = value
    else:
        out["value"] = value.strip() if value is not None else None
        if kind in _THRESHOLD_TYPES:
            out["threshold"] = (
                float(threshold) if threshold else (0.8 if kind == "similar" else 0.75)
            )
    return out


@dataclass
class Test:
    """One promptfoo test after ``defaultTest`` is applied and its vars are expanded."""

    where: Where
    description: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    #: (assertion, where it was written)
    asserts: list[tuple[dict[str, Any], Where]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The grading provider (``options.provider``), if any.
    grader: Any = None


# -- reading --------------------------------------------------------------------------------
def _csv_tests(config: Config, path: Path, where: Where) -> list[tuple[dict[str, Any], Where]]:
    text = config.read_text(path, where).lstrip("\ufeff")
    shown = str(path.relative_to(config.root)) if path.is_relative_to(config.root) else str(path)
    reader = csv.DictReader(io.StringIO(text))
    out = []
    for row in reader:
        line = reader.line_num
        vars_: dict[str, Any] = {}
        asserts: list[dict[str, Any]] = []
        test: dict[str, Any] = {"vars": vars_, "assert": asserts, "metadata": {}}
        configs: dict[int, dict[str, Any]] = {}
        metric = None
        for key, value in row.items():
            key = (key or "").strip()
            value = value or ""
            if key.startswith("__expected"):
                if value.strip():
                    asserts.append(assertion_from_string(value.strip()))
            elif key == "__description":
                test["description"] = value
            elif key == "__metric":
                metric = value
            elif key == "__threshold":
                test["threshold"] = value
            elif key in ("__prefix", "__suffix"):
                if value:
                    test.setdefault("options", {})[key[2:]] = value
            elif key == "__providerOutput":
                if value:
                    test["providerOutput"] = value
            elif key.startswith("__metadata:"):
                name = key[len("__metadata:") :]
                if name.endswith("[]") and value.strip():
                    parts = re.split(r"(?<!\\),", value)
                    test["metadata"][name[:-2]] = [p.strip().replace("\\,", ",") for p in parts]
                elif value.strip():
                    test["metadata"][name] = value
            elif key.startswith("__config:"):
                target, _, option = key[len("__config:") :].partition(":")
                index = 0 if target == "__expected" else int(target[len("__expected") :] or 1) - 1
                configs.setdefault(index, {})[option] = float(value)
            elif key and not key.startswith("__"):
                vars_[key] = value
        for i, assertion in enumerate(asserts):
            if metric:
                assertion["metric"] = metric
            assertion.update(configs.get(i, {}))
        out.append((test, Where(shown, line)))
    return out


def _file_tests(
    config: Config, ref: str, where: Where, findings: Findings
) -> list[tuple[Any, Where]]:
    path = config.path_of(ref)
    paths = (
        sorted(
            p
            for p in path.rglob("*")
            if p.suffix.lower() in (".csv", ".yaml", ".yml", ".json", ".jsonl")
        )
        if path.is_dir()
        else config.expand(ref, where)
    )
    out: list[tuple[Any, Where]] = []
    for file in paths:
        suffix = file.suffix.lower()
        shown = (
            str(file.relative_to(config.root)) if file.is_relative_to(config.root) else str(file)
        )
        if suffix == ".csv":
            out.extend(_csv_tests(config, file, where))
        elif suffix == ".jsonl":
            for number, line in enumerate(config.read_text(file, where).splitlines(), start=1):
                if line.strip():
                    out.append((json.loads(line), Where(shown, number)))
        elif suffix in (".yaml", ".yml", ".json"):
            data, lines = config.read_data(file)
            items = data if isinstance(data, list) else [data]
            out.extend(
                (item, Where(shown, lines.line((i,) if isinstance(data, list) else ())))
                for i, item in enumerate(items)
            )
        else:
            findings.drop(
                where, f"tests {ref}", f"test generators and {suffix} files are code or binary"
            )
    return out


Raw = tuple[Any, Where, "tuple[str | int, ...] | None"]


def _raw_tests(config: Config, findings: Findings) -> list[Raw]:
    """(test, where, its location in the config when inline) for every test."""
    spec = config.data.get("tests")
    if spec is None:
        return []
    items: list[tuple[Any, Where, tuple[str | int, ...]]] = (
        [(spec, config.where("tests"), ("tests",))]
        if isinstance(spec, str)
        else [(item, config.where("tests", i), ("tests", i)) for i, item in enumerate(spec)]
    )
    out: list[Raw] = []
    for item, where, loc in items:
        if isinstance(item, str):
            if item.startswith(FILE):
                out.extend((t, w, None) for t, w in _file_tests(config, item, where, findings))
            else:
                findings.drop(where, f"tests {item}", "only file:// test files can be imported")
        elif isinstance(item, dict) and "path" in item and "vars" not in item:
            findings.drop(where, f"tests {item['path']}", "test generators are code")
        else:
            out.append((item, where, loc))
    return out


# -- vars -------------------------------------------------------------------------------------
def _load_var(config: Config, name: str, value: Any, where: Where, findings: Findings) -> list[Any]:
    """The value(s) of one var: files loaded, globs and string lists expanded."""
    if isinstance(value, str) and value.startswith(FILE):
        values = []
        for path in config.expand(value, where):
            suffix = path.suffix.lower()
            if suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
                findings.drop(where, f"var '{name}' ({value})", "vars computed by code")
                return [value]
            if suffix in (".yaml", ".yml", ".json"):
                values.append(config.read_data(path)[0])
            else:
                values.append(config.read_text(path, where).removesuffix("\n"))
        return values
    if isinstance(value, list) and value and isinstance(value[0], str):
        return list(value)
    return [value]


_SIMPLE = re.compile(r"{{\s*(\w+)\s*}}")


def _resolve_vars(variables: dict[str, Any]) -> dict[str, Any]:
    """Vars that refer to other vars, substituted (promptfoo's ``resolveVariables``)."""
    for _ in range(5):
        changed = False
        for key, value in variables.items():
            if isinstance(value, str):
                match = _SIMPLE.search(value)
                if (
                    match
                    and isinstance(variables.get(match.group(1)), str)
                    and match.group(1) != key
                ):
                    variables[key] = value.replace(match.group(0), variables[match.group(1)], 1)
                    changed = True
        if not changed:
            break
    return variables


def _expand(
    config: Config, variables: dict[str, Any], where: Where, findings: Findings
) -> list[dict[str, Any]]:
    names = list(variables)
    choices = [_load_var(config, n, variables[n], where, findings) for n in names]
    out = []
    for combo in itertools.product(*choices):
        out.append(_resolve_vars(dict(zip(names, combo, strict=True))))
    return out


# -- tests --------------------------------------------------------------------------------------
def _asserts(
    raw: Any, where: Where, lines_from: tuple[Config, tuple[str | int, ...]] | None
) -> list[tuple[dict[str, Any], Where]]:
    if not isinstance(raw, list):
        return []
    out = []
    for i, item in enumerate(raw):
        at = where
        if lines_from is not None:
            config, loc = lines_from
            at = config.where(*loc, i)
        if isinstance(item, str):
            item = assertion_from_string(item)
        out.append((item, at))
    return out


def load_tests(config: Config, findings: Findings) -> list[Test]:
    """Every test of the config, ``defaultTest`` applied and vars expanded."""
    default = config.data.get("defaultTest") or {}
    default_lines: tuple[Config, tuple[str | int, ...]] | None = (config, ("defaultTest", "assert"))
    if isinstance(default, str) and default.startswith(FILE):
        default, _ = config.read_data(config.path_of(default))
        default_lines = None
    default = default if isinstance(default, dict) else {}
    dwhere = config.where("defaultTest")
    default_asserts = _asserts(default.get("assert"), dwhere, default_lines)
    default_vars = default.get("vars") or {}
    default_options = default.get("options") or {}
    for key in ("threshold", "provider", "providers", "assertScoringFunction"):
        if key in default:
            findings.drop(
                dwhere, f"defaultTest.{key}", _TEST_KEYS.get(key, "no evalkit equivalent")
            )
    tests: list[Test] = []
    for raw, where, loc in _raw_tests(config, findings):
        if not isinstance(raw, dict):
            findings.drop(where, "test", f"not a mapping: {raw!r}")
            continue
        lines = (config, (*loc, "assert")) if loc is not None else None
        options = {**default_options, **(raw.get("options") or {})}
        own = _asserts(raw.get("assert"), where, lines)
        asserts = own if options.get("disableDefaultAsserts") else [*default_asserts, *own]
        for key in raw:
            if key in _TEST_KEYS:
                at = config.where(*loc, key) if loc is not None else where
                findings.drop(at, f"test {key}", _TEST_KEYS[key])
        for key in options:
            if key in _OPTION_KEYS:
                at = config.where(*loc, "options", key) if loc is not None else where
                findings.drop(at, f"test options.{key}", _OPTION_KEYS[key])
        variables = raw.get("vars") or {}
        if isinstance(variables, str) and variables.startswith(FILE):
            loaded: dict[str, Any] = {}
            for path in config.expand(variables, where):
                data, _ = config.read_data(path)
                loaded.update(data if isinstance(data, dict) else {})
            variables = loaded
        merged = {**default_vars, **(variables if isinstance(variables, dict) else {})}
        metadata = {**(default.get("metadata") or {}), **(raw.get("metadata") or {})}
        for expanded in _expand(config, merged, where, findings):
            tests.append(
                Test(
                    where=where,
                    description=raw.get("description"),
                    vars=expanded,
                    asserts=asserts,
                    metadata=metadata,
                    grader=options.get("provider"),
                )
            )
    return tests


_TEST_KEYS = {
    "threshold": "a test passes in evalkit when every pass/fail assertion passes (no score "
    "threshold over weighted assertions)",
    "provider": "every test runs on the suite's providers",
    "providers": "every test runs on the suite's providers",
    "providerOutput": "tests with a fixed output are not run (use `evalkit run --replay`)",
    "assertScoringFunction": "custom scoring functions are code",
}
_OPTION_KEYS = {
    "transform": "output transforms are code: the assertions see the raw output",
    "postprocess": "output transforms are code: the assertions see the raw output",
    "prefix": "prompt prefixes: put the text in the prompt version",
    "suffix": "prompt suffixes: put the text in the prompt version",
    "rubricPrompt": "custom grading prompts: evalkit's judge takes a prompt version "
    "(`prompt:` on the judge scorer)",
    "storeOutputAs": "outputs fed to later tests",
    "runSerially": "evalkit orders calls itself",
}
