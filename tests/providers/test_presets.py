"""Presets speak the OpenAI wire format with the right URL and key; proxies via env."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.request import Request as URLRequest
from urllib.request import urlopen

import pytest

from evalkit.errors import SetupError
from evalkit.load.source import LineMap, validate
from evalkit.providers.base import Request
from evalkit.providers.presets import PRESETS
from evalkit.records import Message
from evalkit.registry import PROVIDERS
from fakeserver import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(default_answer="ok") as srv:
        yield srv


def build(spec: dict):
    cls = PROVIDERS.get(spec["type"])
    return cls("p", validate(cls.Options, spec, LineMap("evalkit.yaml")))


def call(provider) -> str:
    async def go():
        try:
            request = Request([Message("user", "hi")], provider.effective_params({}))
            return (await provider.generate(request)).text
        finally:
            await provider.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_defaults_and_wire_format(name, server, monkeypatch):
    base_url, key_env, required = PRESETS[name]
    provider = build({"type": name, "model": "m"})
    assert provider.base_url == base_url and provider.options.api_key_env == key_env
    monkeypatch.delenv(key_env, raising=False)
    if required:
        with pytest.raises(SetupError, match=key_env):
            provider.api_key()
    else:
        assert provider.api_key() == "no-key"
    # pointed at the loopback server (as one would for another host), with its key set
    monkeypatch.setenv(key_env, f"key-for-{name}")
    local = build({"type": name, "model": "m", "base_url": server.openai_base_url})
    assert call(local) == "ok"
    record = server.requests[-1]
    assert record.route == "chat" and record.body["model"] == "m"
    assert record.headers["authorization"] == f"Bearer key-for-{name}"


def test_azure_deployment_url_version_and_key_header(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")
    provider = build(
        {
            "type": "azure",
            "endpoint": server.base_url,
            "deployment": "my-gpt",
            "api_version": "2024-10-21",
        }
    )
    assert provider.model == "my-gpt"
    assert call(provider) == "ok"
    record = server.requests[-1]
    assert record.path == "/openai/deployments/my-gpt/chat/completions"
    assert "api-version=2024-10-21" in record.query
    assert record.headers["api-key"] == "az-key"
    assert provider.identity()["deployment"] == "my-gpt"


def test_azure_needs_an_endpoint_and_a_key(monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    with pytest.raises(SetupError, match="endpoint"):
        call(build({"type": "azure", "deployment": "d"}))
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    with pytest.raises(SetupError, match="AZURE_OPENAI_API_KEY"):
        build({"type": "azure", "deployment": "d", "endpoint": "http://x"}).api_key()


class _Proxy(BaseHTTPRequestHandler):
    """A forwarding HTTP proxy that remembers the absolute URLs it was asked for."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.seen.append(self.path)
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower()
            not in ("host", "proxy-connection", "connection", "content-length", "accept-encoding")
        }
        with urlopen(URLRequest(self.path, data=body, headers=headers, method="POST")) as resp:
            data = resp.read()
            self.send_response(resp.status)
            self.send_header("content-type", resp.headers["content-type"])
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_http_proxy_from_the_environment(server, monkeypatch):
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        # the proxy itself must reach the server directly
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        provider = build(
            {"type": "vllm", "model": "m", "base_url": server.openai_base_url, "stream": False}
        )
        monkeypatch.setattr("urllib.request.getproxies", dict)  # the proxy's own client
        assert call(provider) == "ok"
    finally:
        proxy.shutdown()
    assert _Proxy.seen and _Proxy.seen[-1] == server.openai_base_url + "/chat/completions"
