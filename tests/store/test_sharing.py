"""One store file shared by several evalkit processes (real subprocesses, a real fake server):
writers take turns (waiting, with a message, up to --wait), readers answer while a run writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.errors import StoreError
from evalkit.store.db import Store
from evalkit.store.sharing import WriterLock, is_wanted, lock_path, waiting
from fakeserver import FakeServer

CASES = 300


@pytest.fixture
def server() -> Iterator[FakeServer]:
    # A few ms per answer, so that a run lasts long enough for the others to meet it.
    with FakeServer(default_answer="Paris is the capital.", latency_ms=25) as srv:
        yield srv


def _project(root: Path, base_url: str, cases: int = CASES) -> Path:
    (root / "prompts" / "geo").mkdir(parents=True)
    (root / "suites").mkdir()
    (root / "evalkit.yaml").write_text(
        "providers:\n"
        f'  fake: {{type: openai, base_url: "{base_url}/v1", model: fake-model, stream: false}}\n'
        "defaults: {provider: fake, concurrency: 4}\n"
    )
    (root / "prompts/geo/v1.yaml").write_text(
        'messages: [{role: user, content: "Q: {{ q }}"}]\nparams: {max_tokens: 16}\n'
    )
    with (root / "suites/geo.jsonl").open("w") as out:
        for i in range(cases):
            out.write(json.dumps({"id": f"c{i}", "vars": {"q": f"capital {i}?"}}) + "\n")
    (root / "suites/geo.yaml").write_text(
        "prompt: geo@v1\ncases: geo.jsonl\nscorers:\n  - {type: contains, value: Paris}\n"
    )
    return root


def _evalkit(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("EVALKIT_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_runs_and_a_reader_together(tmp_path: Path, server: FakeServer) -> None:
    root = _project(tmp_path, server.base_url)
    db = root / ".evalkit" / "evalkit.duckdb"
    first = _evalkit(root, "run", "--no-cache", "--json")
    # The second starts while the first writes: it waits for it, then runs.
    while not lock_path(db).exists() or not lock_path(db).read_text():
        time.sleep(0.02)
    second = _evalkit(root, "run", "--no-cache", "--json", "--wait", "120")
    # A reader, again and again while the runs go on: every answer comes, some mid-run.
    answers: list[list[dict[str, object]]] = []
    while first.poll() is None or second.poll() is None:
        reader = subprocess.run(
            [sys.executable, "-m", "evalkit", "runs", "list", "--json"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert reader.returncode == 0, reader.stderr
        answers.append(json.loads(reader.stdout)["runs"])
    out1, err1 = first.communicate()
    out2, err2 = second.communicate()
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "waiting for the store" in err2
    assert f"pid {first.pid}" in err2
    assert "--wait SECONDS" in err2
    runs = [json.loads(out1)["runs"][0]["run_id"], json.loads(out2)["runs"][0]["run_id"]]
    assert runs[0] != runs[1]
    # The reader answered while a run was writing (a run listed as running).
    assert any(any(r["status"] == "running" for r in listed) for listed in answers)
    # Nothing lost, nothing twice, nothing half-written.
    with Store(db, read_only=True) as store:
        for run_id in runs:
            assert store.fetchone(
                "SELECT status, count(*) FILTER (WHERE output LIKE 'Paris%'), count(*), "
                "count(DISTINCT case_id) FROM runs JOIN results ON results.run_id = runs.id "
                "WHERE runs.id = ? GROUP BY status",
                [run_id],
            ) == ("completed", CASES, CASES, CASES)
            assert store.fetchone("SELECT count(*) FROM scores WHERE run_id = ?", [run_id]) == (
                CASES,
            )
    assert lock_path(db).read_text() == ""  # the holder's line is gone with it


def test_wait_0_fails_at_once_naming_the_holder(tmp_path: Path, server: FakeServer) -> None:
    root = _project(tmp_path, server.base_url, cases=5)
    db = root / ".evalkit" / "evalkit.duckdb"
    with Store(db):  # this process writes the store
        proc = _evalkit(root, "run", "--wait", "0")
        _, err = proc.communicate(timeout=60)  # a hang guard, not a measurement
    assert proc.returncode == 3, err
    assert f"in use by pid {os.getpid()}" in err
    assert "writing since" in err
    assert "--wait 0" in err and "longer --wait SECONDS" in err
    assert "waiting for the store" not in err  # no wait: the bound was 0
    assert "Traceback" not in err


def test_a_writer_waits_then_gets_the_store(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    Store(db).close()
    holder = WriterLock(db)
    holder.acquire(str(db))
    said: list[str] = []

    import threading

    threading.Timer(0.5, holder.release).start()
    with waiting(30, said.append), Store(db) as store:
        assert store.fetchone("SELECT count(*) FROM runs") == (0,)
    assert len(said) == 1 and f"pid {os.getpid()}" in said[0]


def test_a_writer_gives_up_after_wait(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with Store(db), waiting(0.3, None), pytest.raises(StoreError) as caught:
        Store(db)
    assert caught.value.exit_code == 3
    assert "waited 0.3 s" in str(caught.value)


def test_release_lets_a_reader_in_and_the_writer_carries_on(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with Store(db) as writer:
        writer.execute(
            "INSERT INTO baselines (name, run_id, suite, set_at) VALUES ('a', 'r', 's', now())"
        )
        writer.release()
        reader = subprocess.run(
            [
                sys.executable,
                "-c",
                "import duckdb, sys; c = duckdb.connect(sys.argv[1], "
                "read_only=True); print(c.execute('SELECT count(*) FROM baselines').fetchone()[0])",
                str(db),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert reader.stdout.strip() == "1", reader.stderr
        # The writer opens the file again on its next statement.
        assert writer.fetchone("SELECT count(*) FROM baselines") == (1,)


def test_a_waiting_reader_asks_for_the_file_and_the_writer_lets_it_in(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with Store(db) as writer:
        writer.execute(
            "INSERT INTO baselines (name, run_id, suite, set_at) VALUES ('a', 'r', 's', now())"
        )
        writer.release_if_wanted()  # nobody asked: the writer keeps the file
        assert not is_wanted(str(db))
        reader = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from evalkit.store.db import Store; "
                "s = Store(Path(sys.argv[1]), read_only=True); "
                "print(s.fetchone('SELECT count(*) FROM baselines')[0])",
                str(db),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # The reader finds the file open and asks for it; it keeps asking until its own
            # --wait runs out, so a reader that has stopped means it never got in.
            while not is_wanted(str(db)):
                assert reader.poll() is None, reader.communicate()
                time.sleep(0.05)
            writer.release_if_wanted()
            out, err = reader.communicate()  # bounded by the reader's own --wait
        finally:
            reader.kill()
        assert reader.returncode == 0, err
        assert out.strip() == "1"
        # The writer opens the file again on its next statement.
        assert writer.fetchone("SELECT count(*) FROM baselines") == (1,)
