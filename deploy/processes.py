"""Background processes recorded in pid files, so a later command stops exactly these.

A pid file holds the pid and the command line the process had when it was recorded: a pid the
kernel has since given to another program no longer matches, and is left alone.
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


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that never reaps it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def record(pid_file: Path, pid: int) -> None:
    pid_file.write_text(json.dumps({"pid": pid, "cmdline": cmdline(pid)}) + "\n")


def recorded(pid_file: Path) -> int | None:
    """The pid in the file when that same process still runs; None otherwise."""
    try:
        entry = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return None
    pid = int(entry.get("pid", 0))
    if pid > 0 and alive(pid) and cmdline(pid) == entry.get("cmdline"):
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
