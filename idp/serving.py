"""Serve Tessera with granian, the production server (`tessera serve`, `make run`, `make bench`).

Chosen by measurement (bench/README.md): on this 2-core machine granian served
client_credentials about twice as fast as gunicorn's sync workers, which close every
connection, and with a lower p99. The settings below are the ones the benchmark uses.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import os
import platform
import sys

from granian.constants import Interfaces
from granian.server import Server

# One blocking thread per worker: Flask views hold the GIL anyway, and more threads only add
# switching. A small backpressure keeps queued requests in the kernel's accept queue, where
# the other worker can take them, instead of piling up behind one busy worker (p99 went from
# ~40 ms to ~7 ms at 32 connections).
BLOCKING_THREADS = 1
BACKPRESSURE = 8


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def _return_freed_memory() -> None:
    """Pin glibc's mmap threshold so argon2's 19 MiB buffers go back to the OS after each login.

    By default glibc raises the threshold after the first large free, and every later argon2
    buffer then comes from the heap, which never shrinks: a worker grew by ~19 MiB per
    concurrent login it had ever done.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
            ctypes.CDLL(libc_name).mallopt(M_MMAP_THRESHOLD, 128 * 1024)


HUGEPAGE_TUNABLE = "glibc.malloc.hugetlb"


def _restart_with_hugepage_malloc() -> None:
    """Exec this process again, once, with glibc's malloc asking for transparent huge pages.

    Pinning the mmap threshold (above) maps argon2's 19 MiB buffer afresh for every login: on
    4 KiB pages that is ~4,900 page faults, and a hash took ~31 ms instead of ~18 (measured on
    this machine). With glibc.malloc.hugetlb=1 the buffer is mapped in 2 MiB pages: ~25 ms, and
    make bench went from 25-29 to ~35 logins/s per core with RSS unchanged. glibc reads its
    tunables only at start-up and granian forks the workers from this process, hence the exec.
    Setting glibc.malloc.hugetlb yourself (=0 turns it off) skips this.
    """
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if HUGEPAGE_TUNABLE in tunables or platform.libc_ver()[0] != "glibc":
        return
    os.environ["GLIBC_TUNABLES"] = ":".join(filter(None, [tunables, f"{HUGEPAGE_TUNABLE}=1"]))
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - this interpreter, this command line


def wsgi_app():
    _return_freed_memory()
    from idp import create_app

    return create_app(migrations=False)


def default_workers() -> int:
    return int(os.environ.get("TESSERA_WORKERS") or os.cpu_count() or 1)


def access_log_default() -> bool:
    return os.environ.get("TESSERA_ACCESS_LOG", "1").lower() not in ("", "0", "false", "no", "off")


def build_server(
    target: str, *, host: str, port: int, workers: int, access_log: bool, factory: bool = True
) -> Server:
    return Server(
        target,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=BLOCKING_THREADS,
        backpressure=BACKPRESSURE,
        websockets=False,
        factory=factory,
        log_access=access_log,
        respawn_failed_workers=True,
    )


def serve(host: str, port: int, workers: int | None = None, access_log: bool | None = None) -> None:
    _restart_with_hugepage_malloc()
    build_server(
        "idp.serving:wsgi_app",
        host=host,
        port=port,
        workers=workers or default_workers(),
        access_log=access_log_default() if access_log is None else access_log,
    ).serve()


def main(argv: list[str] | None = None) -> None:
    """`python -m idp.serving`: the same server for any WSGI target (the benchmark's bare app)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="idp.serving:wsgi_app")
    parser.add_argument("--no-factory", action="store_true", help="target is an app, not a factory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)
    _restart_with_hugepage_malloc()
    build_server(
        args.target,
        host=args.host,
        port=args.port,
        workers=args.workers or default_workers(),
        access_log=not args.no_access_log and access_log_default(),
        factory=not args.no_factory,
    ).serve()


if __name__ == "__main__":
    main()
