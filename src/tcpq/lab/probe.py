"""`tcpq lab calibrate`'s client-side probe, run inside the client namespace.

`python -m tcpq.lab.probe CONFIG` (a wire.ProbeConfig): after "go" on stdin, one of
- `spaced`: `count` blocking connect() calls `spacing_s` apart, so the server is asleep at
  each; prints the monotonic time at which each connect() returned (the child is queued by
  then: on the lab link the final ACK is processed inside the call, kernel-model §14.2);
- `burst`: `count` non-blocking connect() calls back to back (sockets kept open); prints the
  mean time per call. Against a listener the handshake is processed inside each call; against
  a port whose SYNs are dropped only the SYN is sent: the difference is the stack's packets.
Bounded by its count and by `lifetime_s`. The result is one wire.ProbeResult line.
"""

import socket
import sys
import time

from tcpq.lab.wire import ProbeConfig, ProbeResult, parse_go


def spaced(address: str, port: int, count: int, spacing_s: float, deadline: float) -> list[float]:
    returned = []
    held = []
    for _ in range(count):
        if time.monotonic() >= deadline:
            break
        sock = socket.create_connection((address, port), timeout=1.0)
        returned.append(time.monotonic())
        held.append(sock)  # closed at exit: a close now would wake the server again
        time.sleep(spacing_s)
    return returned


def burst(address: str, port: int, count: int) -> float:
    held = []
    start = time.monotonic()
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        sock.connect_ex((address, port))
        held.append(sock)
    per_call = (time.monotonic() - start) / count
    for sock in held:
        sock.close()
    return per_call


def main() -> None:
    config = ProbeConfig.from_json(sys.argv[1])
    deadline = time.monotonic() + config.lifetime_s
    print("ready", flush=True)
    if not parse_go(sys.stdin.readline())[0]:
        return
    address, port, count = config.address, config.port, config.count
    if config.mode == "spaced":
        result = spaced(address, port, count, config.spacing_s, deadline)
    else:
        result = [burst(address, port, count) for _ in range(config.repeat)]
    print(ProbeResult(tuple(result)).to_json(), flush=True)


if __name__ == "__main__":
    main()
