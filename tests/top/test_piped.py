"""`tcpq top` without a terminal: the frames of `tcpq status --watch`, no Textual escape codes."""

import subprocess
import sys


def top_piped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tcpq", "top", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_piped_top_prints_status_watch_frames() -> None:
    done = top_piped("--count", "3", "--interval", "0.05")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("tcpq status") == 3  # the title of each status frame
    assert "\x1b[" not in done.stdout  # neither the alternate screen nor cursor moves


def test_piped_top_passes_its_checks_on_as_status_does() -> None:
    done = top_piped("--count", "1", "--interval", "0.001")
    assert done.returncode == 2
    assert done.stderr.startswith("tcpq: error: --interval 0.001") and done.stderr.count("\n") == 1
