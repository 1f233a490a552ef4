"""A deterministic stand-in judge for the retrieval-grounded modes, served by the fake server.

It reads the last question, passages and answer quoted in a judge prompt (the markers of the
package's ``judge-faithfulness``/``-answer-relevance``/``-context-relevance`` prompts) and
answers a verdict by plain rules, so tests know which verdict to expect:

* faithfulness: each sentence of the answer (citations dropped) is a claim, supported when
  it appears (case-insensitive) in a passage, which it names;
* context relevance: a passage is relevant when it shares a word of 4+ letters with the
  question;
* answer relevance: 5 when the answer shares such a word with the question, else 1.
"""

from __future__ import annotations

import json
import re
from typing import Any

_WORD = re.compile(r"[a-z]{4,}")


def _unquote(block: str) -> str:
    return "\n".join(line[2:] if line.startswith("| ") else line for line in block.splitlines())


def _last(prompt: str, tag: str) -> str | None:
    found = re.findall(rf"<{tag}>\n(.*?)\n</{tag}>", prompt, re.DOTALL)
    return found[-1] if found else None


def _passages(block: str) -> list[tuple[str, str]]:
    return [
        (pid, _unquote(text))
        for pid, text in re.findall(r'<passage id="([^"]+)">\n(.*?)\n</passage>', block, re.DOTALL)
    ]


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def grounded_verdict(prompt: str) -> str | None:
    """The verdict for a grounded judge prompt, or None for any other prompt."""
    if not prompt.rstrip().endswith("Verdict:"):
        return None
    question = _unquote(_last(prompt, "question") or "")
    context = _last(prompt, "context")
    answer = _last(prompt, "answer")
    if "supported by retrieved context passages" in prompt and context is not None and answer:
        passages = _passages(context)
        claims = []
        text = re.sub(r"\s*\[[^\]]+\]", "", _unquote(answer))
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            if not sentence.strip():
                continue
            where = next((pid for pid, body in passages if _norm(sentence) in _norm(body)), None)
            claims.append(
                {"claim": sentence.strip(), "supported": where is not None, "passage": where}
            )
        return json.dumps({"claims": claims})
    if "You judge retrieved passages" in prompt and context is not None:
        asked = _words(question)
        marks = {pid: bool(asked & _words(body)) for pid, body in _passages(context)}
        return json.dumps({"passages": marks})
    if "addresses the question" in prompt and answer is not None:
        score = 5 if _words(question) & _words(_unquote(answer)) else 1
        return json.dumps({"score": score, "rationale": "shares words with the question"})
    return None


def answer_fn(route: str, body: Any, prompt: str) -> str | None:
    """``FakeServer(answer_fn=...)``: grounded verdicts for judge prompts, else None."""
    return grounded_verdict(prompt)
