"""A small evalkit project on disk whose providers point at a loopback fake server."""

from __future__ import annotations

import textwrap
from pathlib import Path

CAPITALS = {
    "France": "Paris",
    "Spain": "Madrid",
    "Italy": "Rome",
    "Japan": "Tokyo",
    "Egypt": "Cairo",
    "Peru": "Lima",
    "Kenya": "Nairobi",
    "Chile": "Santiago",
}

#: The fake server answers capitals right for "Capital of X?" (v2) and wrong for v1 on two
#: countries, so the two prompt versions differ.
RULES = [
    ("v1: Peru", "Quito"),
    ("v1: Kenya", "Lagos"),
    *[(f": {country}", capital) for country, capital in CAPITALS.items()],
]


def write_project(
    root: Path,
    base_url: str,
    *,
    gates: str = "{pass_rate: 0.5}",
    stream: bool = True,
    extra_config: str = "",
) -> Path:
    """evalkit.yaml, prompts/capitals/v1+v2, suites/capitals.yaml + jsonl; returns root."""

    def put(name: str, text: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    put(
        "evalkit.yaml",
        f"""
        providers:
          fake: {{type: openai, base_url: "{base_url}/v1", model: fake-model,
                  stream: {str(stream).lower()}}}
          claude: {{type: anthropic, base_url: "{base_url}", model: fake-claude}}
        defaults: {{provider: fake, concurrency: 4}}
    """,
    )
    if extra_config:
        with (root / "evalkit.yaml").open("a", encoding="utf-8") as config:
            config.write(textwrap.dedent(extra_config).lstrip("\n"))
    put(
        "prompts/capitals/v1.yaml",
        """
        description: zero-shot
        messages: [{role: user, content: "v1: {{ country }}"}]
        params: {max_tokens: 8}
    """,
    )
    put(
        "prompts/capitals/v2.yaml",
        """
        description: asks nicely
        parent: v1
        messages:
          - {role: system, content: "Answer with the city only."}
          - {role: user, content: "v2: {{ country }}"}
        params: {max_tokens: 8}
    """,
    )
    cases = "\n".join(
        f'{{"id": "{c.lower()}", "vars": {{"country": "{c}", "capital": "{cap}"}}, '
        f'"reference": "{cap}"}}'
        for c, cap in CAPITALS.items()
    )
    put("suites/capitals.jsonl", cases + "\n")
    put(
        "suites/capitals.yaml",
        f"""
        name: capitals
        prompt: [capitals@v1, capitals@v2]
        cases: capitals.jsonl
        scorers:
          - {{type: contains, value: "{{{{ capital }}}}", name: has-capital}}
          - {{type: equals}}
          - {{type: chrf}}
        gates: {gates}
    """,
    )
    return root
