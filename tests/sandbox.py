"""Run a command in what deploy/systemd/parlour.service sets up around Parlour, as far as a
box without systemd as PID 1 can: `unshare --mount --pid --fork --kill-child=SIGTERM
python sandbox.py [--no-cpu-scheduling-policy] STATE_DIR COMMAND ARG...`, as root.

- `ProtectSystem=strict` with `StateDirectory=`: the whole file system read-only but
  STATE_DIR.
- `ProtectProc=invisible`, `ProcSubset=pid`: a /proc with the service's own processes and
  nothing else (granian reads /proc/stat and /proc/uptime when they are there).
- `NoNewPrivileges=yes`, `CapabilityBoundingSet=` (empty): no capability, even as root.
- `MemoryDenyWriteExecute=yes`: the seccomp filter Debian 12's systemd (252) installs,
  the same as its `seccomp_memory_deny_write_execute()`: `mmap` of memory both writable
  and executable, `mprotect`/`pkey_mprotect` asking for executable memory and `shmat`
  with `SHM_EXEC` fail with EPERM. x86-64 only.

- `SystemCallFilter=~@resources` with `SystemCallErrorNumber=EPERM`: the system calls of
  systemd's `@resources` set (`systemd-analyze syscall-filter @resources`: scheduling,
  priorities, memory policies, `setrlimit`) fail with EPERM. The rest of the filter
  (`@system-service`, `~@privileged`) is not reproduced.
- `CPUSchedulingPolicy=batch`: the command starts under SCHED_BATCH, unless the first
  argument is `--no-cpu-scheduling-policy` (a unit without that line).

Private /tmp, devices and users are not reproduced. `tests/test_deploy.py` serves
readers and signs the writer in under these rules, which is how we know granian, uvloop,
psycopg and argon2 run under the unit.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import subprocess
import sys
from pathlib import Path

AUDIT_ARCH_X86_64 = 0xC000003E
MMAP, MPROTECT, SHMAT, PKEY_MPROTECT = 9, 10, 30, 329
PROT_WRITE_EXEC, PROT_EXEC, SHM_EXEC = 0x2 | 0x4, 0x4, 0o100000

LD_W_ABS, JEQ_K, JSET_K, AND_K, RET_K = 0x20, 0x15, 0x45, 0x54, 0x06
ALLOW, DENY = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
ARCH, NR, ARG2 = 4, 0, 32  # offsets in struct seccomp_data (args[2], low half)

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_CAPBSET_DROP = 38, 22, 2, 24


def program() -> list[tuple[int, int, int, int]]:
    """The BPF program, as (code, jump if true, jump if false, k)."""
    return [
        (LD_W_ABS, 0, 0, ARCH),  # 0
        (JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (RET_K, 0, 0, ALLOW),
        (LD_W_ABS, 0, 0, NR),
        (JEQ_K, 4, 0, MMAP),  # -> 9
        (JEQ_K, 7, 0, MPROTECT),  # 5 -> 13
        (JEQ_K, 6, 0, PKEY_MPROTECT),  # -> 13
        (JEQ_K, 8, 0, SHMAT),  # -> 16
        (RET_K, 0, 0, ALLOW),
        (LD_W_ABS, 0, 0, ARG2),  # 9: mmap
        (AND_K, 0, 0, PROT_WRITE_EXEC),  # 10
        (JEQ_K, 7, 0, PROT_WRITE_EXEC),  # -> 19
        (RET_K, 0, 0, ALLOW),
        (LD_W_ABS, 0, 0, ARG2),  # 13: mprotect, pkey_mprotect
        (JSET_K, 4, 0, PROT_EXEC),  # -> 19
        (RET_K, 0, 0, ALLOW),  # 15
        (LD_W_ABS, 0, 0, ARG2),  # 16: shmat
        (JSET_K, 1, 0, SHM_EXEC),  # -> 19
        (RET_K, 0, 0, ALLOW),
        (RET_K, 0, 0, DENY),  # 19
    ]


# systemd's @resources on x86-64 (`nice` has no system call of its own there).
RESOURCES = {
    "ioprio_set": 251, "mbind": 237, "migrate_pages": 256, "move_pages": 279, "sched_setaffinity": 203,
    "sched_setattr": 314, "sched_setparam": 142, "sched_setscheduler": 144, "set_mempolicy": 238,
    "set_mempolicy_home_node": 450, "setpriority": 141, "setrlimit": 160,
}  # fmt: skip


def resources_program() -> list[tuple[int, int, int, int]]:
    """A BPF program denying (EPERM) the system calls of RESOURCES."""
    numbers = sorted(RESOURCES.values())
    ops = [
        (LD_W_ABS, 0, 0, ARCH),
        (JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (RET_K, 0, 0, ALLOW),
        (LD_W_ABS, 0, 0, NR),
    ]
    for i, number in enumerate(numbers):
        ops.append((JEQ_K, len(numbers) - i, 0, number))  # past the other tests and ALLOW, to DENY
    return [*ops, (RET_K, 0, 0, ALLOW), (RET_K, 0, 0, DENY)]


def confine_files(state: str) -> None:
    """Everything read-only but `state`; a /proc of this process tree alone (run in new
    mount and PID namespaces, which `unshare` made)."""
    for command in (
        ["mount", "-t", "proc", "-o", "subset=pid,hidepid=invisible", "proc", "/proc"],
        ["mount", "--bind", state, state],
        ["mount", "-o", "remount,bind,ro", "/"],
    ):
        subprocess.run(command, check=True)


def prctl(*args: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(*(ctypes.c_ulong(a) for a in (*args, 0, 0, 0, 0)[:5])) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def install(ops: list[tuple[int, int, int, int]]) -> None:
    """Add a seccomp filter (filters stack: the strictest answer wins)."""
    if platform.machine() != "x86_64":
        raise SystemExit("sandbox.py knows only x86-64's system calls")
    code = b"".join(struct.pack("HBBI", *op) for op in ops)
    filters = ctypes.create_string_buffer(code, len(code))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Program(len(code) // 8, ctypes.addressof(filters))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))


def drop_capabilities(last: int) -> None:
    """Empty the bounding set, so that not even root has a capability after exec."""
    for capability in range(last + 1):
        prctl(PR_CAPBSET_DROP, capability)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    batch = arguments[0] != "--no-cpu-scheduling-policy"
    state, command = arguments[0 if batch else 1], arguments[1 if batch else 2 :]
    last_capability = int(Path("/proc/sys/kernel/cap_last_cap").read_text())  # hidden soon
    confine_files(state)
    if batch:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    install(program())  # MemoryDenyWriteExecute=yes
    install(resources_program())  # SystemCallFilter=~@resources
    drop_capabilities(last_capability)
    os.execvp(command[0], command)
