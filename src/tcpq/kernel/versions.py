"""Kernel version strings as comparable (major, minor) pairs."""

import re

from tcpq.errors import UnsupportedKernel

KernelVersion = tuple[int, int]

_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)")


def parse_version(text: str) -> KernelVersion:
    """Read "6.18", "6.18.44-fc-v445" or "4.9.0" as (major, minor)."""
    match = _VERSION_RE.match(text)
    if match is None:
        raise UnsupportedKernel(f"not a kernel version: {text!r} (expected e.g. '6.18')")
    return int(match.group(1)), int(match.group(2))


def format_version(version: KernelVersion) -> str:
    return f"{version[0]}.{version[1]}"
