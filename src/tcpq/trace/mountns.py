"""The helper that holds tcpq's private tracefs mount: `python -m tcpq.trace.mountns PARENT_PID`.

tracefs is not mounted on hosts like the reference machine, and tcpq never mounts anything in
the host's mount namespace. This process unshares its mount namespace, makes every mount in it
private (so nothing propagates back), mounts tracefs on /sys/kernel/tracing there, says
"ready" and waits. tcpq reaches the files through /proc/<this pid>/root/sys/kernel/tracing;
when tcpq closes the pipe or dies (parent-death signal), this process exits and the kernel
drops the namespace with its mount.
"""

import ctypes
import os
import signal
import sys

CLONE_NEWNS = 0x00020000  # include/uapi/linux/sched.h
MS_REC = 0x4000  # include/uapi/linux/mount.h
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1  # include/uapi/linux/prctl.h
TRACEFS_DIR = b"/sys/kernel/tracing"


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def main(argv: list[str]) -> int:
    parent = int(argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    if os.getppid() != parent:  # tcpq died before the death signal was armed
        return 1
    try:
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        _check(libc.mount(b"nodev", TRACEFS_DIR, b"tracefs", 0, None), "mount -t tracefs")
    except OSError as exc:
        print(f"error {exc.strerror}", flush=True)
        return 1
    print("ready", flush=True)
    sys.stdin.buffer.read()  # EOF when tcpq closes the pipe or exits
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
