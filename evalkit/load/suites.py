"""Suites: ``suites/<name>.yaml`` with cases inline or in a JSONL/CSV file next to it.

Everything is checked here, before any call is made: keys, types, scorer options (by each
scorer type's own model), prompt references, duplicate case ids, and what each scorer needs
from the cases. Every error names the file and line.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evalkit.errors import InputError, NotFoundError, did_you_mean
from evalkit.load.context import context_from_csv, load_context
from evalkit.load.margins import load_margin
from evalkit.load.prompts import (
    PromptLibrary,
    check_template,
    parse_ref,
    render_template,
    template_variables,
)
from evalkit.load.source import LineMap, display_path, read_text, read_yaml, validate
from evalkit.load.tools import HistoryMessage, as_messages, scripted_results
from evalkit.records import Case, Gates, PromptVersion, ScorerSpec, Suite, content_hash
from evalkit.registry import SCORERS

__all__ = ["case_from_mapping", "discover_suites", "load_suite", "suite_paths"]


class _GatesModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pass_rate: float | None = Field(default=None, ge=0, le=1)
    #: Lowest mean weighted score (each result: the weighted share of its pass/fail scorers
    #: that passed, by the scorers' ``weight``).
    score: float | None = Field(default=None, ge=0, le=1)
    latency_p95_ms: float | None = Field(default=None, gt=0)
    ttft_p95_ms: float | None = Field(default=None, gt=0)
    cost_usd: float | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)


class _SuiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str | None = None
    prompt: str | list[str]
    providers: str | list[str] | None = None
    cases: str | list[Any]
    repeat: int = Field(default=1, ge=1, le=1000)
    scorers: list[Any] = Field(default_factory=list)
    gates: _GatesModel = Field(default_factory=_GatesModel)
    equivalence_margin: Any = None  # checked by load.margins, with the suite's scorers
    #: Scripted tool answers for every case (after each case's own).
    tool_results: list[Any] = Field(default_factory=list)
    #: Requests per turn at most in an agent loop (a case's own ``max_steps`` wins).
    max_steps: int | None = Field(default=None, ge=1, le=50)

    @field_validator("prompt")
    @classmethod
    def _nonempty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("name at least one prompt version")
        return value


class _CaseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | int | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    reference: str | list[str] | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: The conversation so far, sent after the prompt's messages.
    messages: list[HistoryMessage] = Field(default_factory=list)
    #: User turns, each appended and answered in order (templates over the case's vars).
    turns: list[str] = Field(default_factory=list)
    tool_results: list[Any] = Field(default_factory=list)
    max_steps: int | None = Field(default=None, ge=1, le=50)
    context: Any = None  # checked by load.context


_SUITE_EXAMPLES = {
    "prompt": "prompt: [support@v1, support@v2]",
    "cases": "cases: support.jsonl",
    "repeat": "repeat: 1",
    "pass_rate": "pass_rate: 0.8",
    "latency_p95_ms": "latency_p95_ms: 5000",
    "cost_usd": "cost_usd: 0.50",
}
_CASE_EXAMPLES = {
    "vars": 'vars: {country: "France"}',
    "reference": 'reference: "Paris"',
    "tags": "tags: [europe]",
    "id": "id: france",
    "turns": 'turns: ["Hi, I need help.", "My order {{ order }} is late."]',
    "messages": 'messages: [{role: user, content: "Hi"}, {role: assistant, content: "Hello!"}]',
    "role": "role: user",
    "max_steps": "max_steps: 5",
}


def _renderer(variables: dict[str, Any], case_id: str, source: str, line: int | None) -> Any:
    """Render a case's turn, message or tool result with its vars: a template error names
    the line, a render error (an undefined var) the case."""

    def render(template: str, where: LineMap, loc: tuple[str | int, ...]) -> str:
        if "{{" not in template and "{%" not in template:
            return template
        check_template(template, where, loc)
        try:
            return render_template(template, variables)
        except Exception as exc:
            text = getattr(exc, "message", None) or str(exc)
            raise InputError(
                f"case '{case_id}': {type(exc).__name__}: {text}",
                path=where.path or source,
                line=where.line(loc) or line,
                fix="add the var to the case's `vars`, or fix the template",
            ) from None

    return render


def _with_script(case: Case, digest_of: dict[str, Any]) -> Case:
    """The case with its hash over its conversation script too (plain cases keep theirs)."""
    script = case.conversation
    if script is None:
        return case
    return dataclasses.replace(case, hash=content_hash({**digest_of, "conversation": script}))


def case_from_mapping(data: Any, lines: LineMap, source: str) -> Case:
    """Validate one case (inline, JSONL or CSV row) and give it its id and hash."""
    if not isinstance(data, dict):
        raise lines.error(
            (), "a case must be a mapping", fix='e.g. {"id": "c1", "vars": {"q": "..."}}'
        )
    model = validate(
        _CaseModel,
        data,
        lines,
        what="case",
        examples=_CASE_EXAMPLES,
    )
    context = load_context(model.context, lines, model.vars)
    content: dict[str, Any] = {"vars": model.vars, "reference": model.reference}
    if context is not None:
        content["context"] = [p.as_dict() for p in context]
    digest = content_hash(content)
    case_id = str(model.id) if model.id is not None and str(model.id) else f"case-{digest[:10]}"
    render = _renderer(model.vars, case_id, source, lines.line(()))
    case = Case(
        id=case_id,
        hash=digest,
        vars=model.vars,
        reference=model.reference,
        tags=tuple(model.tags),
        metadata=model.metadata,
        source=source,
        line=lines.line(()),
        messages=tuple(as_messages(model.messages, render, lines.sub("messages"))),
        turns=tuple(render(t, lines, ("turns", i)) for i, t in enumerate(model.turns)),
        tool_results=tuple(scripted_results(model.tool_results, lines.sub("tool_results"), render)),
        max_steps=model.max_steps,
        context=context,
    )
    return _with_script(case, content)


def _add_suite_script(cases: list[Case], model: _SuiteFile, lines: LineMap) -> list[Case]:
    """The suite's ``tool_results`` (after each case's own) and ``max_steps``, folded into
    every case, so that a case's hash covers the script it was run with."""
    if not model.tool_results and model.max_steps is None:
        return cases
    out = []
    for case in cases:
        render = _renderer(case.vars, case.id, case.source, case.line)
        shared = scripted_results(model.tool_results, lines.sub("tool_results"), render)
        replaced = dataclasses.replace(
            case,
            tool_results=(*case.tool_results, *shared),
            max_steps=case.max_steps or model.max_steps,  # the case's own wins
        )
        content: dict[str, Any] = {"vars": case.vars, "reference": case.reference}
        if case.context is not None:
            content["context"] = [p.as_dict() for p in case.context]
        out.append(_with_script(replaced, content))
    return out


_JSONL_FIX = (
    'one JSON object per line, e.g. {"id": "c1", "vars": {"question": "..."}, "reference": "..."}'
)


def _jsonl_lines(path: Path, shown: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of a JSONL file, read a line at a time (never whole, so a large
    file costs no more memory than its cases); bytes that are not UTF-8 are an
    ``InputError`` at their line and column, as ``read_text`` reports them."""
    try:
        file = path.open("rb")
    except OSError:
        read_text(path, shown=shown)  # the same message as for any other file
        raise
    with file:
        for number, data in enumerate(file, start=1):
            if number == 1 and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
            try:
                yield number, data.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = data[exc.start : exc.start + 1].hex()
                raise InputError(
                    f"not UTF-8 text (byte 0x{byte} at column {exc.start + 1})",
                    path=shown,
                    line=number,
                    fix="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                ) from None


def _read_jsonl(path: Path, shown: str) -> Iterable[Case]:
    for number, raw in _jsonl_lines(path, shown):
        if not raw.strip() or raw.lstrip().startswith("//"):
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON: {exc.msg} (column {exc.colno})",
                path=shown,
                line=number,
                fix=_JSONL_FIX,
            ) from None
        yield case_from_mapping(data, LineMap(shown, {(): number}), shown)


def _read_csv(path: Path, shown: str) -> Iterable[Case]:
    """CSV: a header row; columns ``id``, ``reference``, ``tags`` (separated by ``;``),
    ``metadata.<key>``, ``context`` (a JSON list of passages, or one passage's text); every
    other column (or ``vars.<key>``) is a var."""
    text = read_text(path, shown=shown, encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InputError(
            "CSV file has no header row",
            path=shown,
            line=1,
            fix="first line: id,reference,<var names>",
        )
    line = 1
    for row in reader:
        line = reader.line_num
        case: dict[str, Any] = {"vars": {}, "metadata": {}}
        for key, value in row.items():
            if key is None:
                raise InputError(
                    "row has more fields than the header",
                    path=shown,
                    line=line,
                    fix="quote fields that contain commas",
                )
            key = key.strip()
            if key == "id":
                case["id"] = value
            elif key == "reference":
                case["reference"] = value
            elif key == "tags":
                case["tags"] = [t.strip() for t in (value or "").split(";") if t.strip()]
            elif key == "context":
                case["context"] = context_from_csv(value, shown, line)
            elif key.startswith("metadata."):
                case["metadata"][key[len("metadata.") :]] = value
            else:
                case["vars"][key.removeprefix("vars.")] = value
        yield case_from_mapping(case, LineMap(shown, {(): line}), shown)


def _load_cases(spec: str | list[Any], suite_path: Path, lines: LineMap) -> list[Case]:
    if isinstance(spec, list):
        return [
            case_from_mapping(item, lines.sub("cases", i), lines.path)
            for i, item in enumerate(spec)
        ]
    path = (suite_path.parent / spec).resolve()
    if not path.is_file():
        raise lines.error(
            ("cases",),
            f"case file '{spec}' not found (looked in {display_path(path.parent)})",
            fix="give a path relative to the suite file, or list the cases inline",
        )
    shown = display_path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        cases, fix = list(_read_jsonl(path, shown)), _JSONL_FIX
    elif path.suffix.lower() == ".csv":
        cases, fix = list(_read_csv(path, shown)), "one row per case after the header row"
    else:
        raise lines.error(
            ("cases",), f"unsupported case file type '{path.suffix}'", fix="use .jsonl or .csv"
        )
    if not cases:
        raise InputError("the case file has no cases", path=shown, fix=fix)
    return cases


def _check_unique(cases: list[Case]) -> None:
    seen: dict[str, Case] = {}
    for case in cases:
        if case.id in seen:
            first = seen[case.id]
            raise InputError(
                f"duplicate case id '{case.id}' (first at line {first.line})",
                path=case.source,
                line=case.line,
                fix="give every case its own `id`",
            )
        seen[case.id] = case


def _load_scorers(
    items: list[Any], lines: LineMap, cases: list[Case], path: Path, known: set[str]
) -> list[ScorerSpec]:
    specs: list[ScorerSpec] = []
    counts: dict[str, int] = {}
    names: set[str] = set()
    for i, item in enumerate(items):
        where = lines.sub("scorers", i)
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise where.error(
                (),
                "a scorer needs a `type`",
                fix=f"e.g. `- {{type: contains, value: ...}}`; types: {', '.join(SCORERS.names())}",
            )
        kind = item["type"]
        if kind not in SCORERS:
            raise where.error(
                ("type",),
                f"unknown scorer type '{kind}'",
                fix=did_you_mean(
                    kind, SCORERS.names(), also=f"use one of: {', '.join(SCORERS.names())}"
                ),
            )
        cls = SCORERS.get(kind)
        options = validate(cls.Options, item, where, what=f"scorer '{kind}'", examples=cls.examples)
        _check_templated(cls, options, where, cases)
        provider = getattr(options, "provider", None)  # a judge's provider id
        if known and isinstance(provider, str) and provider not in known:
            raise where.error(
                ("provider",),
                f"scorer '{kind}': provider '{provider}' is not defined in evalkit.yaml",
                fix=did_you_mean(
                    provider, sorted(known), also=f"use one of: {', '.join(sorted(known))}"
                ),
            )
        counts[kind] = counts.get(kind, 0) + 1
        label = getattr(options, cls.label_option, None)
        name = label or (kind if counts[kind] == 1 else f"{kind}-{counts[kind]}")
        if name in names:
            key = cls.label_option
            raise where.error(
                (key,), f"two scorers are named '{name}'", fix=f"give each a distinct `{key}:`"
            )
        names.add(name)
        cls.resolve(options, where, path)
        problem = cls.check(options, cases)
        if problem:
            case, message = problem
            raise InputError(
                message,
                path=case.source,
                line=case.line,
                fix=f"or change the scorer at {where.path}:{where.line(())}",
            )
        specs.append(ScorerSpec(type=kind, name=name, options=options, line=where.line(())))
    return specs


def _check_templated(cls: Any, options: Any, where: LineMap, cases: list[Case]) -> None:
    """Scorer options that use the case's vars (``value: "{{ capital }}"``): each template
    compiles, stays inside the sandbox, and every case has the vars it uses."""
    for key in cls.templated:
        value = getattr(options, key, None)
        templates = value if isinstance(value, list) else [value]
        for i, template in enumerate(templates):
            if not isinstance(template, str) or ("{{" not in template and "{%" not in template):
                continue
            loc = (key, i) if isinstance(value, list) else (key,)
            check_template(template, where, loc)
            needed = template_variables(template)
            for case in cases:
                missing = sorted(needed - set(case.vars))
                if missing:
                    raise InputError(
                        f"scorer '{options.type}' option `{key}` uses {{{{ {missing[0]} }}}} "
                        f"but case '{case.id}' has no var '{missing[0]}'",
                        path=case.source,
                        line=case.line,
                        fix=did_you_mean(
                            missing[0],
                            case.vars,
                            also=f"add it to the case, or change the scorer at "
                            f"{where.path}:{where.line(loc)}",
                        ),
                    )


def load_suite(path: Path, library: PromptLibrary, provider_ids: Iterable[str] = ()) -> Suite:
    """Read, validate and resolve one suite file."""
    shown = display_path(path)
    data, lines = read_yaml(path, shown=shown)
    if not isinstance(data, dict):
        raise InputError(
            "the suite file is empty" if data is None else "a suite must be a mapping",
            path=shown,
            line=1,
            fix="start with `name:`, `prompt:`, `cases:`",
        )
    model = validate(_SuiteFile, data, lines, what="suite", examples=_SUITE_EXAMPLES)
    refs = [model.prompt] if isinstance(model.prompt, str) else list(model.prompt)
    prompts: list[PromptVersion] = []
    for i, ref in enumerate(refs):
        loc: tuple[str | int, ...] = (
            ("prompt", i) if isinstance(model.prompt, list) else ("prompt",)
        )
        try:
            parse_ref(ref)
            version = library.get(ref)
        except InputError as exc:
            if exc.path:  # an error inside the prompt file: it names its own file and line
                raise
            raise lines.error(loc, exc.message, exc.fix) from None
        if version.ref in {p.ref for p in prompts}:
            raise lines.error(loc, f"prompt {version.ref} is listed twice", fix="list it once")
        prompts.append(version)
    providers = [model.providers] if isinstance(model.providers, str) else (model.providers or [])
    known = set(provider_ids)
    for i, pid in enumerate(providers):
        if known and pid not in known:
            loc = ("providers", i) if isinstance(model.providers, list) else ("providers",)
            raise lines.error(
                loc,
                f"provider '{pid}' is not defined in evalkit.yaml",
                fix=did_you_mean(
                    pid, sorted(known), also=f"use one of: {', '.join(sorted(known))}"
                ),
            )
    cases = _load_cases(model.cases, path, lines)
    if not cases:
        raise lines.error(("cases",), "the suite has no cases", fix="add at least one case")
    _check_unique(cases)
    cases = _add_suite_script(cases, model, lines)
    scorers = _load_scorers(model.scorers, lines, cases, path, known)
    case_source = ""
    if isinstance(model.cases, str):
        case_source = read_text(path.parent / model.cases)
    return Suite(
        name=model.name or path.stem,
        path=path,
        prompts=tuple(prompts),
        providers=tuple(providers),
        cases=tuple(cases),
        scorers=tuple(scorers),
        repeat=model.repeat,
        gates=Gates(**model.gates.model_dump()),
        equivalence_margin=load_margin(model.equivalence_margin, scorers, lines),
        description=model.description,
        hash=content_hash({"suite": read_text(path, shown=shown), "cases": case_source}),
        shown_path=shown,
    )


def discover_suites(folder: Path) -> list[Path]:
    """Every suite file in ``folder`` (``*.yaml``/``*.yml``), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def suite_paths(project: Any, names: Sequence[str]) -> list[Path]:
    """The suite files named (paths, or names in suites/), or every suite in suites/."""
    if not names:
        found = discover_suites(project.suites_dir)
        if not found:
            raise InputError(
                f"no suites in {project.suites_dir}",
                fix="name a suite file, or create suites/<name>.yaml (see `evalkit init`)",
            )
        return found
    paths = []
    for name in names:
        path = Path(name)
        if not path.exists():
            for candidate in (project.suites_dir / name, project.suites_dir / f"{name}.yaml"):
                if candidate.is_file():
                    path = candidate
                    break
        if not path.is_file():
            names = [p.stem for p in discover_suites(project.suites_dir)]
            raise NotFoundError(
                f"suite '{name}' not found",
                fix=did_you_mean(
                    name,
                    names,
                    also=f"give a path, or a name from {display_path(project.suites_dir)}"
                    + (f" ({', '.join(names)})" if names else ""),
                ),
            )
        paths.append(path)
    return paths
