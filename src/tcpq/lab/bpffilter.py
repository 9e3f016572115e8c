"""[network.filter] decided in the kernel: an eBPF program at the server namespace's tcx ingress.

`nft -i` (nftfilter.py) switches its rule by writing a line at the switch time; the rule is in
the kernel 1-6 ms later, so a burst at the filter's edge meets it or not by chance (fuzz-5-6:
29 clients and a bare-ACK filter both at 0.2 s, 14-29 children in five lab runs). nft's own
`meta time` match has a resolution of one second (`meta time >= 1` compiles to 10^9 ns). This
program compares bpf_ktime_get_ns() (CLOCK_MONOTONIC, the clock of the lab's T0) with the
window's two instants itself, so it is installed, whole, before the run starts and nothing
switches during it: a packet is dropped exactly when it arrives inside [from, until).

The match is the nft rule's (kernel-model §16): TCP to the server port without SYN
(`non_syn`), or without SYN, FIN and RST and at most 52 bytes of IP (`bare_ack`: no payload,
at most 12 bytes of TCP options). The program is a few dozen instructions assembled here
(no clang on a fresh machine); it is loaded with bpf(BPF_PROG_LOAD) and attached with
bpf(BPF_LINK_CREATE, BPF_TCX_INGRESS) from a thread inside the server namespace (tcx: Linux
6.6). The link lives as long as its file descriptor: closing it detaches the program, and a
tcpq that dies takes it along with its namespace.
"""

import ctypes
import functools
import os
import socket
import struct
from dataclasses import dataclass, field

from tcpq.errors import TcpqError
from tcpq.lab.nftfilter import active_window
from tcpq.model.constants import US_PER_S as US
from tcpq.observe.netns import NetnsRef, run_in_netns
from tcpq.scenario import Scenario

SYS_BPF = 321  # x86_64
BPF_PROG_LOAD = 5
BPF_LINK_CREATE = 28
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_TCX_INGRESS = 46
TCX_PASS, TCX_DROP = 0, 2  # TC_ACT_OK, TC_ACT_SHOT
HELPER_KTIME_GET_NS = 5
HELPER_SKB_LOAD_BYTES_RELATIVE = 68
BPF_HDR_START_NET = 1
SKB_PROTOCOL_OFFSET = 16  # struct __sk_buff: len, pkt_type, mark, queue_mapping, protocol
HEADERS = 40  # IPv4 (20, no options) + the first 20 bytes of TCP
BARE_ACK_MAX_IP_LEN = 52
LOG_SIZE = 1 << 16

# eBPF opcodes (include/uapi/linux/bpf.h)
_ALU64, _JMP, _LDX, _LD, _ALU = 0x07, 0x05, 0x01, 0x00, 0x04
_MOV, _ADD, _END = 0xB0, 0x00, 0xD0
_K, _X = 0x00, 0x08
_JNE, _JGE, _JLT, _JGT, _JSET, _CALL, _EXIT, _JA = 0x50, 0x30, 0xA0, 0x20, 0x40, 0x80, 0x90, 0x00
_MEM, _IMM, _B, _H, _W, _DW = 0x60, 0x00, 0x10, 0x08, 0x00, 0x18


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _ld_imm64(dst: int, value: int) -> bytes:
    low, high = value & 0xFFFFFFFF, value >> 32
    return _insn(_LD | _DW | _IMM, dst, imm=struct.unpack("<i", struct.pack("<I", low))[0]) + _insn(
        0, imm=struct.unpack("<i", struct.pack("<I", high))[0]
    )


@dataclass
class _Program:
    """Instructions with forward jumps to the `pass` and `drop` exits, resolved at the end."""

    code: list[bytes] = field(default_factory=list)
    jumps: list[tuple[int, str]] = field(default_factory=list)  # (index, target)

    def add(self, *insns: bytes) -> None:
        for insn in insns:
            for k in range(0, len(insn), 8):
                self.code.append(insn[k : k + 8])

    def jump(self, code: int, dst: int, target: str, src: int = 0, imm: int = 0) -> None:
        self.jumps.append((len(self.code), target))
        self.code.append(_insn(code, dst, src, 0, imm))

    def assemble(self) -> bytes:
        exits = {"drop": len(self.code)}
        self.add(_insn(_ALU64 | _MOV | _K, 0, imm=TCX_DROP), _insn(_JMP | _EXIT))
        exits["pass"] = len(self.code)
        self.add(_insn(_ALU64 | _MOV | _K, 0, imm=TCX_PASS), _insn(_JMP | _EXIT))
        for index, target in self.jumps:
            code, regs, _, imm = struct.unpack("<BBhi", self.code[index])
            self.code[index] = struct.pack("<BBhi", code, regs, exits[target] - index - 1, imm)
        return b"".join(self.code)


def filter_program(drop: str, port: int, from_ns: int, until_ns: int | None) -> bytes:
    """The filter as eBPF bytecode: TCX_DROP for a matching packet inside the window."""
    p = _Program()
    p.add(_insn(_ALU64 | _MOV | _X, 6, 1))  # r6 = skb
    p.add(_insn(_JMP | _CALL, imm=HELPER_KTIME_GET_NS))  # r0 = now (CLOCK_MONOTONIC, ns)
    p.add(_ld_imm64(1, from_ns))
    p.jump(_JMP | _JLT | _X, 0, "pass", src=1)  # now < from
    if until_ns is not None:
        p.add(_ld_imm64(1, until_ns))
        p.jump(_JMP | _JGE | _X, 0, "pass", src=1)  # now >= until
    p.add(_insn(_LDX | _MEM | _W, 2, 6, SKB_PROTOCOL_OFFSET))  # skb->protocol, network order
    p.jump(_JMP | _JNE | _K, 2, "pass", imm=socket.htons(0x0800))
    # bpf_skb_load_bytes_relative(skb, 0, fp - HEADERS, HEADERS, BPF_HDR_START_NET)
    p.add(
        _insn(_ALU64 | _MOV | _X, 1, 6),
        _insn(_ALU64 | _MOV | _K, 2, imm=0),
        _insn(_ALU64 | _MOV | _X, 3, 10),
        _insn(_ALU64 | _ADD | _K, 3, imm=-HEADERS),
        _insn(_ALU64 | _MOV | _K, 4, imm=HEADERS),
        _insn(_ALU64 | _MOV | _K, 5, imm=BPF_HDR_START_NET),
        _insn(_JMP | _CALL, imm=HELPER_SKB_LOAD_BYTES_RELATIVE),
    )
    p.jump(_JMP | _JNE | _K, 0, "pass", imm=0)  # shorter than the headers
    base = -HEADERS
    p.add(_insn(_LDX | _MEM | _B, 2, 10, base + 0))  # version and IHL
    p.jump(_JMP | _JNE | _K, 2, "pass", imm=0x45)  # IPv4 without options (the lab's packets)
    p.add(_insn(_LDX | _MEM | _B, 2, 10, base + 9))  # protocol
    p.jump(_JMP | _JNE | _K, 2, "pass", imm=socket.IPPROTO_TCP)
    p.add(_insn(_LDX | _MEM | _H, 2, 10, base + 22))  # TCP destination port, network order
    p.jump(_JMP | _JNE | _K, 2, "pass", imm=socket.htons(port))
    p.add(_insn(_LDX | _MEM | _B, 2, 10, base + 33))  # TCP flags
    if drop == "non_syn":
        p.jump(_JMP | _JSET | _K, 2, "pass", imm=0x02)
        p.jump(_JMP | _JA, 0, "drop")
    else:  # bare_ack
        p.jump(_JMP | _JSET | _K, 2, "pass", imm=0x07)  # FIN, SYN or RST
        p.add(_insn(_LDX | _MEM | _H, 2, 10, base + 2))  # total length, network order
        p.add(_insn(_ALU | _END | _X, 2, imm=16))  # to host order (BPF_TO_BE is a swap here)
        p.jump(_JMP | _JGT | _K, 2, "pass", imm=BARE_ACK_MAX_IP_LEN)
        p.jump(_JMP | _JA, 0, "drop")
    return p.assemble()


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(command: int, attr: bytes) -> int:
    buffer = ctypes.create_string_buffer(attr, len(attr))
    fd = _libc.syscall(SYS_BPF, command, buffer, len(attr))
    if fd < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return int(fd)


def load(program: bytes) -> int:
    """bpf(BPF_PROG_LOAD): the program's fd; the verifier's log in the error if refused."""
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(LOG_SIZE)
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size,
    # log_buf, kern_version, prog_flags, prog_name[16], prog_ifindex, expected_attach_type
    attr = struct.pack(
        "<IIQQIIQII16sII",
        BPF_PROG_TYPE_SCHED_CLS,
        len(program) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_),
        1,
        LOG_SIZE,
        ctypes.addressof(log),
        0,
        0,
        b"tcpq_filter",
        0,
        BPF_TCX_INGRESS,
    )
    try:
        return _bpf(BPF_PROG_LOAD, attr.ljust(128, b"\0"))
    except OSError as error:
        text = log.value.decode(errors="replace").strip().splitlines()
        why = " / ".join(text[-3:])
        raise TcpqError(f"the kernel refused the lab's eBPF filter ({error}): {why}") from None


def attach_ingress(prog_fd: int, ifindex: int) -> int:
    """bpf(BPF_LINK_CREATE, BPF_TCX_INGRESS) on `ifindex` of the calling thread's namespace."""
    # link_create: prog_fd, target_ifindex, attach_type, flags, then tcx's relative_fd and
    # expected_revision (0: no ordering asked for)
    attr = struct.pack("<IIIIIxxxxQ", prog_fd, ifindex, BPF_TCX_INGRESS, 0, 0, 0)
    return _bpf(BPF_LINK_CREATE, attr.ljust(128, b"\0"))


@functools.cache
def available() -> bool:
    """Whether this kernel loads the filter (eBPF, tcx needs Linux 6.6; root): probed once."""
    try:
        os.close(load(filter_program("non_syn", 1, 0, None)))
    except (TcpqError, OSError):
        return False
    return True


class KernelWindowFilter:
    """[network.filter] as one eBPF program per run, attached to every interface of the server
    namespace before T0 (the same interface as nftfilter.FilterSwitch, which the runner uses
    where this kernel refuses the program)."""

    def __init__(self, ref: NetnsRef, scenario: Scenario) -> None:
        rule = scenario.network.filter
        assert rule is not None
        self.ref = ref
        self.drop = rule.drop
        self.port = scenario.server.port
        self.window = active_window(scenario)
        self.links: list[int] = []
        self.interfaces: list[str] = []

    def prepare(self) -> None:
        """Nothing to do before start(): the whole window is installed at once."""

    def start(self, t0: float) -> None:
        """Install the window [t0 + from, t0 + until) on CLOCK_MONOTONIC (t0: time.monotonic())."""
        if self.window is None:
            return
        from_us, until_us = self.window
        t0_ns = round(t0 * 1e9)
        until_ns = None if until_us is None else t0_ns + until_us * 1000
        prog = load(filter_program(self.drop, self.port, t0_ns + from_us * 1000, until_ns))
        try:
            self.links, self.interfaces = run_in_netns(self.ref, lambda: _attach_everywhere(prog))
        finally:
            os.close(prog)  # the links hold the program

    def stop(self) -> None:
        for link in self.links:
            os.close(link)  # detaches the program
        self.links = []

    def notes(self) -> list[str]:
        if self.window is None:
            return [f"filter {self.drop}: never active within the run"]
        from_us, until_us = self.window
        window = f"from {from_us / US:g} s" + ("" if until_us is None else f" until {until_us / US:g} s")
        where = ", ".join(self.interfaces)
        return [
            f"filter {self.drop} (eBPF at the server namespace's tcx ingress on {where}, "
            f"its own CLOCK_MONOTONIC window): {window} after T0, installed before T0"
        ]


def _attach_everywhere(prog: int) -> tuple[list[int], list[str]]:
    """Attach at ingress of every interface but lo of the calling thread's namespace."""
    links, names = [], []
    try:
        for index, name in socket.if_nameindex():
            if name != "lo":
                links.append(attach_ingress(prog, index))
                names.append(name)
    except OSError as error:
        for link in links:
            os.close(link)
        raise TcpqError(f"could not attach the lab's eBPF filter: {error}") from None
    return links, names
