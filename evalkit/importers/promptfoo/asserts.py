"""promptfoo assertions → evalkit scorers.

=========================================  =================================================
promptfoo                                  evalkit
=========================================  =================================================
``equals`` (text)                          ``equals`` with ``value``
``equals`` (an object: JSON equality)      ``json_schema`` with ``schema: {const: …}``
``contains``, ``icontains``                ``contains`` (``ignore_case``)
``contains-any``/``-all`` (and ``i…``)     ``contains`` with ``values`` + ``match: any|all``
``starts-with``                            ``regex`` ``^<escaped value>``
``regex``                                  ``regex`` (JS named groups → Python's)
``is-json``, ``contains-json`` (+schema)   ``json_schema`` (``extract: output``/``auto``)
``bleu`` (threshold 0–1, default 0.5)      ``bleu`` (0–100: × 100), the value as reference
``similar`` (threshold, default 0.75)      ``similarity`` with ``value``
``llm-rubric``                             ``judge`` (rubric; pass/fail on a 0–1 scale, or
                                           a 0–10 scale with promptfoo's threshold)
``model-graded-closedqa``                  ``judge`` (the criterion as rubric, 0–1 scale)
``latency``, ``cost`` (threshold)          ``latency``, ``cost`` (maximum)
``not-…`` of the text checks               the same with ``negate: true``
=========================================  =================================================

Assertion values may use vars (``{{ expected }}``), as in promptfoo; ``metric`` becomes the
scorer's name and ``weight`` its weight. The rest (``javascript``, ``python``, ``factuality``,
``rouge-n``, ``not-similar``, …) is reported, with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from evalkit.importers.promptfoo.providers import Providers
from evalkit.importers.promptfoo.source import (
    FILE,
    Config,
    Findings,
    Where,
    nunjucks_to_jinja,
    render_value,
)

__all__ = ["Check", "convert_assertion"]

_CODE_HINT = (
    "assertions written as code: rewrite it as an evalkit `python` scorer "
    '({type: python, function: "module:function"})'
)
_NO_NEGATE = "evalkit's {kind} scorer has no negated form"


@dataclass
class Check:
    """One converted assertion: an evalkit scorer whose ``slots`` may differ per test."""

    type: str
    options: dict[str, Any]
    #: option -> this test's value (a string, or a list of strings)
    slots: dict[str, Any] = field(default_factory=dict)
    #: the case's reference (bleu; similar with several values)
    reference: str | list[str] | None = None
    name: str | None = None
    #: The promptfoo assertion type: the scorer's name unless ``metric`` gives one.
    label: str = ""

    def shape(self) -> str:
        """What must match for two tests' checks to be one scorer of one suite."""
        slots = sorted((k, len(v) if isinstance(v, list) else None) for k, v in self.slots.items())
        return json.dumps(
            [self.type, self.options, slots, self.reference is not None, self.name, self.label],
            sort_keys=True,
            default=str,
        )


def _js_regex(pattern: str) -> str:
    """A JavaScript ``RegExp`` source in Python ``re`` syntax (named groups)."""
    pattern = re.sub(r"\(\?<(?![=!])(\w+)>", r"(?P<\1>", pattern)
    return re.sub(r"\\k<(\w+)>", r"(?P=\1)", pattern)


def _values(value: Any) -> list[str] | None:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):  # promptfoo splits a string on commas (quotes respected)
        import csv

        row = next(csv.reader([value], skipinitialspace=True), [])
        return [v.strip() for v in row]
    return None


class Assertions:
    """Converts assertions, reporting each that cannot be converted once per place."""

    def __init__(self, config: Config, providers: Providers, findings: Findings) -> None:
        self.config = config
        self.providers = providers
        self.findings = findings

    def _schema(self, value: Any, where: Where, what: str) -> Any:
        if value in (None, "", True):
            return {}
        if isinstance(value, dict):
            return value
        if isinstance(value, str) and value.startswith(FILE):
            path = self.config.expand(value, where)[0]
            return self.config.read_data(path)[0]
        if isinstance(value, str):
            import yaml

            try:
                return yaml.safe_load(value)
            except yaml.YAMLError as exc:
                self.findings.drop(where, what, f"its schema is neither JSON nor YAML: {exc}")
        return None

    def _grader(self, assertion: dict[str, Any], grader: Any, where: Where) -> str | None:
        spec = assertion.get("provider") or grader
        if isinstance(spec, dict) and "text" in spec:  # {text: ..., embedding: ...}
            spec = spec["text"]
        if spec is None:
            self.findings.note(
                where,
                "model-graded assertions",
                "no grading provider is named (promptfoo grades with OpenAI by default): evalkit "
                "uses `defaults.judge` in evalkit.yaml, else the local model, which is too small "
                "to judge; name a capable judge there",
            )
            return None
        provider = self.providers.convert(spec, where, role="grading provider")
        return provider.id if provider else None

    def convert(
        self, assertion: dict[str, Any], where: Where, test_vars: dict[str, Any], grader: Any
    ) -> Check | None:
        """The evalkit scorer for one assertion of one test, or None (reason recorded)."""
        check = self._convert(assertion, where, test_vars, grader)
        if check is not None:
            check.label = str(assertion.get("type", ""))
            for key, value in check.options.items():
                if isinstance(value, float) and value.is_integer():
                    check.options[key] = int(value)
        return check

    def _convert(
        self, assertion: dict[str, Any], where: Where, test_vars: dict[str, Any], grader: Any
    ) -> Check | None:
        kind = str(assertion.get("type", ""))
        what = f"assertion '{kind}'"
        negate = kind.startswith("not-")
        base = kind[4:] if negate else kind
        value = assertion.get("value")
        threshold = assertion.get("threshold")
        options: dict[str, Any] = {}
        if assertion.get("weight") not in (None, 1, 1.0):
            options["weight"] = float(assertion["weight"])
        name = assertion.get("metric") if isinstance(assertion.get("metric"), str) else None
        for key in ("transform", "contextTransform"):
            if key in assertion:
                self.findings.drop(where, what, f"`{key}` is code")
                return None
        if isinstance(value, str):
            converted = nunjucks_to_jinja(value, where, what, self.findings)
            if converted is None:
                return None
            value = converted

        def text_check(scorer: str, slots: dict[str, Any], **static: Any) -> Check:
            if negate:
                static["negate"] = True
            return Check(scorer, {**options, **static}, slots, name=name)

        if base == "equals":
            if isinstance(value, dict | list):
                if negate:
                    self.findings.drop(where, what, "a negated JSON equality")
                    return None
                return Check("json_schema", {**options, "schema": {"const": value}}, name=name)
            if value is None:
                self.findings.drop(where, what, "it has no value")
                return None
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            return text_check("equals", {"value": text})
        if base in ("contains", "icontains"):
            if value is None or value == "":
                self.findings.drop(where, what, "it has no value")
                return None
            return text_check(
                "contains",
                {"value": str(value)},
                **({"ignore_case": True} if base[0] == "i" else {}),
            )
        if base in ("contains-any", "contains-all", "icontains-any", "icontains-all"):
            values = _values(value)
            if not values:
                self.findings.drop(where, what, "it has no values")
                return None
            static: dict[str, Any] = {"match": base.rsplit("-", 1)[1]}
            if base.startswith("i"):
                static["ignore_case"] = True
            return text_check("contains", {"values": values}, **static)
        if base == "starts-with":
            if not isinstance(value, str | int | float):
                self.findings.drop(where, what, "it has no value")
                return None
            pattern = "^" + re.escape(render_value(str(value), test_vars))
            return text_check("regex", {"pattern": pattern})
        if base == "regex":
            if not isinstance(value, str) or not value:
                self.findings.drop(where, what, "it has no pattern")
                return None
            pattern = _js_regex(value)
            if "{{" not in pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    self.findings.drop(where, what, f"not a Python regular expression: {exc}")
                    return None
            return text_check("regex", {"pattern": pattern})
        if base in ("is-json", "contains-json"):
            if negate:
                self.findings.drop(where, what, _NO_NEGATE.format(kind="json_schema"))
                return None
            schema = self._schema(value, where, what)
            if not isinstance(schema, dict | bool):
                return None
            if base == "contains-json":
                self.findings.note(
                    where,
                    what,
                    "evalkit checks the first JSON in the output (a ```json block first); "
                    "promptfoo passes if any JSON object in it matches",
                )
            extract = "output" if base == "is-json" else "auto"
            return Check(
                "json_schema",
                {**options, "schema": {} if schema is True else schema, "extract": extract},
                name=name,
            )
        if base == "bleu":
            if negate:
                self.findings.drop(where, what, _NO_NEGATE.format(kind="bleu"))
                return None
            refs = value if isinstance(value, list) else [value] if isinstance(value, str) else None
            if not refs:
                self.findings.drop(where, what, "it has no reference text")
                return None
            self.findings.note(
                where,
                what,
                "evalkit scores BLEU with sacrebleu (0–100, smoothed sentence BLEU); the "
                "threshold is promptfoo's × 100, but the two implementations can differ near it",
            )
            t = 0.5 if threshold is None else float(threshold)
            refs = [render_value(str(r), test_vars) for r in refs]
            return Check(
                "bleu",
                {**options, "threshold": round(t * 100, 6)},
                reference=refs[0] if len(refs) == 1 else refs,
                name=name,
            )
        if base == "similar":
            if negate:
                self.findings.drop(where, what, _NO_NEGATE.format(kind="similarity"))
                return None
            if assertion.get("provider"):
                self.findings.note(where, what, "its embedding provider is not used")
            self.findings.note(
                where,
                what,
                "evalkit embeds with a local sentence-transformers model (all-MiniLM-L6-v2 by "
                "default; promptfoo with OpenAI's), so a threshold tuned on one may need "
                "adjusting on the other",
            )
            t = 0.75 if threshold is None else float(threshold)
            if isinstance(value, list):
                refs = [render_value(str(v), test_vars) for v in value]
                return Check("similarity", {**options, "threshold": t}, reference=refs, name=name)
            if not isinstance(value, str) or not value:
                self.findings.drop(where, what, "it has no value")
                return None
            return Check("similarity", {**options, "threshold": t}, {"value": value}, name=name)
        if base in ("llm-rubric", "model-graded-closedqa"):
            if negate:
                self.findings.drop(where, what, _NO_NEGATE.format(kind="judge"))
                return None
            if value is None or value == "":
                self.findings.drop(where, what, "it has no rubric")
                return None
            rubric = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            static = {"scale": [0, 1], "threshold": 1.0}
            if base == "llm-rubric" and threshold is not None:
                static = {"scale": [0, 10], "threshold": float(threshold)}
            judge = self._grader(assertion, grader, where)
            if judge:
                static["provider"] = judge
            for key in ("rubricPrompt",):
                if key in assertion:
                    self.findings.drop(where, f"{what}: {key}", "custom grading prompts")
            return Check("judge", {**options, **static}, {"rubric": rubric}, name=name)
        if base in ("latency", "cost"):
            if negate or threshold is None:
                why = "a negated budget" if negate else "it has no threshold"
                self.findings.drop(where, what, why)
                return None
            if base == "latency":
                self.findings.note(
                    where,
                    what,
                    "answers from evalkit's cache keep the latency of the call that produced "
                    "them (promptfoo fails latency assertions on cached answers)",
                )
            return Check(base, {**options, "threshold": float(threshold)}, name=name)
        if base in ("javascript", "python", "ruby", "webhook"):
            self.findings.drop(where, what, _CODE_HINT)
            return None
        self.findings.drop(where, what, f"evalkit has no '{base}' scorer")
        return None


def convert_assertion(
    assertions: Assertions,
    assertion: dict[str, Any],
    where: Where,
    test_vars: dict[str, Any],
    grader: Any = None,
) -> Check | None:
    """One assertion of one test as an evalkit scorer (see the module's table)."""
    return assertions.convert(assertion, where, test_vars, grader)
