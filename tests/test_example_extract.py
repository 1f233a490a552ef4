"""The example project in this repository loads: every suite, prompt, schema and judge prompt
(no calls; `evalkit run` on them is measured, not asserted on time)."""

from __future__ import annotations

from pathlib import Path

from evalkit.config import Project
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import discover_suites, load_suite
from evalkit.providers.pool import ProviderPool

ROOT = Path(__file__).resolve().parents[1]


def test_the_extract_example_uses_schema_similarity_and_judge():
    project = Project.discover(ROOT)
    library = PromptLibrary([project.prompts_dir])
    suites = [
        load_suite(p, library, ProviderPool(project).ids())
        for p in discover_suites(project.suites_dir)
    ]
    by_name = {s.name: s for s in suites}
    extract = by_name["extract"]
    assert {s.type for s in extract.scorers} >= {"json_schema", "similarity", "judge"}
    schema = next(s for s in extract.scorers if s.type == "json_schema").options._schema
    assert schema["required"] == ["name", "age", "city"]
    judge = next(s for s in extract.scorers if s.type == "judge").options
    assert judge._prompt.ref == "judge-reference@v1" and judge.allow_self_judge
    assert all(case.reference for case in extract.cases)
    assert len(extract.cases) == 20 and extract.prompts[1].parent == extract.prompts[0].version
