"""JSON over HTTP for the OpenAI wire format: one POST, its JSON answer or its server-sent
events, every failure as a ``ProviderCallError`` of its class.

The ``openai`` provider talks to its server through this rather than the official SDK: the
SDK imports its whole typed API at start (≈ 0.7 s and ≈ 35 MB before the first request) and,
per call, walks the request through its typed-dict transform and builds a pydantic model of
the answer — work an evaluation that reads three fields of each answer does not need, and
that made `evalkit run` slower than a bare SDK loop. The transport is the one the SDK uses
(``httpx2``), with the same defaults: redirects followed, proxies and CA bundles from the
environment (``HTTPS_PROXY``, ``SSL_CERT_FILE``, …).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from evalkit.errors import ProviderCallError
from evalkit.providers.base import classify_sdk_error, status_error

__all__ = ["JSONClient"]


class JSONClient:
    """POSTs JSON bodies to ``base_url`` + a path (an ``httpx2.AsyncClient`` underneath)."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        keepalive_expiry: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        import httpx2

        self._base = base_url.rstrip("/")
        self._query = dict(query or {})
        self._http = httpx2.AsyncClient(
            headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
            timeout=httpx2.Timeout(timeout),
            follow_redirects=True,
            limits=httpx2.Limits(
                max_connections=1000,
                max_keepalive_connections=100 if keepalive_expiry else 0,
                keepalive_expiry=keepalive_expiry or None,
            ),
        )

    def _url(self, path: str) -> str:
        return self._base + path

    async def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON object a POST answers with."""
        try:
            response = await self._http.post(
                self._url(path), content=_dumps(body), params=self._query or None
            )
            content = await response.aread()
        except ProviderCallError:
            raise
        except Exception as exc:
            raise classify_sdk_error(exc) from exc
        if response.status_code >= 300:
            raise status_error(response.status_code, response.headers, _detail(content))
        return _object(content)

    async def events(self, path: str, body: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The JSON objects of a streamed answer's ``data:`` events, up to ``[DONE]``."""
        request = self._http.build_request(
            "POST",
            self._url(path),
            content=_dumps(body),
            params=self._query or None,
            headers={"Accept": "text/event-stream"},
        )
        try:
            response = await self._http.send(request, stream=True)
        except Exception as exc:
            raise classify_sdk_error(exc) from exc
        try:
            if response.status_code >= 300:
                content = await response.aread()
                raise status_error(response.status_code, response.headers, _detail(content))
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                    continue
                if line or not data:  # another field, a comment, or a blank line alone
                    continue
                text, data = "\n".join(data), []
                if text.strip() == "[DONE]":
                    return
                yield _event(text)
            if data and data != ["[DONE]"]:  # a last event without its blank line
                yield _event("\n".join(data))
        except ProviderCallError:
            raise
        except Exception as exc:
            raise classify_sdk_error(exc) from exc
        finally:
            await response.aclose()

    async def close(self) -> None:
        await self._http.aclose()


def _event(text: str) -> dict[str, Any]:
    """One event's JSON object; an error event (``{"error": {...}}``) raises."""
    event = _object(text.encode())
    if event.get("error"):
        raise ProviderCallError(
            "server_error", f"error in stream: {_message(event)}", retryable=True
        )
    return event


def _detail(content: bytes) -> str:
    """What an error answer's body says."""
    try:
        detail = _message(json.loads(content))
    except ValueError:
        detail = content.decode("utf-8", "replace").strip()[:500]
    return detail or "no body"


def _message(payload: Any) -> str:
    """The human part of an error payload (``{"error": {"message": …}}`` and its kin)."""
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return str(payload)


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _object(content: bytes) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except ValueError as exc:
        raise ProviderCallError(
            "malformed", f"the answer is not JSON: {content[:200]!r}", retryable=True
        ) from exc
    if not isinstance(value, dict):
        raise ProviderCallError(
            "malformed", f"the answer is not a JSON object: {content[:200]!r}", retryable=True
        )
    return value
