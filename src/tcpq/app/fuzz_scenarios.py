"""Random lab-safe scenarios for `tcpq lab fuzz`, and the TOML a user reruns them from. Pure.

Scenario K of seed S is drawn from its own `random.Random(f"{S}:{K}")`, so it can be drawn alone
and the same seed always gives the same scenarios. Each draw is a plain dict in the shape of a
scenario file (docs/scenarios.md), valid for `tcpq.scenario.scenario_from_dict`.

The drawn space:

- duration 1–5 s in 0.5 s steps (nine draws in ten), otherwise 6, 7, 8 or 10 s;
- `[kernel.sysctl]` `tcp_syncookies` 0/1/2 and `tcp_abort_on_overflow` 0/1 (both namespaces);
- `[server]` backlog 0–64 and one of: accept never, immediate, at a rate (10–500/s), or 1–16
  workers with a fixed or exponential service time (1–100 ms); sometimes `accept_after`;
- one or two `[[clients]]` groups, each a burst (`count` at `at`) or a rate (uniform or
  Poisson, optionally inside a `from`/`until` window); request mode (all groups alike, as the
  lab's server answers every connection the same way), sometimes with think time;
  `close_after`; sometimes a `connect_timeout`;
- `[network]` rtt 0 or 2/5/10/20 ms (not with a burst of more than 20 clients: the lab's
  user-space link cannot carry one at the kernel's pace); sometimes a `[network.filter]`
  window dropping bare ACKs or every non-SYN segment;
- sometimes an `[attack]` of spoofed SYNs: a flood at a rate or a burst.

Hard bounds, so a run stays short and the lab reproduces it (it is checked over many draws):
duration ≤ 10 s; client rate groups together ≤ 2,000/s; a client burst ≤ 500; clients in all
≤ 2,000 (expected attempts); spoofed SYNs ≤ 5,000/s, a spoofed burst ≤ 500. Never drawn,
because the lab does not reproduce them or adds its own randomness: `clients.sources` > 1,
`network.loss`, `kernel.version` (the lab runs the machine's kernel, so does the comparison).
"""

import json
import math
import random
import re
from typing import Any

MAX_DURATION_S = 10.0
MAX_CLIENTS = 2_000
MAX_CLIENT_RATE = 2_000  # per second, every rate group together
MAX_BURST = 500
MAX_ATTACK_RATE = 5_000  # spoofed SYNs per second
MAX_ATTACK_BURST = 500
MAX_BACKLOG = 64
MIN_CLIENT_RATE = 5
# A burst with a delay on the link: where the kernel has no netem, the lab's user-space link
# relays ~40k packets/s and queues the rest, so a burst of hundreds reaches the server at the
# relay's pace, processed in the relay's write() calls (measured: fuzz-1-55, 351 clients at
# rtt 2 ms, accept queue peak 65 in the lab where the model, at the kernel's pace, has 4).
MAX_BURST_WITH_RTT = 20
SHORT_DURATIONS_S = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)
LONG_DURATIONS_S = (6.0, 7.0, 8.0, 10.0)
BACKLOGS = (0, 1, 2, 4, 8, 16, 32, 64)
ACCEPT_RATES = (10, 20, 50, 100, 200, 500)
WORKERS = (1, 2, 4, 8, 16)
SERVICE_MS = (1, 5, 10, 20, 50, 100)
RTTS_MS = (2, 5, 10, 20)
ATTACK_RATES = (100, 200, 500, 1_000, 2_000, 5_000)
CLOSE_AFTER = ("0s", "100ms", "500ms", "never")
CONNECT_TIMEOUTS = ("1s", "2s", "3s")
REQUEST_AFTER = ("50ms", "200ms")
WINDOWS_S = (0.2, 0.5, 1.0, 2.0)


def rng_for(seed: int, index: int) -> random.Random:
    """The generator of scenario `index` of `seed`: its own stream, so it can be redrawn alone."""
    return random.Random(f"{seed}:{index}")


def scenario_name(seed: int, index: int) -> str:
    return f"fuzz-{seed}-{index}"


def draw_scenarios(seed: int, count: int) -> list[dict[str, Any]]:
    """Scenarios 1..count of `seed`."""
    return [draw_scenario(rng_for(seed, k), k, name=scenario_name(seed, k)) for k in range(1, count + 1)]


def draw_scenario(rng: random.Random, index: int, *, name: str | None = None) -> dict[str, Any]:
    """One random scenario inside the bounds of the module docstring, as a TOML-able dict."""
    duration = rng.choice(SHORT_DURATIONS_S if rng.random() < 0.9 else LONG_DURATIONS_S)
    data: dict[str, Any] = {
        "name": name or f"fuzz-{index}",
        "duration": _seconds(duration),
        "seed": rng.randrange(1, 1_000_000),
        "kernel": {
            "sysctl": {
                "net.ipv4.tcp_syncookies": rng.choice((0, 1, 1, 2)),
                "net.ipv4.tcp_abort_on_overflow": rng.choice((0, 0, 1)),
            }
        },
        "server": _server(rng, duration),
        "clients": _clients(rng, duration, request=rng.random() < 0.35),
    }
    network = _network(rng, duration)
    if "rtt" in network and any(group.get("count", 0) > MAX_BURST_WITH_RTT for group in data["clients"]):
        del network["rtt"]  # drawn all the same, so every later draw of the stream is unchanged
    if network:
        data["network"] = network
    if rng.random() < 0.2:
        data["attack"] = _attack(rng, duration)
    return data


def _seconds(value: float) -> str:
    return f"{round(value, 3):g}s"


def _time(rng: random.Random, low: float, high: float) -> float:
    """A time in [low, high] on a 0.1 s grid."""
    return round(rng.uniform(low, max(low, high)), 1)


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _server(rng: random.Random, duration: float) -> dict[str, Any]:
    backlog = rng.choice(BACKLOGS) if rng.random() < 0.5 else rng.randint(0, MAX_BACKLOG)
    server: dict[str, Any] = {"backlog": backlog}
    kind = rng.choices(("never", "immediate", "rate", "workers"), weights=(2, 3, 2, 3))[0]
    if kind == "workers":
        server["workers"] = rng.choice(WORKERS)
        exponential = rng.random() < 0.5
        server["service_time"] = f"{'exp:' if exponential else ''}{rng.choice(SERVICE_MS)}ms"
    elif kind == "rate":
        server["accept"] = f"{rng.choice(ACCEPT_RATES)}/s"
    else:
        server["accept"] = kind
    if kind != "never" and rng.random() < 0.3:
        server["accept_after"] = _seconds(_time(rng, 0.2, min(3.0, duration * 0.6)))
    return server


def _clients(rng: random.Random, duration: float, request: bool) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    clients_left, rate_left = float(MAX_CLIENTS), float(MAX_CLIENT_RATE)
    for _ in range(1 if rng.random() < 0.7 else 2):
        if clients_left < 1:
            break
        if rng.random() < 0.5:
            group, clients, rate = _burst(rng, duration, clients_left)
        else:
            group, clients, rate = _rate_group(rng, duration, clients_left, rate_left)
        clients_left -= clients
        rate_left -= rate
        groups.append({**group, **_behaviour(rng, request)})
    return groups


def _burst(rng: random.Random, duration: float, clients_left: float) -> tuple[dict[str, Any], float, float]:
    count = min(int(clients_left), max(1, int(_log_uniform(rng, 1, MAX_BURST + 1))), MAX_BURST)
    at = 0.0 if rng.random() < 0.4 else _time(rng, 0.0, duration * 0.6)
    return {"count": count, "at": _seconds(at)}, count, 0.0


def _rate_group(
    rng: random.Random, duration: float, clients_left: float, rate_left: float
) -> tuple[dict[str, Any], float, float]:
    start = 0.0 if rng.random() < 0.6 else _time(rng, 0.1, duration * 0.5)
    until = None if rng.random() < 0.5 else _time(rng, start + 0.2, duration)
    if until is not None and (until <= start or until >= duration):
        until = None
    window = (duration if until is None else until) - start
    ceiling = math.floor(min(rate_left, clients_left / window))
    if ceiling < 1:
        return _burst(rng, duration, clients_left)
    rate = max(1, min(ceiling, round(_log_uniform(rng, MIN_CLIENT_RATE, MAX_CLIENT_RATE))))
    group: dict[str, Any] = {"rate": f"{rate}/s", "arrival": rng.choice(("uniform", "poisson"))}
    if start > 0:
        group["from"] = _seconds(start)
    if until is not None:
        group["until"] = _seconds(until)
    return group, rate * window, float(rate)


def _behaviour(rng: random.Random, request: bool) -> dict[str, Any]:
    """What each client does once it has called connect(): the same draws for every group kind."""
    behaviour: dict[str, Any] = {}
    if request:
        behaviour["request"] = True
        if rng.random() < 0.15:
            behaviour["request_after"] = rng.choice(REQUEST_AFTER)
    if rng.random() < 0.4:
        behaviour["close_after"] = rng.choice(CLOSE_AFTER)
    if rng.random() < 0.25:
        behaviour["connect_timeout"] = rng.choice(CONNECT_TIMEOUTS)
    return behaviour


def _network(rng: random.Random, duration: float) -> dict[str, Any]:
    network: dict[str, Any] = {}
    if rng.random() < 0.4:
        network["rtt"] = f"{rng.choice(RTTS_MS)}ms"
    if rng.random() < 0.2:
        start = 0.0 if rng.random() < 0.5 else _time(rng, 0.1, duration * 0.5)
        rule: dict[str, Any] = {"drop": rng.choice(("bare_ack", "non_syn")), "from": _seconds(start)}
        end = round(start + rng.choice(WINDOWS_S), 1)
        if rng.random() < 0.7 and end < duration:
            rule["until"] = _seconds(end)
        network["filter"] = rule
    return network


def _attack(rng: random.Random, duration: float) -> dict[str, Any]:
    start = _time(rng, 0.0, duration * 0.5)
    if rng.random() < 0.3:
        return {"count": rng.randint(10, MAX_ATTACK_BURST), "at": _seconds(start)}
    attack: dict[str, Any] = {"rate": f"{rng.choice(ATTACK_RATES)}/s", "from": _seconds(start)}
    end = round(start + rng.choice(WINDOWS_S) * 2, 1)
    if rng.random() < 0.5 and end < duration:
        attack["until"] = _seconds(end)
    return attack


# -- TOML --------------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def to_toml(data: dict[str, Any], header: str = "") -> str:
    """A scenario dict as a TOML file (`tomllib.loads` gives `data` back), `header` as comments."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    _table(lines, [], data)
    return "\n".join(lines).strip("\n") + "\n"


def _table(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    subtables = {key: value for key, value in table.items() if isinstance(value, dict) or _is_array(value)}
    for key, value in table.items():
        if key not in subtables:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in subtables.items():
        name = ".".join(_key(part) for part in [*path, key])
        if isinstance(value, dict):
            has_scalars = any(not isinstance(v, dict) and not _is_array(v) for v in value.values())
            if has_scalars or not value:
                lines += ["", f"[{name}]"]
            _table(lines, [*path, key], value)
        else:
            for item in value:
                lines += ["", f"[[{name}]]"]
                _table(lines, [*path, key], item)


def _is_array(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string (ASCII, \u escapes) is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
