"""The reader thread that drains trace_pipe: on a plain pipe, what is written comes back whole
and in order, while the main thread is busy, and after `stop`."""

import os
import time

import pytest

from tcpq.trace.session import PipeReader


def test_reader_drains_while_the_main_thread_is_busy() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    reader = PipeReader(read_end)
    reader.start()
    try:
        lines = [f"line {n}\n".encode() for n in range(20_000)]
        for chunk in range(0, len(lines), 500):
            os.write(write_end, b"".join(lines[chunk : chunk + 500]))  # a pipe holds 64 KiB:
            # these writes would block if nothing read meanwhile
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:  # busy, holding the GIL as a parser would
            sum(range(1000))
        got = reader.take()
        os.write(write_end, b"last\n")
        got += reader.stop()
    finally:
        os.close(write_end)
        os.close(read_end)
    assert got == b"".join(lines) + b"last\n"
    assert reader.bytes == len(got)


def test_reader_hands_its_error_to_the_main_thread() -> None:
    directory = os.open("/", os.O_RDONLY)  # always "readable" to poll(), read() fails: EISDIR
    reader = PipeReader(directory)
    try:
        reader.start()
        time.sleep(0.3)
        with pytest.raises(IsADirectoryError):
            reader.take()
    finally:
        reader.stop_quietly()
        os.close(directory)
