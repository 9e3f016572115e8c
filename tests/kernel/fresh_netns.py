"""A fresh network namespace of the running kernel, to check the catalogues against it.

A new namespace starts from the kernel's own defaults (tcp_sk_init and friends set them from
constants, they are not copied from the parent, kernel-model §9), shows only the per-netns
sysctls, and its counters start at zero with no traffic but the test's own.
"""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tcpq.kernel.versions import KernelVersion, parse_version


def running_kernel() -> KernelVersion:
    return parse_version(os.uname().release)


@dataclass(frozen=True)
class FreshNetns:
    """A namespace made for the test (`tcpq-test-<pid>-cat`), read through `ip netns exec`."""

    name: str

    def run(self, *argv: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def sysctl(self, name: str) -> str | None:
        """The file's text as the namespace sees it; None when the namespace has no such file."""
        path = Path("/proc/sys") / name.replace(".", "/")
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, "cat", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            assert "No such file" in done.stderr, done.stderr
            return None
        return done.stdout
