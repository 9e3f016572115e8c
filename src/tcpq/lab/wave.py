"""`tcpq lab calibrate`'s wave probe, run inside the server namespace: a listener and a packet
tap that time a wave of retransmitted SYNs as the server's interface receives it.

`python -m tcpq.lab.wave CONFIG` (a wire.WaveConfig): listens on `port` with `backlog`, prints
"ready", and after "go" on stdin records every TCP packet the namespace receives for that port,
with the kernel's receive timestamp (AF_PACKET, SO_TIMESTAMPNS: taken as the softirq starts on
the packet, so the time between two packets of a drained backlog is the first one's
processing). At `switch_s` it changes the listener the way the probe asks:

- `relisten`: listen() again with `new_backlog` (a listening socket takes the new backlog):
  a listener that overflowed with backlog 0 takes the whole retransmission wave;
- `drain`: accept() until EAGAIN once, then never again: the wave finds an empty accept queue
  that fills after its first children.

At `lifetime_s` it prints a wire.WavePackets ({"packets": [[seconds after go, TCP flags], ...]})
and exits.
`Wave` reads such a list: the per-kind packet costs of a drained wave.
"""

import socket
import struct
import sys
import time

from tcpq.errors import TcpqError
from tcpq.lab.wire import WaveConfig, WavePackets, parse_go
from tcpq.records import frozen

ETH_P_IP = 0x0800
SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; Python's socket module lacks the constants
SO_RCVBUFFORCE = 33  # root may exceed net.core.rmem_max (212992: ~150 packets)
PACKET_HOST = 0
WAVE_S = 0.05  # a wave's packets arrive within this of its first SYN
# A 1 s SYN timer sits in the timer wheel's level 1, whose buckets are 8 jiffies (32 ms at HZ
# 250, kernel-model §14.1): connects that straddle a bucket edge retransmit in two waves 32 ms
# apart (measured: 1 wave in 4 on a busy machine, gap 31-32 ms). Inside one wave the SYNs
# arrive microseconds apart; a gap of this much ends it.
WAVE_GAP_S = 0.005
_SYN, _ACK = 0x02, 0x10  # TCP flags: a SYN (no ACK); a bare final ACK


class SplitWave(TcpqError):
    """The clients' timers fell into two timer-wheel buckets: two waves, not one."""


@frozen
class Wave:
    """One timer-driven wave of retransmitted SYNs at the server's interface (this program's
    output, read by `tcpq lab calibrate`): the receive times of its SYNs and of the final
    ACKs that answer them, in seconds."""

    syns: list[float]
    acks: list[float]

    @classmethod
    def after(cls, packets: list[tuple[float, int]], start_s: float, least: int) -> "Wave":
        """The first wave of SYNs received after `start_s` (within WAVE_S of its first), of
        at least `least` SYNs and final ACKs."""
        syns = sorted(t for t, flags in packets if t >= start_s and flags & 0x12 == _SYN)
        if len(syns) < least:
            raise TcpqError("calibrate: the wave probe saw no retransmitted SYNs; try again")
        first = syns[0]
        in_wave = [first]
        for t in syns[1:]:
            if t >= first + WAVE_S:
                break
            if t - in_wave[-1] > WAVE_GAP_S:
                raise SplitWave(
                    f"calibrate: the wave arrived in two parts ({len(in_wave)} SYNs, then more"
                    f" {(t - in_wave[-1]) * 1e3:.0f} ms later: a timer-wheel bucket edge); try again"
                )
            in_wave.append(t)
        acks = sorted(t for t, flags in packets if first <= t < first + WAVE_S and flags == _ACK)
        if len(acks) < least:
            raise TcpqError("calibrate: the wave probe saw too few final ACKs; try again")
        return cls(in_wave, acks)

    def syn_us(self) -> float:
        """A SYN's processing: the SYNs are drained back to back."""
        return (self.syns[-1] - self.syns[0]) / (len(self.syns) - 1) * 1e6

    def synack_us(self) -> float:
        """A SYN-ACK's at the client: all of them are drained after the last SYN's own
        processing and before the first final ACK (the backlog is one FIFO: kernel-model §14.2)."""
        return ((self.acks[0] - self.syns[-1]) * 1e6 - self.syn_us()) / len(self.syns)

    def ack_us(self, first: int = 0, first_us: float = 0.0) -> float:
        """A final ACK's, when the `first` ACKs cost `first_us` each (children before a full
        accept queue drops the rest)."""
        span = (self.acks[-1] - self.acks[0]) * 1e6 - first * first_us
        return span / (len(self.acks) - 1 - first)


def tap(port: int) -> socket.socket:
    """An AF_PACKET socket that sees the IPv4 packets this namespace receives."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    sock.setblocking(False)
    return sock


def tcp_flags(packet: bytes, port: int) -> int | None:
    """The TCP flags of an IPv4 packet to `port`, or None for any other packet."""
    if len(packet) < 20 or packet[9] != socket.IPPROTO_TCP:
        return None
    header = (packet[0] & 0x0F) * 4
    if len(packet) < header + 14:
        return None
    (destination,) = struct.unpack_from("!H", packet, header + 2)
    return packet[header + 13] if destination == port else None


def read_packets(sock: socket.socket, port: int, origin: float, into: list[tuple[float, int]]) -> None:
    """Everything queued on the tap, as (seconds after origin (CLOCK_REALTIME), flags)."""
    while True:
        try:
            data, ancillary, _, address = sock.recvmsg(96, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return
        if address[2] != PACKET_HOST:
            continue
        flags = tcp_flags(data, port)
        stamp = next((item[2] for item in ancillary if item[1] == SO_TIMESTAMPNS), None)
        if flags is None or stamp is None:
            continue
        seconds, nanoseconds = struct.unpack("qq", stamp[:16])
        into.append((seconds + nanoseconds / 1e9 - origin, flags))


def drain(listener: socket.socket) -> list[socket.socket]:
    accepted = []
    while True:
        try:
            accepted.append(listener.accept()[0])
        except BlockingIOError:
            return accepted


def main() -> None:
    config = WaveConfig.from_json(sys.argv[1])
    port = config.port
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((config.address, port))
    listener.listen(config.backlog)
    listener.setblocking(False)
    packets_tap = tap(port)
    print("ready", flush=True)
    if not parse_go(sys.stdin.readline())[0]:
        return
    origin_wall, origin = time.time(), time.monotonic()
    # Asleep but for the switch: a tap read during the wave would take a CPU from it.
    time.sleep(max(0.0, origin + config.switch_s - time.monotonic()))
    held: list[socket.socket] = []  # accepted children stay open: a close would add packets
    if config.switch == "relisten":
        listener.listen(config.new_backlog)
    else:
        held = drain(listener)
    time.sleep(max(0.0, origin + config.lifetime_s - time.monotonic()))
    packets: list[tuple[float, int]] = []
    read_packets(packets_tap, port, origin_wall, packets)
    print(WavePackets(tuple(packets)).to_json(), flush=True)
    for child in held:
        child.close()


if __name__ == "__main__":
    main()
