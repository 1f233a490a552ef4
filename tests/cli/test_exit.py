"""The console script leaves without tearing the interpreter down (``cli.main._leave``), and
still exits as the interpreter would: exit handlers run, the output is flushed, the code kept,
and another thread that is still working is waited for."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def leave(body: str) -> subprocess.CompletedProcess[str]:
    code = "from evalkit.cli.main import _leave\n" + textwrap.dedent(body)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output buffered
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_exit_handlers_run_and_buffered_output_is_flushed() -> None:
    done = leave(
        """
        import atexit, sys
        atexit.register(lambda: print("handler ran"))
        sys.stdout.write("buffered, no newline; ")
        _leave(3)
        """
    )
    assert done.returncode == 3
    assert done.stdout == "buffered, no newline; handler ran\n"


def test_codes_as_the_interpreter_maps_them() -> None:
    assert leave("_leave(None)").returncode == 0
    assert leave("_leave(0)").returncode == 0
    assert leave("_leave(2)").returncode == 2
    message = leave("_leave('no such suite')")
    assert message.returncode == 1
    assert message.stderr == "no such suite\n"


def test_a_working_thread_is_waited_for() -> None:
    done = leave(
        """
        import threading
        def work():  # still working when _leave looks: done only once the interpreter shuts
            threading.main_thread().join()  # down the ordinary way (never after os._exit)
            print("thread finished")
        threading.Thread(target=work).start()
        _leave(4)
        """
    )
    assert done.returncode == 4
    assert done.stdout == "thread finished\n"


def test_output_that_cannot_be_flushed_is_not_reported_as_success() -> None:
    done = leave(
        """
        import os, sys
        sys.stdout.write("never written")
        os.close(sys.stdout.fileno())
        _leave(0)
        """
    )
    assert done.returncode == 120  # what the interpreter's own exit reports then
