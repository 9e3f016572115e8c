"""The `fresh_netns` fixture: one namespace per test module, deleted whatever happens."""

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from .fresh_netns import FreshNetns


@pytest.fixture(scope="module")
def fresh_netns() -> Iterator[FreshNetns]:
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root (CI runs as root)")
    if shutil.which("ip") is None:
        pytest.skip("needs ip(8) from iproute2")
    name = f"tcpq-test-{os.getpid()}-cat"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        yield FreshNetns(name)
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, timeout=30)
