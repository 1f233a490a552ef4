"""report (transcripts): conversations and agent loops in the terminal, request by request.

``evalkit run`` shows a few (failed ones first); ``evalkit runs show RUN`` more, or one case's
(``--case``); ``--json`` has them all (``transcripts``). Each request shows what it added to
the conversation (a user turn, or tool results), the tool calls in its reply, and the reply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from evalkit.contracts import Transcript, TranscriptStep

__all__ = ["render_transcripts"]

_WIDTH = 110


def _clip(text: Any, width: int = _WIDTH) -> str:
    value = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    value = " ".join(value.split())
    return escape(value if len(value) <= width else value[: width - 1] + "…")


def _order(transcripts: Iterable[Transcript]) -> list[Transcript]:
    """Failed first, then undecided, then passed (each in case order)."""
    rank = {False: 0, None: 1, True: 2}
    return sorted(transcripts, key=lambda t: rank[t.passed])


def _sent(step: TranscriptStep) -> list[str]:
    """The lines of what a request added: the first request's last user message (the
    prompt's own messages are in the prompt file), then user turns and tool results."""
    messages = step.messages
    if step.step == 1:
        users = [m for m in messages if m.get("role") == "user"]
        messages = users[-1:]
        earlier = len(step.messages) - len(messages)
        plural = "s" if earlier != 1 else ""
        lines = [f"[dim]({earlier} earlier message{plural})[/]"] if earlier else []
    else:
        lines = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            name = message.get("name") or message.get("tool_call_id") or "tool"
            lines.append(f"[cyan]← {escape(str(name))}:[/] {_clip(message.get('content', ''))}")
        else:
            lines.append(f"[bold]{escape(str(role))}:[/] {_clip(message.get('content', ''))}")
    return lines


def _answer(step: TranscriptStep) -> list[str]:
    lines = [f"[cyan]→ {escape(c.name)}[/]({_clip(c.arguments, 90)})" for c in step.tool_calls]
    if step.error_class:
        lines.append(f"[red]error {escape(step.error_class)}:[/] {_clip(step.error or '')}")
    elif step.output or not step.tool_calls:
        lines.append(f"[bold]assistant:[/] {_clip(step.output or '')}")
    if step.stopped:
        lines.append(f"[yellow]stopped:[/] {escape(step.stopped)}")
    return lines


def _render_one(transcript: Transcript, console: Console) -> None:
    verdict = {True: "[green]passed[/]", False: "[red]failed[/]", None: "[yellow]undecided[/]"}
    head = (
        f" [bold]{escape(transcript.case_id)}[/] · {escape(transcript.prompt)} · "
        f"{escape(transcript.provider)}"
        + (f" · repeat {transcript.repeat}" if transcript.repeat else "")
        + f" · {verdict[transcript.passed]} · {transcript.turns} turn"
        + ("s" if transcript.turns != 1 else "")
        + f", {len(transcript.steps)} request"
        + ("s" if len(transcript.steps) != 1 else "")
        + (f", {transcript.calls} tool call" + ("s" if transcript.calls != 1 else ""))
    )
    console.print(head)
    for failure in transcript.failures:
        console.print(f"   [red]✗ {_clip(failure)}[/]")
    turn = 0
    for step in transcript.steps:
        label = f"turn {step.turn}" if step.turn != turn else ""
        turn = step.turn
        for n, line in enumerate(_sent(step) + _answer(step)):
            console.print(f"   {label if n == 0 else '':<8}{line}", soft_wrap=True)


def render_transcripts(
    transcripts: Sequence[Transcript],
    console: Console,
    limit: int | None = 3,
    *,
    passed: bool = True,
    run_id: str = "RUN",
) -> None:
    """Up to ``limit`` transcripts (None: all), failed ones first; ``passed=False`` shows
    only those that did not pass (``evalkit run``: the ones to look at)."""
    if not transcripts or limit == 0:
        return
    shown = _order(t for t in transcripts if passed or t.passed is not True)
    if limit is not None:
        shown = shown[:limit]
    calls = sum(t.calls for t in transcripts)
    requests = sum(len(t.steps) for t in transcripts)
    count = (
        f" transcripts: {len(transcripts)} · {requests} request{'s' if requests != 1 else ''}"
        f" · {calls} tool call{'s' if calls != 1 else ''}"
    )
    where = f"`evalkit runs show {run_id} --case ID` for one, --json for all"
    if not shown:
        console.print(f"{count} · every one passed ({escape(where)})")
        return
    if len(shown) < len(transcripts):
        which = "failed first" if passed else "those that did not pass"
        count += f" · {len(shown)} shown, {which} ({escape(where)})"
    console.print(count)
    for transcript in shown:
        _render_one(transcript, console)
