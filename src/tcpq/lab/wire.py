"""Every message between tcpq and the lab's programs, typed: one module, read by both ends.

The lab's programs (server, client generator, attacker, link relay, calibrate's probes) are
separate processes. tcpq starts each with a JSON config (its argument, or the first line on its
stdin) and reads back one JSON line of results. Each such message is a frozen dataclass here:
`to_json()` writes it, `from_json()` reads it and checks every field against its type, so a
program that sends something malformed fails with one line naming the message and the field
instead of a KeyError or a wrong number deep in the runner. Stdlib only (json, dataclasses, no
pydantic): the programs start in the middle of a measurement, and their start-up counts.

The control lines stay plain text: a program prints "ready" once it is set up; tcpq writes
`go_line(T0)` ("go T0") to start it; the relay answers a "stats" or "reset" line on its stdin
with a RelayStats line.
"""

import json
from dataclasses import MISSING, fields
from types import GenericAlias, NoneType, UnionType
from typing import Any, ClassVar, Self, TypeVar

from tcpq.errors import ParseError
from tcpq.records import frozen

REPR_CHARS = 40  # of a wrong value quoted in an error: enough to recognise it, not a megabyte


@frozen
class Message:
    """A message's JSON form: its fields in order, nested messages as objects, tuples as lists."""

    ABOUT: ClassVar[str]  # who sends it to whom, for the error a malformed one raises
    # Fields that hold one of a few words (a str field's value, a dict field's keys).
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {}

    def to_json(self) -> str:
        return json.dumps(self, default=_fields)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """The message in `text`; ParseError naming the message and the field if it is malformed."""
        try:
            data = json.loads(text)
        except ValueError as exc:  # UnicodeDecodeError is one too
            raise _malformed(cls, "", f"not JSON ({exc})") from None
        return _message(cls, data, cls, "")


def _fields(value: object) -> dict[str, object]:
    """json.dumps's `default`: a nested message as a dict of its fields (shallow, no copies)."""
    if isinstance(value, Message):
        return {item.name: getattr(value, item.name) for item in fields(value)}
    raise TypeError(f"{type(value).__name__} is not a lab message")


def _malformed(top: type[Message], where: str, problem: str) -> ParseError:
    place = f" {where}:" if where else ""
    return ParseError(f"malformed {top.__name__} ({top.ABOUT}):{place} {problem}")


def _expected(kind: object) -> str:
    """What a field of type `kind` holds, in words."""
    if isinstance(kind, UnionType):
        return " or ".join("null" if arg is NoneType else _expected(arg) for arg in kind.__args__)
    if isinstance(kind, GenericAlias):
        if kind.__origin__ is dict:
            return "an object"
        args = kind.__args__
        return "a list" if len(args) == 2 and args[1] is Ellipsis else f"a list of {len(args)}"
    names: dict[object, str] = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}
    return names.get(kind, "an object")


M = TypeVar("M", bound=Message)


def _message(cls: type[M], data: object, top: type[Message], where: str) -> M:
    if not isinstance(data, dict):
        raise _malformed(top, where, f"expected an object, got {_short(data)}")
    declared = fields(cls)
    unknown = sorted(set(data) - {item.name for item in declared})
    if unknown:
        raise _malformed(top, _join(where, _clip(unknown[0])), "unknown field")
    values: dict[str, Any] = {}
    for item in declared:
        path = _join(where, item.name)
        if item.name in data:
            values[item.name] = _value(data[item.name], item.type, top, path)
        elif item.default is MISSING and item.default_factory is MISSING:
            raise _malformed(top, path, "missing")
        allowed = cls.CHOICES.get(item.name)
        if allowed is not None and item.name in values:
            _choose(values[item.name], allowed, top, path)
    return cls(**values)


def _choose(value: object, allowed: frozenset[str], top: type[Message], where: str) -> None:
    for word in value if isinstance(value, dict) else [value]:
        if word not in allowed:
            raise _malformed(top, where, f"{_short(word)} is not one of {', '.join(sorted(allowed))}")


def _value(value: object, kind: object, top: type[Message], where: str) -> object:
    """`value` checked against `kind` (the field's annotation). A whole number in a float field
    becomes a float: a sender that wrote seconds as 20 meant 20.0."""
    if kind is float:
        if type(value) is float:
            return value
        if type(value) is int:
            return float(value)
    elif kind in (int, str, bool):
        if type(value) is kind:
            return value
    elif isinstance(kind, UnionType):
        if value is None and NoneType in kind.__args__:
            return None
        others = [arg for arg in kind.__args__ if arg is not NoneType]
        if len(others) == 1:
            return _value(value, others[0], top, where)
    elif isinstance(kind, GenericAlias):
        return _container(value, kind, top, where)
    elif isinstance(kind, type) and issubclass(kind, Message):
        return _message(kind, value, top, where)
    raise _malformed(top, where, f"expected {_expected(kind)}, got {_short(value)}")


def _container(value: object, kind: GenericAlias, top: type[Message], where: str) -> object:
    args = kind.__args__
    if kind.__origin__ is dict and isinstance(value, dict):
        return {key: _value(item, args[1], top, f"{where}[{_short(key)}]") for key, item in value.items()}
    if kind.__origin__ is tuple and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            if args[0] is float and all(type(item) is float for item in value):
                return tuple(value)  # the common case, 10⁵ arrival times: one type check each
            return tuple(_value(item, args[0], top, f"{where}[{k}]") for k, item in enumerate(value))
        if len(value) == len(args):
            pairs = enumerate(zip(value, args, strict=True))
            return tuple(_value(item, arg, top, f"{where}[{k}]") for k, (item, arg) in pairs)
    raise _malformed(top, where, f"expected {_expected(kind)}, got {_short(value)}")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _short(value: object) -> str:
    return _clip(repr(value))


def _clip(text: str) -> str:
    return text if len(text) <= REPR_CHARS else text[: REPR_CHARS - 1] + "…"


# -- control lines -----------------------------------------------------------------------------------


def go_line(t0: float) -> bytes:
    """What tcpq writes to start a lab program: "go" and the shared start time T0."""
    return f"go {t0!r}\n".encode()


def parse_go(line: str) -> tuple[bool, float | None]:
    """("go T0" → (True, T0); a bare "go" → (True, None): start now; anything else → not go)."""
    words = line.split()
    if not words or words[0] != "go" or len(words) > 2:
        return False, None
    return True, float(words[1]) if len(words) == 2 else None


# -- the lab's server (lab/server.py) ----------------------------------------------------------------

ACCEPT_MODES = frozenset({"never", "immediate", "rate", "workers"})


@frozen
class ServerConfig(Message):
    ABOUT: ClassVar[str] = "tcpq's config for the lab's server"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"accept": ACCEPT_MODES}

    address: str
    port: int
    backlog: int
    accept: str  # one of ACCEPT_MODES
    rate: float
    workers: int
    service_s: float
    service_exponential: bool
    accept_after_s: float
    request_mode: bool
    lifetime_s: float
    seed: int
    close_delay_s: float
    # `tcpq lab calibrate`: print the monotonic time of every accept() return at exit.
    log_accepts: bool = False
    # `tcpq lab`: after "ready", wait for "go T0" on stdin and count accept_after from T0, the
    # lab's shared start (lab/runner.py); otherwise from the program's own start.
    wait_for_go: bool = False


@frozen
class ServerAccepts(Message):
    ABOUT: ClassVar[str] = "the lab server's accept() times, with log_accepts"

    accepted: tuple[float, ...]  # time.monotonic() at each accept() return


# -- the client generator (lab/clients.py) -----------------------------------------------------------

# model.client.Outcome's values, spelled out: importing the model would cost the programs ~60 ms
# of start-up (tests/lab/test_wire.py checks that the two agree).
OUTCOMES = frozenset({"connected", "refused", "reset", "timed_out", "no_port", "pending"})


@frozen
class ClientGroup(Message):
    ABOUT: ClassVar[str] = "a client group of tcpq's config for the client generator"

    times_s: tuple[float, ...]  # arrival times after T0, drawn by tcpq with the scenario's seed
    connect_timeout_s: float | None
    request: bool
    request_after_s: float
    close_after_s: float | None


@frozen
class ClientConfig(Message):
    ABOUT: ClassVar[str] = "tcpq's config for the lab's client generator"

    address: str
    port: int
    duration_s: float
    groups: tuple[ClientGroup, ...]


@frozen
class ClientReport(Message):
    """Each attempt's outcome and times; every time after T0 is in seconds from T0."""

    ABOUT: ClassVar[str] = "the client generator's report to tcpq"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"outcomes": OUTCOMES, "ended_at_s": OUTCOMES}

    attempted: int
    outcomes: dict[str, int]  # attempts by outcome
    connect_s: tuple[float, ...]  # connect() to established, of each attempt that connected
    response_s: tuple[float, ...]  # connect() to the reply, in request mode
    connected_at_s: tuple[float, ...]  # sorted: when each connected attempt did
    ended_at_s: dict[str, tuple[float, ...]]  # sorted, by outcome: when each unconnected one ended
    late_mean_s: float  # how far behind schedule the connect() calls started (the machine's delay)
    late_max_s: float
    started_s: tuple[float, ...]  # when each connect() was called (calibrate's connect gap)


# -- the attacker (lab/attacker.py) ------------------------------------------------------------------


@frozen
class AttackConfig(Message):
    ABOUT: ClassVar[str] = "tcpq's config for the lab's attacker"

    address: str  # the listener's address (destination)
    port: int
    times_s: tuple[float, ...]  # sorted send times after T0
    until_s: float  # SYNs still unsent this long (+ the attacker's grace) after T0 stay unsent
    lifetime_s: float  # the program exits by itself this long after it starts, whatever happens
    seed: int = 1  # initial sequence numbers


@frozen
class AttackReport(Message):
    ABOUT: ClassVar[str] = "the attacker's report to tcpq"

    offered: int
    sent: int
    errors: int  # send errors (ENOBUFS and the like), not retried
    unsent: int
    first_s: float | None  # when the first and the last SYN left, after T0 (None: none did)
    last_s: float | None
    late_mean_s: float
    late_max_s: float


# -- the user-space link's relay (lab/link.py, lab/relay.py) -----------------------------------------

RELAY_SPIN_US = 100  # the relay's early wake-up when the config names none (link.SPIN_US does)
RELAY_NICE = -10  # this process only; without CAP_SYS_NICE it keeps the default


@frozen
class LinkConfig(Message):
    ABOUT: ClassVar[str] = "tcpq's config for the link's relay"

    fds: tuple[int, int]  # the two TUN devices' fds, passed to the relay
    one_way_us: int
    loss: float
    seed: int
    lifetime_s: float
    parent_pid: int  # the relay exits when its parent is no longer this
    spin_us: int = RELAY_SPIN_US
    nice: int = RELAY_NICE


@frozen
class DirectionStats(Message):
    ABOUT: ClassVar[str] = "one direction of the relay's counters"

    read: int
    lost: int
    forwarded: int


@frozen
class RelayStats(Message):
    ABOUT: ClassVar[str] = "the link relay's counters"

    read: int
    lost: int  # dropped as loss
    forwarded: int
    overflow: int  # dropped: the relay's queue was full
    write_errors: int
    per_direction: tuple[DirectionStats, ...]
    late_p50_us: float  # how late packets left after their delay
    late_p99_us: float
    late_max_us: float
    batch_max: int
    uptime_s: float


# -- tcpq lab calibrate's probes (lab/probe.py, lab/wave.py) -----------------------------------------


@frozen
class ProbeConfig(Message):
    ABOUT: ClassVar[str] = "tcpq lab calibrate's config for its client probe"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"mode": frozenset({"spaced", "burst"})}

    mode: str  # "spaced": blocking connects spacing_s apart; "burst": `repeat` bursts
    address: str
    port: int
    count: int
    lifetime_s: float
    spacing_s: float = 0.0
    repeat: int = 1


@frozen
class ProbeResult(Message):
    ABOUT: ClassVar[str] = "the client probe's result"

    result: tuple[float, ...]  # spaced: when each connect() returned; burst: seconds per call


@frozen
class WaveConfig(Message):
    ABOUT: ClassVar[str] = "tcpq lab calibrate's config for its wave probe"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"switch": frozenset({"relisten", "drain"})}

    address: str
    port: int
    switch_s: float
    lifetime_s: float
    backlog: int
    switch: str  # "relisten" with new_backlog, or "drain"
    new_backlog: int = 0


@frozen
class WavePackets(Message):
    ABOUT: ClassVar[str] = "the wave probe's packets"

    packets: tuple[tuple[float, int], ...]  # (seconds after go, TCP flags) of each packet
