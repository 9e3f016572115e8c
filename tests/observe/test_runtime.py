"""Which runtime owns a socket: by the executable's name, and Go by its ELF build-info section."""

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tcpq.observe.processes import ProcessMap
from tcpq.observe.runtime import detect_runtime, is_go_binary, runtime_from_name
from tcpq.types import Runtime

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build a test ELF")


@pytest.mark.parametrize(
    ("name", "runtime"),
    [
        ("/usr/sbin/nginx", Runtime.NGINX),
        ("/usr/bin/python3.11", Runtime.PYTHON),
        ("/usr/lib/jvm/java-17/bin/java", Runtime.JAVA),
        ("node", Runtime.NODE),
        ("/usr/bin/socat", None),
        ("pythonista-not", Runtime.PYTHON),
    ],
)
def test_runtime_from_name(name: str, runtime: Runtime | None) -> None:
    assert runtime_from_name(name) is runtime


def build(tmp_path: Path, section: str | None) -> Path:
    marker = f'__attribute__((section("{section}"), used)) static const char info[] = "x";' if section else ""
    source = tmp_path / "prog.c"
    source.write_text(f"{marker}\nint main(void) {{ return 0; }}\n")
    binary = tmp_path / (section or "plain").strip(".").replace(".", "_")
    subprocess.run(["gcc", "-o", str(binary), str(source)], check=True, timeout=60)
    return binary


@needs_gcc
@pytest.mark.parametrize("section", [".go.buildinfo", ".note.go.buildid"])
def test_go_binary_found_by_its_section(tmp_path: Path, section: str) -> None:
    assert is_go_binary(build(tmp_path, section))


@needs_gcc
def test_other_elf_and_non_elf_are_not_go(tmp_path: Path) -> None:
    assert not is_go_binary(build(tmp_path, None))
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    assert not is_go_binary(script) and not is_go_binary(tmp_path / "absent")


@needs_gcc
def test_detect_runtime_of_a_running_native_program(tmp_path: Path) -> None:
    binary = tmp_path / "sleeper"
    source = tmp_path / "sleep.c"
    source.write_text('__attribute__((section(".go.buildinfo"), used)) static const char i[] = "x";\n'
                      "#include <unistd.h>\nint main(void) { sleep(20); return 0; }\n")  # fmt: skip
    subprocess.run(["gcc", "-o", str(binary), str(source)], check=True, timeout=60)
    proc = subprocess.Popen([str(binary)])
    try:
        assert detect_runtime(Path(f"/proc/{proc.pid}"), "prog") is Runtime.GO
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert detect_runtime(Path("/proc/self"), "pytest") is Runtime.PYTHON


def test_process_map_reports_runtime_and_stopped_state() -> None:
    """A listening Python child, stopped with SIGSTOP: its owner record says python, stopped."""
    code = "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); " \
           "print(s.fileno(), flush=True); time.sleep(20)"  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        fd = proc.stdout.readline().strip()
        inode = int(Path(f"/proc/{proc.pid}/fd/{fd}").readlink().name.strip("socket:[]"))
        pmap = ProcessMap()
        (ref,) = pmap.owners([inode])[inode]
        assert (ref.pid, ref.runtime, ref.stopped) == (proc.pid, Runtime.PYTHON, False)
        proc.send_signal(signal.SIGSTOP)
        for _ in range(50):
            (ref,) = pmap.owners([inode])[inode]
            if ref.stopped:
                break
        assert ref.stopped
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
