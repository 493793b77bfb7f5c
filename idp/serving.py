"""Serve Tessera with granian, the production server (`tessera serve`, `make run`, `make bench`).

Chosen by measurement (bench/README.md): on this 2-core machine granian served
client_credentials about twice as fast as gunicorn's sync workers, which close every
connection, and with a lower p99. The settings below are the ones the benchmark uses; each was
chosen by measurement against idle and slow clients (bench/README.md, "Slow and idle clients"):

- RSGI with BufferedWSGI, not granian's WSGI interface: under WSGI the app's one thread
  blocked in wsgi.input.read() for as long as a client trickled its body, with no timeout.
  Here the body is read by granian's Rust I/O, awaited on the event loop with a deadline and
  a size cap, and the Flask app runs only once it is all in memory.
- HTTP/1 only: hyper's header-read timeout then runs from the moment a connection is
  accepted and again after every response; in granian's "auto" mode the HTTP version sniffing
  has no timer, and a connection that never sent a byte stayed open for good (measured: 500 of
  500 still open after 10 s). It costs cleartext HTTP/2 (h2c), which nginx does not speak to
  upstreams anyway.
- HEADER_READ_TIMEOUT_MS bounds a request's headers and an idle keep-alive connection alike
  (hyper has one timer for both). A proxy's upstream keep-alive timeout must be shorter.
- BACKPRESSURE, per worker, also counts connections that have not sent a request yet: 8 let
  20 idle sockets stop both workers until the header timeout closed them. 1024 (granian's
  default backlog) leaves room for hundreds of idle and slow clients until the timeouts drop
  them.
- Responses without a Content-Length (the revocation event stream) are streamed: their
  iterator runs in a bounded thread pool (STREAM_THREADS), the event loop only sends.
- uvloop: the bridge pays an event-loop hop per request; on the stock asyncio loop that cost
  20-40% of client_credentials throughput, on uvloop it is level with the old settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import importlib
import io
import json
import os
import platform
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.rsgi import ProtocolClosed
from granian.server import Server

# Why each value: the module docstring; the figures: bench/README.md.
BACKPRESSURE = 1024
HEADER_READ_TIMEOUT_MS = 5_000
BODY_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_BODY = 1024 * 1024  # a WSGI app without Flask's MAX_CONTENT_LENGTH
# granian imports its factory by name in each worker: the WSGI target travels in the environment.
WSGI_TARGET_ENV = "TESSERA_SERVING_WSGI_TARGET"
WSGI_TARGET_IS_APP_ENV = "TESSERA_SERVING_WSGI_TARGET_IS_APP"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _BodyRefused(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class BufferedWSGI:
    """An RSGI app that runs a WSGI app only once its request body has fully arrived.

    granian reads the body in its Rust I/O threads; this coroutine waits for it (at most
    BODY_TIMEOUT_SECONDS, at most max_body bytes) without holding the Python thread, then
    calls the WSGI app with the body in memory. Under granian's own WSGI interface the app's
    thread blocked in wsgi.input.read() for as long as a client trickled its body.
    """

    def __init__(self, app: WSGIApp, max_body: int, body_timeout: float) -> None:
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        try:
            body = await self._read_body(scope, proto)
        except _BodyRefused as refused:
            payload = {"error": refused.error, "error_description": refused.description}
            headers = [("content-type", "application/json"), ("connection", "close")]
            proto.response_bytes(refused.status, headers, json.dumps(payload).encode())
            return
        except ProtocolClosed:  # the client went away mid-body: nobody to answer
            return
        environ = wsgi_environ(scope, body)
        closed = environ[STREAM_CLOSED] = threading.Event()
        status, headers, chunks = self._start(environ)
        if _in_memory(status, headers, chunks):
            proto.response_bytes(status, headers, _joined(chunks))
        else:
            await _stream(proto, status, headers, chunks, closed)

    async def _read_body(self, scope: Any, proto: Any) -> bytes:
        length = scope.headers.get("content-length")
        if length is None and "transfer-encoding" not in scope.headers:
            return b""
        if length is not None and length.isdecimal() and int(length) > self.max_body:
            raise _BodyRefused(413, "invalid_request", "The request body is too large.")
        try:
            async with asyncio.timeout(self.body_timeout):
                if length is not None:  # hyper stops at Content-Length: one await for it all
                    return await proto()
                return await self._read_chunked(proto)
        except TimeoutError:
            raise _BodyRefused(
                408, "invalid_request", "The request body came too slowly."
            ) from None

    async def _read_chunked(self, proto: Any) -> bytes:
        parts, size = [], 0
        async for chunk in proto:
            size += len(chunk)
            if size > self.max_body:
                raise _BodyRefused(413, "invalid_request", "The request body is too large.")
            parts.append(chunk)
        return b"".join(parts)

    def _start(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        """Run the app up to its first byte: Flask has built the response, not iterated it."""
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            started[:] = [status, headers]
            return lambda data: None  # PEP 3333's write(): Tessera never calls it

        chunks = self.app(environ, start_response)
        return int(started[0][:3]), started[1], chunks


def _in_memory(status: int, headers: list[tuple[str, str]], chunks: Any) -> bool:
    """Flask gives every response it holds whole a Content-Length; a streamed one has none."""
    if status in (204, 304) or isinstance(chunks, list | tuple):
        return True
    return any(name.lower() == "content-length" for name, _ in headers)


def _joined(chunks: Any) -> bytes:
    """The fast path: a response with a Content-Length is in memory already."""
    try:
        return b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


# A response without a Content-Length (Flask's streamed responses: the revocation event stream)
# is iterated in these threads, so a stream waiting for its next event holds a pool thread, not
# the worker's event loop. The pool bounds them; TESSERA_SSE_MAX_STREAMS is at most this.
STREAM_THREADS = 64
# Set once a streamed response's client has gone: a long wait in its iterator ends early.
STREAM_CLOSED = "tessera.stream_closed"
_stream_pool: ThreadPoolExecutor | None = None


def stream_pool() -> ThreadPoolExecutor:
    global _stream_pool
    if _stream_pool is None:
        _stream_pool = ThreadPoolExecutor(STREAM_THREADS, thread_name_prefix="tessera-stream")
    return _stream_pool


async def _stream(
    proto: Any, status: int, headers: list[tuple[str, str]], chunks: Any, closed: threading.Event
) -> None:
    """Send each chunk as the iterator yields it; when the client goes away, `closed` tells
    the iterator (it waits in short slices), which then ends and frees its thread."""
    loop, pool = asyncio.get_running_loop(), stream_pool()
    iterator = iter(chunks)
    transport = proto.response_stream(status, headers)
    gone = asyncio.ensure_future(proto.client_disconnect())
    try:
        while True:
            pending = loop.run_in_executor(pool, next, iterator, None)
            await asyncio.wait({pending, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                closed.set()
                await pending
                break
            if (chunk := pending.result()) is None:
                break
            if chunk:
                await transport.send_bytes(chunk)
    except (ProtocolClosed, OSError, RuntimeError):
        pass  # the client went away while we sent
    finally:
        closed.set()
        gone.cancel()
        close = getattr(chunks, "close", None)
        if close is not None:
            await loop.run_in_executor(pool, close)


def wsgi_environ(scope: Any, body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an RSGI request scope whose body has been read."""
    server_host, _, server_port = scope.server.rpartition(":")
    client_host, _, client_port = scope.client.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode().decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_host,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": client_host,
        "REMOTE_PORT": client_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for name, value in scope.headers.items():
        if "_" in name:  # X_Forwarded_For must not pass for X-Forwarded-For (as nginx, gunicorn)
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if body or "CONTENT_LENGTH" in environ:
        environ["CONTENT_LENGTH"] = str(len(body))  # chunked bodies too: it is all here
    return environ


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
    from idp.extensions import db

    app = create_app(migrations=False)
    tessera = app.extensions["tessera"]
    with app.app_context():
        # Publishes what a commit-time flush could not (Redis down), in every worker: no leader.
        tessera.outbox.start(db.engine)
        # One sender is active across processes (a lease row); the others stand by.
        tessera.mail_sender.start(db.engine)
    return app


def buffered_app() -> BufferedWSGI:
    """granian's factory: the WSGI target named in WSGI_TARGET_ENV, behind BufferedWSGI."""
    module, _, name = os.environ.get(WSGI_TARGET_ENV, "idp.serving:wsgi_app").partition(":")
    target = getattr(importlib.import_module(module), name)
    app = target if os.environ.get(WSGI_TARGET_IS_APP_ENV) else target()
    max_body = getattr(app, "config", {}).get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY
    return BufferedWSGI(app, max_body, BODY_TIMEOUT_SECONDS)


def default_workers() -> int:
    return int(os.environ.get("TESSERA_WORKERS") or os.cpu_count() or 1)


def access_log_default() -> bool:
    return os.environ.get("TESSERA_ACCESS_LOG", "1").lower() not in ("", "0", "false", "no", "off")


def build_server(
    target: str, *, host: str, port: int, workers: int, access_log: bool, factory: bool = True
) -> Server:
    os.environ[WSGI_TARGET_ENV] = target
    os.environ[WSGI_TARGET_IS_APP_ENV] = "" if factory else "1"
    return Server(
        "idp.serving:buffered_app",
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        loop=Loops.uvloop,
        workers=workers,
        backpressure=BACKPRESSURE,
        websockets=False,
        factory=True,
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
