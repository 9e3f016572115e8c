"""Remedies as data: one target backlog per listener, written for the runtime that owns it.

Every finding about a listener takes its numbers from `backlog_plan`, so two findings can never
suggest different values, and none suggests less than the listener already has or its runtime
already asks for.
"""

from tcpq.records import frozen
from tcpq.types import (
    AppChange,
    Listener,
    ListenerRef,
    ProcessInfo,
    ProcessRef,
    Remedy,
    Runtime,
    Snapshot,
    SysctlChange,
)

# What listen() gets when the configuration names no backlog: nginx's NGX_LISTEN_BACKLOG (511 on
# Linux, src/os/unix/ngx_linux_config.h) and Node's net.Server default (511). Go passes
# net.core.somaxconn itself (net/sock_linux.go maxListenerBacklog); Java's ServerSocket 50.
RUNTIME_DEFAULT_BACKLOG = {Runtime.NGINX: 511, Runtime.NODE: 511, Runtime.JAVA: 50}
BACKLOG_HEADROOM = 4  # × today's limit: a burst that overflows it today fits, with room
MIN_SUGGESTED_BACKLOG = 128
WILDCARD_V4, WILDCARD_V6 = "0.0.0.0", "::"


@frozen
class BacklogPlan:
    """The backlog to ask for and the somaxconn it needs (None: somaxconn already allows it)."""

    backlog: int
    somaxconn: SysctlChange | None


def owner(listener: Listener) -> ProcessInfo | None:
    return listener.processes[0] if listener.processes else None


def runtime_of(listener: Listener) -> Runtime | None:
    first = owner(listener)
    return first.runtime if first else None


def _power_of_two_at_least(value: int) -> int:
    return 1 << max(0, value - 1).bit_length()


def backlog_plan(snapshot: Snapshot, listener: Listener) -> BacklogPlan:
    current = listener.accept_queue_limit
    asked = RUNTIME_DEFAULT_BACKLOG.get(runtime_of(listener) or Runtime.NATIVE, 0)
    wanted = max(current * BACKLOG_HEADROOM, asked + 1, current + 1, MIN_SUGGESTED_BACKLOG)
    backlog = _power_of_two_at_least(wanted)
    somaxconn = snapshot.sysctl.get("net.core.somaxconn")
    change = None
    if not isinstance(somaxconn, int) or somaxconn < backlog:
        change = sysctl_change(snapshot, "net.core.somaxconn", backlog)
    return BacklogPlan(backlog, change)


def larger_backlog(
    snapshot: Snapshot,
    listener: Listener | None,
    advice: str,
    applies: str = "",
    first: tuple[SysctlChange, ...] = (),
) -> Remedy:
    """The listener's one target backlog as a remedy: the application change for its runtime
    and, where somaxconn would cut the request, the somaxconn change (after `first`)."""
    if listener is None:
        return Remedy(advice=advice, sysctls=list(first), applies=applies)
    plan = backlog_plan(snapshot, listener)
    somaxconn = [plan.somaxconn] if plan.somaxconn else []
    return Remedy(
        advice=advice,
        sysctls=[*first, *somaxconn],
        app=backlog_change(listener, plan.backlog),
        applies=applies,
    )


def sysctl_change(snapshot: Snapshot, name: str, value: int | tuple[int, int]) -> SysctlChange:
    return SysctlChange(name=name, value=value, netns=snapshot.netns, current=snapshot.sysctl.get(name))


def nginx_listen(address: str, port: int) -> str:
    """nginx's `listen` argument for this socket: the configured address kept."""
    if address == WILDCARD_V4:
        return str(port)
    if ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


# How each runtime asks listen() for a backlog: what to do, and the line to write with the
# listener's {port}, its nginx `listen` argument ({listen}) and the {backlog} filled in. Go
# has no line: net.Listen asks for net.core.somaxconn itself.
BACKLOG_HOWTO: dict[Runtime | None, tuple[str, str]] = {
    Runtime.NGINX: (
        "raise the listen backlog in the server block, then reload nginx",
        "listen {listen} backlog={backlog};",
    ),
    Runtime.JAVA: (
        "pass a backlog when binding (Tomcat/Spring: server.tomcat.accept-count)",
        "new ServerSocket({port}, {backlog})",
    ),
    Runtime.PYTHON: (
        "pass a backlog to listen() (asyncio: start_server(..., backlog=N); uvicorn: --backlog N)",
        "sock.listen({backlog})",
    ),
    Runtime.NODE: ("pass a backlog to listen()", "server.listen({{ port: {port}, backlog: {backlog} }})"),
    Runtime.GO: (
        "Go's net.Listen asks listen() for net.core.somaxconn itself: raise that sysctl and restart",
        "",
    ),
}
# Any other program (native, or no owner seen).
GENERIC_BACKLOG_HOWTO = (
    "ask listen() for a larger backlog (in the code or the program's settings)",
    "listen(fd, {backlog})",
)


def backlog_change(listener: Listener, backlog: int) -> AppChange:
    """Ask listen() for `backlog`, in the words of the listener's runtime."""
    runtime, port = runtime_of(listener), listener.port
    action, line = BACKLOG_HOWTO.get(runtime, GENERIC_BACKLOG_HOWTO)
    example = line.format(port=port, backlog=backlog, listen=nginx_listen(listener.address, port))
    return AppChange(runtime, action, example)


def resume_change(stopped: list[ProcessInfo]) -> AppChange:
    pids = " ".join(str(p.pid) for p in stopped)
    return AppChange(
        stopped[0].runtime,
        "the process is stopped (SIGSTOP or a debugger) and runs no code: resume it",
        f"kill -CONT {pids}",
    )


def stopped_owners(listener: Listener) -> list[ProcessInfo]:
    return [p for p in listener.processes if p.stopped]


def listener_ref(listener: Listener) -> ListenerRef:
    return ListenerRef(address=listener.address, port=listener.port)


def process_ref(process: ProcessInfo | None) -> ProcessRef | None:
    if process is None:
        return None
    return ProcessRef(pid=process.pid, comm=process.comm, runtime=process.runtime, stopped=process.stopped)
