"""BufferedWSGI streams responses without a Content-Length (the revocation event stream)."""

from __future__ import annotations

import asyncio
import threading

from idp import serving
from tests.unit.test_serving import Proto, Scope


class Transport:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[bytes] = []
        self.fail_after = fail_after

    async def send_bytes(self, data: bytes) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise serving.ProtocolClosed("the client went away")
        self.sent.append(data)


class StreamProto(Proto):
    def __init__(self, transport: Transport) -> None:
        super().__init__()
        self.transport = transport
        self.started: tuple[int, list[tuple[str, str]]] | None = None
        self.gone = asyncio.Event()

    async def client_disconnect(self) -> None:
        await self.gone.wait()

    def response_stream(self, status, headers):
        self.started = (status, headers)
        return self.transport


def test_a_streamed_response_is_sent_chunk_by_chunk_from_a_pool_thread():
    loop_threads, chunk_threads, closed = [], [], []

    class Body:
        def __iter__(self):
            for part in (b"data: 1\n\n", b"data: 2\n\n"):
                chunk_threads.append(threading.current_thread().name)
                yield part

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        loop_threads.append(threading.current_thread().name)
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        return Body()

    proto = StreamProto(Transport())
    asyncio.run(serving.BufferedWSGI(app, 100, 1.0).__rsgi__(Scope(), proto))
    assert proto.started == (200, [("Content-Type", "text/event-stream")])
    assert proto.transport.sent == [b"data: 1\n\n", b"data: 2\n\n"] and closed == [True]
    # The app ran on the event loop's thread, its body's waits in the stream pool.
    assert all(name.startswith("tessera-stream") for name in chunk_threads)
    assert loop_threads[0] not in chunk_threads


def test_a_client_that_goes_away_closes_the_iterator():
    closed = []

    def endless():
        try:
            while True:
                yield b": keep-alive\n\n"
        finally:
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        return endless()

    proto = StreamProto(Transport(fail_after=3))
    asyncio.run(serving.BufferedWSGI(app, 100, 1.0).__rsgi__(Scope(), proto))
    assert len(proto.transport.sent) == 3 and closed == [True]


def test_a_response_with_a_content_length_keeps_the_buffered_path():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return iter([b"o", b"k"])

    proto = Proto()
    asyncio.run(serving.BufferedWSGI(app, 100, 1.0).__rsgi__(Scope(), proto))
    assert proto.response == (200, [("Content-Length", "2")], b"ok")


def test_a_disconnect_tells_a_waiting_iterator_through_the_environ():
    seen = {}

    def waiting(closed: threading.Event):
        yield b"retry: 1000\n\n"
        seen["woken"] = closed.wait(5)  # a stream waiting for its next event

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        return waiting(environ[serving.STREAM_CLOSED])

    class Gone(StreamProto):
        async def client_disconnect(self) -> None:
            while not self.transport.sent:
                await asyncio.sleep(0.01)  # gone right after the first chunk went out

    proto = Gone(Transport())
    asyncio.run(serving.BufferedWSGI(app, 100, 1.0).__rsgi__(Scope(), proto))
    assert seen == {"woken": True} and proto.transport.sent == [b"retry: 1000\n\n"]
