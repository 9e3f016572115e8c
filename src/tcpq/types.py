"""The data model shared by every face of tcpq (frozen dataclasses only; no behaviour)."""

from dataclasses import dataclass, field
from enum import StrEnum


class Source(StrEnum):
    SIM = "sim"
    LAB = "lab"
    HOST = "host"


@dataclass(frozen=True)
class Percentiles:
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True)
class ListenerSummary:
    port: int
    backlog: int  # the listen() argument as given
    accept_queue_limit: int  # sk_max_ack_backlog after the somaxconn clamp (ss Send-Q)
    accept_queue_peak: int
    syn_queue_peak: int
    syn_queue_limit: int
    clamped_by_somaxconn: bool
    sk_drops: int


@dataclass(frozen=True)
class ClientSummary:
    attempted: int
    connected: int
    refused: int
    reset: int
    timed_out: int
    no_port: int
    pending: int
    connect_time_s: Percentiles
    response_time_s: Percentiles | None  # request mode only: connect() start to reply
    cookie_connections: int  # completed through a SYN cookie (options possibly lost)


@dataclass(frozen=True)
class TimeSeries:
    t_s: list[float]
    accept_queue: list[int]
    syn_queue: list[int]
    listen_drops: list[int]  # ListenDrops added during each interval
    handshakes: list[int]  # client handshakes completed so far (connect() returned)


@dataclass(frozen=True)
class KernelInfo:
    version: str
    profile: str
    profile_summary: str
    sysctl: dict[str, int | tuple[int, int]]  # the server namespace
    client_sysctl: dict[str, int | tuple[int, int]]


@dataclass(frozen=True)
class RunResult:
    source: Source
    scenario: str
    kernel: KernelInfo
    listener: ListenerSummary
    clients: ClientSummary
    counters: dict[str, int]
    client_counters: dict[str, int]
    timeseries: TimeSeries
    duration_s: float
    notes: list[str] = field(default_factory=list)
    attack_syns: int = 0
