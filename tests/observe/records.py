"""SockRecord builders for tests: every field defaulted, name the ones that matter."""

import socket

from tcpq.kernel.states import TcpState
from tcpq.observe.sockets import SockRecord


def record(**fields: object) -> SockRecord:
    base: dict[str, object] = {
        "family": socket.AF_INET,
        "state": TcpState.ESTABLISHED,
        "local": "127.0.0.1",
        "local_port": 0,
        "remote": "127.0.0.1",
        "remote_port": 0,
        "recv_q": 0,
        "send_q": 0,
        "inode": 0,
        "uid": 0,
        "cookie": 0,
        "drops": None,
        "timer": 0,
        "retrans": 0,
    }
    base.update(fields)
    return SockRecord(**base)  # type: ignore[arg-type]
