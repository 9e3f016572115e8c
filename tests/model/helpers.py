"""Namespaces for model tests: the catalogue defaults of a kernel version plus overrides."""

from tcpq.kernel.profiles import profile_for
from tcpq.kernel.resolve import resolve_sysctls
from tcpq.kernel.sysctls import SysctlValue
from tcpq.kernel.versions import parse_version
from tcpq.model.netns import Netns, Settings


def make_ns(version: str = "6.18", **sysctls: SysctlValue) -> Netns:
    """`make_ns("6.18", tcp_syncookies=0)`: short names are looked up in the catalogue."""
    kernel = parse_version(version)
    profile = profile_for(kernel)
    values = resolve_sysctls(kernel, dict(sysctls))
    return Netns("test", Settings.from_sysctls(values, profile), profile)
