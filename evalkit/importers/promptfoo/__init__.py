"""``evalkit import promptfoo promptfooconfig.yaml [--out DIR]``.

Reads a promptfoo config with the files it names (prompts, tests, vars, schemas) and writes
an evalkit project: ``evalkit.yaml`` (providers), ``prompts/<name>/v1.yaml`` … (one version
per promptfoo prompt, so two prompts compare as ``<name>@v1`` → ``<name>@v2``) and
``suites/<name>.yaml`` with its cases in ``suites/<name>.jsonl``. What it cannot convert is
reported per provider, prompt and assertion with the file and line, and why; what it
converts with a difference in behaviour is reported as a note. The written project is loaded
back before returning, so a conversion that evalkit could not run is an error here, not at
``evalkit run``.

The modules: ``source`` (files, ``$ref``, Nunjucks → Jinja2), ``prompts``, ``providers``,
``tests`` (inline, CSV, files, vars), ``asserts`` (the assertion table) and ``convert``
(grouping into suites, the files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.errors import InputError

__all__ = ["import_promptfoo"]


def _check_loads(out: Path, suites: list[str]) -> None:
    """Load the written project as ``evalkit run`` would (providers, prompts, suites)."""
    from evalkit.config import Project
    from evalkit.load.prompts import project_library
    from evalkit.load.suites import load_suite
    from evalkit.providers.pool import ProviderPool

    project = Project.load(out / "evalkit.yaml")
    pool = ProviderPool(project)
    for pid in pool.ids():
        pool.get(pid)  # validates each provider's options
    library = project_library(project)
    for name in suites:
        load_suite(out / "suites" / f"{name}.yaml", library, pool.ids())


def import_promptfoo(
    config: str | Path, *, out: str | Path = ".", name: str | None = None, force: bool = False
) -> dict[str, Any]:
    """Convert a promptfoo config into evalkit files under ``out``; returns what was
    written and what was not converted (``evalkit.import/1`` data). Existing files are
    an input error unless ``force``."""
    from evalkit.importers.promptfoo.convert import files, plan
    from evalkit.load.source import display_path

    config_path = Path(config)
    result = plan(config_path, name)
    if not result.prompts:
        raise InputError(
            "no prompt could be converted",
            path=display_path(config_path),
            fix="see the reasons above; evalkit needs at least one prompt",
        )
    target = Path(out)
    written = files(result, display_path(config_path))
    existing = [rel for rel in written if (target / rel).exists()]
    if existing and not force:
        raise InputError(
            f"{len(existing)} file(s) would be overwritten in {display_path(target)}: "
            + ", ".join(existing[:5])
            + (" …" if len(existing) > 5 else ""),
            fix="choose another folder with --out DIR, or pass --force to overwrite them",
        )
    for rel, text in written.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    _check_loads(target, [s.name for s in result.suites])
    findings = result.findings.items
    first = result.suites[0].name
    refs = [f"{result.name}@v{i}" for i in range(1, len(result.prompts) + 1)]
    next_steps = ["evalkit run" + ("" if target == Path(".") else f"  (in {target})")]
    if len(refs) >= 2:
        next_steps.append(f"evalkit compare --prompt {refs[0]} --prompt {refs[1]} {first}")
    return {
        "schema": "evalkit.import/1",
        "source": display_path(config_path),
        "out": str(target),
        "written": list(written),
        "providers": [
            {"id": p.id, "from": p.source, "type": p.spec["type"], "model": p.spec.get("model")}
            for p in result.providers + result.graders
        ],
        "prompts": [
            {"ref": ref, "label": p.label, "from": str(p.where)}
            for ref, p in zip(refs, result.prompts, strict=True)
        ],
        "suites": [
            {
                "name": s.name,
                "path": f"suites/{s.name}.yaml",
                "cases": len(s.cases),
                "scorers": [sc.get("name") or sc["type"] for sc in s.scorers],
            }
            for s in result.suites
        ],
        "not_converted": [f.as_json() for f in findings if f.dropped],
        "notes": [f.as_json() for f in findings if not f.dropped],
        "next": next_steps,
    }
