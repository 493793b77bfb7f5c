"""Throughput of legitimate clients while 500 idle connections are held, vs without (issue 11).

The idle connections are opened and send nothing, as a port scanner, a half-dead proxy pool or
a slowloris client would; when the server closes one (its header-read timeout, see
idp/serving.py) it is opened again at once, so the server faces IDLE idle sockets for the
whole measurement. wrk then runs the given scenario; runs with and without the idle sockets
alternate (ROUNDS each) so that the machine's drift hits both alike, and the median of each
is reported with their ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bench.wrk_results import WrkResult

IDLE = 500
ROUNDS = 3
# Longer than the server's header-read timeout (5 s), so every idle socket is closed by the
# server and reopened at least once during a run: the churn is part of what is measured.
MIN_SECONDS = 7


class IdleConnections:
    """`count` connections to host:port that send nothing, reopened whenever the server closes
    one; a context manager running its own event loop in a thread."""

    def __init__(self, host: str, port: int, count: int = IDLE) -> None:
        self.host, self.port, self.count = host, port, count
        self.closed_by_server = 0
        self._all_open = threading.Event()
        self._opened = 0
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))

    def __enter__(self) -> IdleConnections:
        _raise_fd_limit(self.count + 256)
        self._thread.start()
        if not self._all_open.wait(30):
            raise RuntimeError(f"could not open {self.count} idle connections in 30 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
        self._thread.join()
        self._loop.close()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        await asyncio.gather(*(self._hold() for _ in range(self.count)))

    async def _hold(self) -> None:
        stop = self._stop
        assert stop is not None
        while not stop.is_set():
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._opened += 1
            if self._opened == self.count:
                self._all_open.set()
            closed = asyncio.ensure_future(reader.read())  # returns when the server closes it
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait([closed, stopped], return_when=asyncio.FIRST_COMPLETED)
            if closed.done():
                self.closed_by_server += 1
            for task in (closed, stopped):
                task.cancel()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


@dataclass
class IdleComparison:
    without: WrkResult
    with_idle: WrkResult
    closed_by_server: int

    @property
    def ratio(self) -> float:
        return self.with_idle.rps / self.without.rps if self.without.rps else 0.0

    def note(self) -> str:
        return (
            f"without idle: {self.without.rps:.0f} req/s p99 {self.without.p99_ms:.1f} ms; "
            f"with {IDLE} idle: {self.with_idle.rps:.0f} req/s p99 {self.with_idle.p99_ms:.1f} ms"
            f"; ratio {self.ratio:.2f}; {self.closed_by_server} idle connections closed by the "
            "server (header-read timeout) and reopened"
        )


def compare(url: str, run: Callable[[int], WrkResult], duration: int) -> IdleComparison:
    """`run(seconds)` (a wrk scenario against url) without and with IDLE idle connections."""
    host, _, port = url.removeprefix("http://").partition(":")
    without, with_idle, closed = [], [], 0
    for _ in range(ROUNDS):
        without.append(run(duration))
        with IdleConnections(host, int(port)) as idle:
            with_idle.append(run(duration))
        closed += idle.closed_by_server
    return IdleComparison(_median(without), _median(with_idle), closed)


def _median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]
