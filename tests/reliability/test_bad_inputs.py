"""Every malformed input ends in one clear message and exit 2 — never a traceback, never exit 1.

Each catalogue entry (``catalogue.py``) is a small project in a temp dir plus a command line,
run through the real CLI (``CliRunner`` for all of them, a subprocess for a sample). The
message must name the file (and line) at fault, say what is wrong and how to fix it, and no
run may be left marked ``running`` in any store the command touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from catalogue import BASE, CATALOGUE, SUBPROCESS_SAMPLE, Bad, Files
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer
from projects import RULES


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


@pytest.fixture
def isolated(in_tmp: Path) -> Iterator[Path]:
    """The temp project as the working directory; user modules imported from it are
    forgotten afterwards (each case has its own ``checks.py``)."""
    path = list(sys.path)
    yield in_tmp
    sys.path[:] = path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(in_tmp)):
            del sys.modules[name]


def write_files(root: Path, files: Files, url: str) -> None:
    for name, content in files.items():
        path = root / name
        if content is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.replace("{url}", url), encoding="utf-8")


def prepare(root: Path, bad: Bad, url: str) -> None:
    write_files(root, {**BASE, **bad.files}, url)
    for name, sql in bad.databases.items():
        with duckdb.connect(str(root / name)) as con:
            con.execute(sql)
    for args in bad.before:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, (args, result.output)
    write_files(root, bad.later, url)


def stores(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path.read_bytes()[8:12] == b"DUCK":
            found.append(path)
    return found


def assert_clean_error(bad: Bad, code: int, stdout: str, stderr: str, root: Path) -> None:
    shown = f"exit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    assert "Traceback" not in stdout + stderr, shown
    assert code == 2, shown
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 2, f"one message (error + fix):\n{shown}"
    message, fix = lines
    assert message.startswith("error: "), shown
    assert re.match(bad.where, message[len("error: ") :]), f"names {bad.where!r}:\n{shown}"
    assert bad.says.lower() in message.lower(), shown
    assert fix.startswith("  (") and fix.endswith(")"), shown
    assert bad.fix.lower() in fix.lower(), shown
    assert not stdout.strip(), shown
    for store in stores(root):
        with duckdb.connect(str(store), read_only=True) as con:
            tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
            if "runs" not in tables:
                continue
            running = con.execute("SELECT id FROM runs WHERE status = 'running'").fetchall()
        assert not running, f"{store} has runs left running: {running}"


@pytest.mark.parametrize("bad", CATALOGUE)
def test_bad_input(bad: Bad, isolated: Path, server: FakeServer) -> None:
    prepare(isolated, bad, server.base_url)
    result = CliRunner().invoke(app, list(bad.args))
    assert_clean_error(bad, result.exit_code, result.stdout, result.stderr, isolated)


def test_catalogue_is_large() -> None:
    assert len(CATALOGUE) >= 60


@pytest.mark.parametrize("bad", [p for p in CATALOGUE if p.id in SUBPROCESS_SAMPLE])
def test_bad_input_in_a_subprocess(bad: Bad, isolated: Path, server: FakeServer) -> None:
    prepare(isolated, bad, server.base_url)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and k not in ("EVALKIT_DB", "COLUMNS")
    }
    proc = subprocess.run(
        [sys.executable, "-m", "evalkit", *bad.args],
        cwd=isolated,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_clean_error(bad, proc.returncode, proc.stdout, proc.stderr, isolated)


@pytest.mark.parametrize(
    ("option", "value"), [("limit", -1), ("limit", 0), ("repeat", 0), ("shard", "3/2")]
)
def test_the_python_api_refuses_impossible_options_too(
    option: str, value: object, isolated: Path, server: FakeServer
) -> None:
    from evalkit import api
    from evalkit.errors import InputError

    write_files(isolated, BASE, server.base_url)
    with pytest.raises(InputError, match=f"--{option} {value}: "):
        api.evaluate(**{option: value})
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
