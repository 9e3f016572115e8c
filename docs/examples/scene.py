"""The small scene the sessions in docs/examples/ look at, run inside its own network namespace:

    ip netns add tcpq-test-docs && ip -n tcpq-test-docs link set lo up
    ip netns exec tcpq-test-docs python3 docs/examples/scene.py &
    ...
    kill %1 && ip netns del tcpq-test-docs

127.0.0.1:8080 is listen(4) and never accept()s, so its accept queue stays full (4 + 1) and
the final ACKs and SYNs that follow are dropped; a client connects to it every 0.2 s and keeps
each socket 5 s (SYN_SENT, then closed: FIN_WAIT2 and CLOSE_WAIT). 127.0.0.1:9090 accepts and
closes at once, every other round, so its side of each connection ends in TIME_WAIT.
"""

import collections
import contextlib
import socket
import threading
import time

STUCK_PORT = 8080
STUCK_BACKLOG = 4
CLOSING_PORT = 9090
ROUND_S = 0.2
KEEP_S = 5.0


def listener(port: int, backlog: int) -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(backlog)
    return server


def never_accept() -> None:
    _server = listener(STUCK_PORT, STUCK_BACKLOG)  # kept open, never accepted from
    while True:
        time.sleep(3600)


def accept_and_close() -> None:
    server = listener(CLOSING_PORT, 128)
    while True:
        connection, _ = server.accept()
        connection.close()


def clients() -> None:
    kept: collections.deque[tuple[float, socket.socket]] = collections.deque()
    for round_number in range(10**9):
        stuck = socket.socket()
        stuck.setblocking(False)  # a SYN the full queue drops: connect() would wait for it
        with contextlib.suppress(BlockingIOError):
            stuck.connect(("127.0.0.1", STUCK_PORT))
        kept.append((time.monotonic(), stuck))
        if round_number % 2 == 0:
            closing = socket.socket()
            try:
                closing.connect(("127.0.0.1", CLOSING_PORT))
                closing.recv(1)  # the server's FIN: it closed first, its side keeps TIME_WAIT
            except OSError:
                pass
            closing.close()
        while kept and time.monotonic() - kept[0][0] > KEEP_S:
            kept.popleft()[1].close()
        time.sleep(ROUND_S)


if __name__ == "__main__":
    threading.Thread(target=never_accept, daemon=True).start()
    threading.Thread(target=accept_and_close, daemon=True).start()
    time.sleep(0.5)
    clients()
