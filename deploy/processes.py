"""Background processes recorded in pid files, so a later command stops exactly these.

A record holds the pid and the process's start time (field 22 of /proc/<pid>/stat, in clock
ticks since boot): a pid the kernel has since given to another process has another start time,
and is left alone. The start time survives what the command line does not: granian re-executing
itself (idp/serving.py), nginx's master renaming itself after writing its pid file.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path


def cmdline(pid: int) -> str:
    """The process's command line, or "" when there is no such (live) process."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name; [] when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rsplit(")", 1)[-1].split()


def started(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if len(fields) > 19 else None  # field 22: starttime


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that never reaps it."""
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def record(pid_file: Path, pid: int) -> None:
    pid_file.write_text(
        json.dumps({"pid": pid, "started": started(pid), "cmdline": cmdline(pid)}) + "\n"
    )


def recorded(pid_file: Path) -> int | None:
    """The pid in the file when that same process still runs; None otherwise."""
    try:
        entry = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return None
    pid = int(entry.get("pid", 0))
    start = started(pid) if pid > 0 else None
    if start is not None and entry.get("started") == start and alive(pid):
        return pid
    return None


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop(pid: int, *, group: bool, first: int = signal.SIGTERM, timeout: float = 15) -> None:
    """`first` (graceful), then SIGKILL after `timeout`; to the process group when `group`."""
    send = os.killpg if group else os.kill
    for sig in (first, signal.SIGKILL):
        try:
            send(pid, sig)
        except ProcessLookupError:
            return
        if wait_gone(pid, timeout):
            return


def stop_recorded(pid_file: Path, *, group: bool, first: int = signal.SIGTERM) -> int | None:
    """Stop the process the file names (if it still runs); remove the file; the pid stopped."""
    pid = recorded(pid_file)
    if pid is not None:
        stop(pid, group=group, first=first)
    pid_file.unlink(missing_ok=True)
    return pid
