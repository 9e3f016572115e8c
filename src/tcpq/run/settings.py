"""The sysctls of a run's two namespaces, one rule for the simulator and the lab: the scenario's
`[kernel] sysctl` with each side's own table (`server_sysctl`, `client_sysctl`) over it, and
which of the effective values differ from the kernel's defaults."""

from collections.abc import Mapping

from tcpq.kernel.resolve import resolve_sysctls, sysctl_defaults
from tcpq.kernel.versions import KernelVersion
from tcpq.records import frozen
from tcpq.scenario import KernelSection

SysctlValues = dict[str, int | tuple[int, int]]


@frozen
class NamespaceSysctls:
    server: SysctlValues
    client: SysctlValues


def requested_sysctls(kernel: KernelSection) -> NamespaceSysctls:
    """What the scenario sets in each namespace, under its own names: what the lab writes."""
    return NamespaceSysctls(
        server={**kernel.sysctl, **kernel.server_sysctl},
        client={**kernel.sysctl, **kernel.client_sysctl},
    )


def effective_sysctls(kernel: KernelSection, version: KernelVersion, origin: str) -> NamespaceSysctls:
    """Every catalogue sysctl of `version` at its default with the requested values over it: what
    the model runs with and the reports show. An unknown sysctl, or one `version` lacks, is a
    ScenarioError naming `origin` (the server's side is checked first)."""
    asked = requested_sysctls(kernel)
    return NamespaceSysctls(
        server=resolve_sysctls(version, asked.server, origin),
        client=resolve_sysctls(version, asked.client, origin),
    )


@frozen
class Differences:
    """The effective sysctls set against `version`'s defaults, as RunResult carries them."""

    defaults: SysctlValues  # the default of each server-side sysctl, where the catalogue has one
    server: list[str]
    client: list[str]


def _differ(values: Mapping[str, int | tuple[int, int]], defaults: SysctlValues) -> list[str]:
    return [name for name, value in values.items() if defaults.get(name) != value]


def differences(sysctls: NamespaceSysctls, version: KernelVersion) -> Differences:
    defaults = sysctl_defaults(version)
    return Differences(
        defaults={name: defaults[name] for name in sysctls.server if name in defaults},
        server=_differ(sysctls.server, defaults),
        client=_differ(sysctls.client, defaults),
    )
