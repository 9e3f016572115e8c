"""What a process is built with (nginx, Java, Go, Python, Node, another native program).

Doctor writes its remedies for the runtime: `listen 80 backlog=1024;` for nginx, not Java. The
signals are the executable's name (/proc/PID/exe, then comm: an interpreter's exe is the
interpreter) and, for Go, which names nothing in particular, the ELF section the Go linker
always writes (`.go.buildinfo`, Go 1.13+; `.note.go.buildid` before). Reading the section
header table costs two small reads per process, done once per process incarnation.
"""

import os
import struct
from pathlib import Path
from typing import BinaryIO

from tcpq.types import Runtime

ELF_MAGIC = b"\x7fELF"
ELF_CLASS_64 = 2  # e_ident[EI_CLASS]
ELF_DATA_LSB = 1  # e_ident[EI_DATA]
GO_SECTIONS = (b".go.buildinfo", b".note.go.buildid")
MAX_SECTION_NAMES = 1 << 20  # bytes of .shstrtab read at most (a real one is a few hundred)

BY_NAME: tuple[tuple[str, Runtime], ...] = (
    ("nginx", Runtime.NGINX),
    ("java", Runtime.JAVA),
    ("python", Runtime.PYTHON),
    ("pypy", Runtime.PYTHON),
    ("node", Runtime.NODE),
    ("nodejs", Runtime.NODE),
)


def runtime_from_name(name: str) -> Runtime | None:
    """`python3.11`, `nginx`, `java` ...: by the executable's base name."""
    base = name.rsplit("/", 1)[-1].lower()
    for prefix, runtime in BY_NAME:
        if base == prefix or (prefix == "python" and base.startswith("python")):
            return runtime
    return None


def is_go_binary(path: str | Path) -> bool:
    """Does this ELF file carry the Go linker's build-info section?"""
    try:
        with open(path, "rb") as file:
            return _has_go_section(file.read(64), file)
    except (OSError, struct.error):
        # Unreadable (another user's exe when unprivileged), gone, or not an ELF we can parse.
        return False


def _has_go_section(header: bytes, file: BinaryIO) -> bool:
    if len(header) < 64 or not header.startswith(ELF_MAGIC):
        return False
    is64, little = header[4] == ELF_CLASS_64, header[5] == ELF_DATA_LSB
    order = "<" if little else ">"
    if is64:
        (shoff,) = struct.unpack_from(order + "Q", header, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", header, 0x3A)
    else:
        (shoff,) = struct.unpack_from(order + "I", header, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", header, 0x2E)
    if not shoff or shstrndx >= shnum:
        return False
    seek, read = file.seek, file.read
    seek(shoff + shstrndx * shentsize)
    entry = read(shentsize)
    if is64:
        names_offset, names_size = struct.unpack_from(order + "QQ", entry, 0x18)
    else:
        names_offset, names_size = struct.unpack_from(order + "II", entry, 0x10)
    seek(names_offset)
    names = read(min(names_size, MAX_SECTION_NAMES)).split(b"\0")
    return any(section in names for section in GO_SECTIONS)


def detect_runtime(pid_dir: Path, comm: str) -> Runtime | None:
    """The runtime of the process at /proc/PID (pid_dir); None when its exe cannot be read."""
    try:
        exe = os.readlink(pid_dir / "exe")
    except OSError:
        # EACCES (unprivileged, another user's process), ENOENT (a kernel thread, or it exited).
        return runtime_from_name(comm)
    exe = exe.removesuffix(" (deleted)")  # upgraded in place while running
    named = runtime_from_name(exe) or runtime_from_name(comm)
    if named is not None:
        return named
    return Runtime.GO if is_go_binary(pid_dir / "exe") else Runtime.NATIVE
