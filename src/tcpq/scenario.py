"""Scenario files (TOML): load, apply --set overrides, validate with pydantic.

The shape is a contract shared by `tcpq simulate` and `tcpq lab`. Every problem becomes one
ScenarioError line naming the file and the key, never a traceback.
"""

import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from tcpq.errors import ScenarioError
from tcpq.model.timing import REFERENCE_HOST, HostTiming
from tcpq.units import ServiceTime, parse_duration, parse_duration_ns, parse_rate, parse_service_time

MAX_ATTEMPTS = 20_000_000  # bound on simulated connection attempts per run (memory, time)
MAX_DURATION_US = 24 * 3600 * 1_000_000
# numpy's generators take any non-negative integer; a 32-bit seed is what every tool prints and
# accepts, and a bound keeps a typo (a pasted timestamp in ns) from passing silently.
MAX_SEED = 2**32 - 1


def _duration(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a duration string such as '3.5s'")
    if isinstance(value, int | float):
        if value != 0:
            raise ValueError(f"{value!r} has no unit (write e.g. '{value}s')")
        return 0
    return parse_duration(value)


def _optional_duration(value: object) -> int | None:
    if isinstance(value, str) and value.strip().lower() in {"none", "never"}:
        return None
    return _duration(value)


def _rate(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError("expected a rate string such as '200/s'")
    rate = parse_rate(value)
    if not rate > 0 or not math.isfinite(rate):
        raise ValueError(f"{value!r}: a rate must be positive")
    return rate


def _accept(value: object) -> str | float | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip() in {"never", "immediate"}:
        return value.strip()
    if isinstance(value, str) and "/" in value:
        return _rate(value)
    raise ValueError(f"{value!r}: expected 'never', 'immediate' or a rate such as '100/s'")


def _service_time(value: object) -> ServiceTime:
    if not isinstance(value, str):
        raise ValueError("expected a service time such as '10ms' or 'exp:10ms'")
    return parse_service_time(value)


Duration = Annotated[int, BeforeValidator(_duration)]


def _duration_ns(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError("expected a short duration string such as '2.3us' or '950ns'")
    return parse_duration_ns(value)


FineDuration = Annotated[int, BeforeValidator(_duration_ns)]  # ns: the stack's per-packet costs
OptionalDuration = Annotated[int | None, BeforeValidator(_optional_duration)]
Rate = Annotated[float, BeforeValidator(_rate)]
Service = Annotated[ServiceTime, BeforeValidator(_service_time)]
SysctlSetting = int | tuple[int, int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _sysctl_value(value: object) -> SysctlSetting:
    """Accept 4096, "4096", "1024 65535", [1024, 65535]."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    parts: list[object]
    if isinstance(value, str):
        parts = list(value.split())
    elif isinstance(value, list):
        parts = list(value)
    else:
        raise ValueError("expected an integer or two integers")
    try:
        numbers = [int(str(part)) for part in parts]
    except ValueError:
        raise ValueError(f"{value!r} is not an integer or a pair of integers") from None
    if len(numbers) == 1:
        return numbers[0]
    if len(numbers) == 2:
        return numbers[0], numbers[1]
    raise ValueError(f"{value!r}: expected one or two integers")


SysctlMap = dict[str, Annotated[SysctlSetting, BeforeValidator(_sysctl_value)]]


class KernelSection(_Strict):
    version: str | None = None
    sysctl: SysctlMap = Field(default_factory=dict)
    server_sysctl: SysctlMap = Field(default_factory=dict)
    client_sysctl: SysctlMap = Field(default_factory=dict)


class ServerSection(_Strict):
    port: int = Field(default=5000, ge=1, le=65535)
    backlog: int = Field(default=4096, ge=-(2**31), le=2**31 - 1)
    accept: Annotated[str | float | None, BeforeValidator(_accept)] = None
    workers: int | None = Field(default=None, ge=1, le=100_000)
    service_time: Service | None = None
    accept_after: Duration = 0
    # How long the application takes to close its side after reading EOF. Under the delayed-ACK
    # timer (40 ms) its FIN rides on the ACK of the client's FIN (kernel-model §8.2, E5).
    close_delay: Duration = 0

    @model_validator(mode="after")
    def _one_accept_behaviour(self) -> "ServerSection":
        if self.accept is not None and (self.workers is not None or self.service_time is not None):
            raise ValueError("give either accept or workers + service_time, not both")
        if (self.workers is None) != (self.service_time is None):
            raise ValueError("workers and service_time go together")
        return self


class ClientGroup(_Strict):
    count: int | None = Field(default=None, ge=0, le=MAX_ATTEMPTS)
    at: Duration = 0
    rate: Rate | None = None
    arrival: Literal["poisson", "uniform"] = "uniform"
    from_: Duration = Field(default=0, alias="from")
    until: Duration | None = None
    connect_timeout: OptionalDuration = None
    request: bool = False
    request_after: Duration = 0
    close_after: OptionalDuration = Field(default=None)
    # Distinct client source addresses; each has its own ephemeral port range (kernel-model §8.5).
    sources: int = Field(default=1, ge=1, le=65536)

    @model_validator(mode="after")
    def _count_or_rate(self) -> "ClientGroup":
        if (self.count is None) == (self.rate is None):
            raise ValueError("give either count (with at) or rate (with from/until)")
        if self.rate is not None and self.until is not None and self.until <= self.from_:
            raise ValueError("until must be after from")
        if self.connect_timeout is not None and self.connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive or 'none'")
        if self.request and "close_after" not in self.model_fields_set:
            # A request/response client closes once it has its reply, unless told otherwise.
            object.__setattr__(self, "close_after", 0)
        return self


class FilterSection(_Strict):
    """Drop client segments to the server port, as an nft rule in the lab would (kernel-model §16)."""

    drop: Literal["bare_ack", "non_syn"]
    from_: Duration = Field(default=0, alias="from")
    until: Duration | None = None


class NetworkSection(_Strict):
    rtt: Duration = 0
    loss: float = Field(default=0.0, ge=0.0, lt=1.0)
    filter: FilterSection | None = None


class AttackSection(_Strict):
    count: int | None = Field(default=None, ge=0, le=MAX_ATTEMPTS)
    at: Duration = 0
    rate: Rate | None = None
    from_: Duration = Field(default=0, alias="from")
    until: Duration | None = None

    @model_validator(mode="after")
    def _count_or_rate(self) -> "AttackSection":
        if (self.count is None) == (self.rate is None):
            raise ValueError("give either count (with at) or rate (with from/until)")
        if self.rate is not None and self.until is not None and self.until <= self.from_:
            raise ValueError("until must be after from")
        return self


def _durations(value: object) -> tuple[int, ...]:
    """One duration, or a list of them (a measured distribution, drawn uniformly)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError("expected a duration or a non-empty list of durations")
    return tuple(_duration(item) for item in values)


class HostSection(_Strict):
    """The host's speed (model/timing.py); defaults measured on the reference machine.

    `tcpq lab calibrate` measures them on this machine and writes a file for `--host FILE`.
    """

    hz: int = Field(default=REFERENCE_HOST.hz, ge=0, le=10_000)
    connect_gap: Duration = REFERENCE_HOST.connect_gap_us
    packet_cost: Duration = REFERENCE_HOST.packet_us
    syn_cost: FineDuration | None = REFERENCE_HOST.syn_ns
    synack_cost: FineDuration | None = REFERENCE_HOST.synack_ns
    child_cost: FineDuration | None = REFERENCE_HOST.child_ns
    drop_cost: FineDuration | None = REFERENCE_HOST.drop_ns
    inline_packet_cost: Duration = REFERENCE_HOST.inline_packet_us
    wakeup: Annotated[tuple[int, ...], BeforeValidator(_durations)] = REFERENCE_HOST.wakeup_us
    accept_cost: Duration = REFERENCE_HOST.accept_us
    behind_client: float = Field(default=REFERENCE_HOST.behind_client, ge=0.0, le=1.0)
    workers_behind_client: float = Field(default=REFERENCE_HOST.workers_behind_client, ge=0.0, le=1.0)
    slice: Duration = REFERENCE_HOST.slice_us
    warm_wakeup: Duration = REFERENCE_HOST.warm_wakeup_us
    cold_after: Duration = REFERENCE_HOST.cold_after_us
    cold_call: Duration = REFERENCE_HOST.cold_call_us
    timer_late: Annotated[tuple[int, ...], BeforeValidator(_durations)] = REFERENCE_HOST.timer_late_us
    sleep_late: Annotated[tuple[int, ...], BeforeValidator(_durations)] = REFERENCE_HOST.sleep_late_us
    long_sleep_late: Annotated[tuple[int, ...], BeforeValidator(_durations)] = (
        REFERENCE_HOST.long_sleep_late_us
    )

    def _kind_cost(self, key: str) -> int | None:
        """A kind of packet's cost: as given; else `packet_cost` if that was given (None);
        else the reference machine's."""
        if key not in self.model_fields_set and "packet_cost" in self.model_fields_set:
            return None
        value = getattr(self, key)
        assert value is None or isinstance(value, int)
        return value

    def timing(self) -> HostTiming:
        return HostTiming(
            hz=self.hz,
            connect_gap_us=self.connect_gap,
            packet_us=self.packet_cost,
            syn_ns=self._kind_cost("syn_cost"),
            synack_ns=self._kind_cost("synack_cost"),
            child_ns=self._kind_cost("child_cost"),
            drop_ns=self._kind_cost("drop_cost"),
            inline_packet_us=self.inline_packet_cost,
            wakeup_us=self.wakeup,
            accept_us=self.accept_cost,
            behind_client=self.behind_client,
            workers_behind_client=self.workers_behind_client,
            slice_us=self.slice,
            warm_wakeup_us=self.warm_wakeup,
            cold_after_us=self.cold_after,
            cold_call_us=self.cold_call,
            timer_late_us=self.timer_late,
            sleep_late_us=self.sleep_late,
            long_sleep_late_us=self.long_sleep_late,
        )


class Scenario(_Strict):
    name: str
    duration: Duration
    seed: int = Field(default=1, ge=0, le=MAX_SEED)
    kernel: KernelSection = Field(default_factory=KernelSection)
    server: ServerSection = Field(default_factory=ServerSection)
    clients: list[ClientGroup] = Field(min_length=1)
    network: NetworkSection = Field(default_factory=NetworkSection)
    attack: AttackSection | None = None
    host: HostSection = Field(default_factory=HostSection)

    @model_validator(mode="after")
    def _bounded(self) -> "Scenario":
        if not 0 < self.duration <= MAX_DURATION_US:
            raise ValueError("duration must be positive and at most 24h")
        attempts = sum(expected_attempts(group, self.duration) for group in self.clients)
        if self.attack is not None:
            attempts += expected_attempts(self.attack, self.duration)
        if attempts > MAX_ATTEMPTS:
            raise ValueError(f"about {attempts:,.0f} attempts offered; the limit is {MAX_ATTEMPTS:,}")
        return self


def expected_attempts(group: ClientGroup | AttackSection, duration_us: int) -> float:
    if group.count is not None:
        return group.count if group.at < duration_us else 0
    assert group.rate is not None
    until = duration_us if group.until is None else min(group.until, duration_us)
    return max(0.0, group.rate * (until - group.from_) / 1_000_000)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif part.startswith(("function-", "literal[", "float", "int", "str", "bool")):
            continue
        else:
            parts.append("from" if part == "from_" else part)
    return ".".join(parts) or "(top level)"


def _describe(error: ValidationError, origin: str) -> ScenarioError:
    first = error.errors()[0]
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = "unknown key"
    return ScenarioError(f"{origin}: {_location(tuple(first['loc']))}: {message}")


def _normalise(data: dict[str, Any], origin: str) -> dict[str, Any]:
    clients = data.get("clients")
    if isinstance(clients, dict):
        data["clients"] = [clients]
    elif clients is None:
        raise ScenarioError(f"{origin}: clients: missing (a [clients] table is required)")
    data.setdefault("name", Path(origin).stem)
    return data


def parse_override(text: str) -> tuple[list[str], object]:
    """'server.backlog=8' or 'kernel.sysctl.net.core.somaxconn=128' → (path, value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(f"--set {text!r}: expected KEY=VALUE, e.g. server.backlog=8")
    parts = key.strip().split(".")
    if len(parts) > 2 and parts[0] == "kernel" and parts[1].endswith("sysctl"):
        parts = [parts[0], parts[1], ".".join(parts[2:])]
    try:
        value: object = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    if isinstance(value, float):
        value = raw.strip()  # "6.10" must stay a version, not become 6.1; floats accept text
    return parts, value


def apply_override(data: dict[str, Any], path: list[str], value: object, origin: str) -> None:
    node: Any = data
    for index, part in enumerate(path[:-1]):
        if part == "clients" and isinstance(node.get(part), list):
            node = node[part][0]  # --set clients.X applies to the first client group
            continue
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"{origin}: --set {'.'.join(path[: index + 1])}: not a table")
        node = child
    node[path[-1]] = value


def _read_toml(path: Path | str) -> dict[str, Any]:
    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{origin}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{origin}: not valid TOML: {exc}") from None


def load_host_table(path: Path | str) -> dict[str, Any]:
    """The [host] table of a file `tcpq lab calibrate` wrote (or any file with one)."""
    data = _read_toml(path)
    table = data.get("host")
    if not isinstance(table, dict):
        raise ScenarioError(f"{path}: no [host] table (write one with `sudo tcpq lab calibrate`)")
    try:
        HostSection.model_validate(table)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, str(path)).args[0].replace(": ", ": host.", 1)) from None
    return table


def check_seed(seed: int) -> int:
    """A `--seed` as given on the command line, or a one-line error naming the option."""
    if not 0 <= seed <= MAX_SEED:
        raise ScenarioError(f"--seed {seed}: give an integer from 0 to {MAX_SEED}")
    return seed


def load_scenario(
    path: Path | str,
    overrides: list[str] | tuple[str, ...] = (),
    host_file: Path | str | None = None,
    seed: int | None = None,
) -> Scenario:
    """Read, override and validate a scenario file; every failure is a one-line ScenarioError.

    `host_file`: a file with a [host] table (`tcpq lab calibrate`) whose keys win over the
    scenario's own [host]; `--set host.X` still wins over both. `seed` (`--seed`) wins over
    the file's seed and any `--set seed=`.
    """
    origin = str(path)
    data = _read_toml(path)
    if host_file is not None:
        data["host"] = {**data.get("host", {}), **load_host_table(host_file)}
    for text_override in overrides:
        key_path, value = parse_override(text_override)
        apply_override(data, key_path, value, origin)
    if seed is not None:
        data["seed"] = check_seed(seed)
    return scenario_from_dict(data, origin)


def scenario_from_dict(data: dict[str, Any], origin: str = "<scenario>") -> Scenario:
    data = _normalise(dict(data), origin)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise _describe(exc, origin) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise ScenarioError(f"{origin}: {exc}") from None
