"""Resolve a namespace's sysctls for a kernel version: catalogue defaults plus overrides."""

from collections.abc import Mapping

from tcpq.errors import ScenarioError, UnsupportedKernel
from tcpq.kernel.sysctls import SYSCTLS, SysctlValue, find_sysctl
from tcpq.kernel.versions import KernelVersion, format_version, parse_version
from tcpq.types import SysctlRow


def sysctl_defaults(version: KernelVersion) -> dict[str, SysctlValue]:
    """Every catalogue sysctl that exists in `version`, at its default there."""
    out: dict[str, SysctlValue] = {}
    for name, sysctl in SYSCTLS.items():
        value = sysctl.default_for(version)
        if value is not None:
            out[name] = value
    return out


def default_port_range(kernel_release: str) -> tuple[int, int]:
    """net.ipv4.ip_local_port_range's default for a release (the newest when it cannot be read)."""
    sysctl = SYSCTLS["net.ipv4.ip_local_port_range"]
    try:
        value = sysctl.default_for(parse_version(kernel_release))
    except UnsupportedKernel:
        value = None
    if not isinstance(value, tuple):
        value = sysctl.newest_default
    assert isinstance(value, tuple), "the catalogue gives the port range a default"
    return value


def resolve_sysctls(
    version: KernelVersion, overrides: Mapping[str, SysctlValue], origin: str = "scenario"
) -> dict[str, SysctlValue]:
    """Defaults for `version` with `overrides` applied; unknown or absent sysctls are errors."""
    values = sysctl_defaults(version)
    for raw_name, value in overrides.items():
        try:
            sysctl = find_sysctl(raw_name)
        except KeyError:
            raise ScenarioError(
                f"{origin}: kernel.sysctl: unknown sysctl {raw_name!r} (see `tcpq explain`)"
            ) from None
        if sysctl.default_for(version) is None:
            raise ScenarioError(
                f"{origin}: kernel.sysctl: {sysctl.name} does not exist in kernel {format_version(version)}"
                f" ({sysctl.history})"
            )
        expects_pair = isinstance(sysctl.default_for(version), tuple)
        if expects_pair != isinstance(value, tuple):
            shape = "two integers" if expects_pair else "one integer"
            raise ScenarioError(f"{origin}: kernel.sysctl: {sysctl.name} takes {shape}")
        _check_range(sysctl.name, value, sysctl.minimum, sysctl.maximum, origin)
        values[sysctl.name] = value
    return values


def _check_range(name: str, value: SysctlValue, low: int | None, high: int | None, origin: str) -> None:
    numbers = value if isinstance(value, tuple) else (value,)
    for number in numbers:
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
            raise ScenarioError(f"{origin}: kernel.sysctl: {name} = {number} is outside {bounds}")
    if isinstance(value, tuple) and value[0] > value[1]:
        raise ScenarioError(f"{origin}: kernel.sysctl: {name}: the low end is above the high end")


def sysctl_rows(values: Mapping[str, SysctlValue], version: KernelVersion) -> list[SysctlRow]:
    """Every catalogue sysctl with its value here, its default for `version`, and a note.

    A sysctl the seed articles believe in that this kernel does not have (tcp_tw_recycle) is
    listed with value None and the note saying since when it is gone.
    """
    rows: list[SysctlRow] = []
    for name, sysctl in SYSCTLS.items():
        default = sysctl.default_for(version)
        value = values.get(name)
        wrong = [claim for claim in sysctl.seed_claims if claim.verdict.value != "right"]
        note = f"seed: {wrong[0].claim} — {wrong[0].truth}" if wrong else ""
        if value is None and default is None and not sysctl.seed_claims:
            continue
        rows.append(
            SysctlRow(
                name=name,
                value=value,
                default=default,
                scope=sysctl.scope.value,
                differs=value is not None and default is not None and value != default,
                meaning=sysctl.meaning,
                note=note,
            )
        )
    return rows
