"""idp.serving's one-time restart with glibc's huge-page malloc (see its docstring for why)."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from idp import serving


@pytest.fixture
def execs(monkeypatch) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(serving.os, "execv", lambda path, argv: calls.append((path, argv)))
    monkeypatch.setattr(serving.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setenv("GLIBC_TUNABLES", "")  # empty, and restored afterwards
    return calls


def test_restarts_once_with_the_tunable_added(execs, monkeypatch):
    serving._restart_with_hugepage_malloc()
    assert execs == [(sys.executable, sys.orig_argv)]
    assert serving.os.environ["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    serving._restart_with_hugepage_malloc()  # the restarted process: nothing more
    assert len(execs) == 1


def test_keeps_other_tunables_and_an_operators_choice(execs, monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    serving._restart_with_hugepage_malloc()
    assert serving.os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    execs.clear()
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")
    serving._restart_with_hugepage_malloc()
    assert execs == []


def test_other_c_libraries_are_left_alone(execs, monkeypatch):
    monkeypatch.setattr(serving.platform, "libc_ver", lambda: ("", ""))
    serving._restart_with_hugepage_malloc()
    assert execs == [] and serving.os.environ["GLIBC_TUNABLES"] == ""


# BufferedWSGI: the RSGI side of `tessera serve` (why: idp/serving.py's docstring).


class Headers(dict):
    """granian's RSGIHeaders: lower-case names; items() lists repeated headers one by one."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs

    def items(self):  # type: ignore[override]
        return list(self.pairs)


class Scope:
    def __init__(self, method="GET", path="/", query="", headers=()) -> None:
        self.proto, self.http_version, self.scheme = "http", "1.1", "http"
        self.method, self.path, self.query_string = method, path, query
        self.server, self.client = "127.0.0.1:5000", "10.0.0.7:51234"
        self.headers = Headers(list(headers))


class Proto:
    """The request body as granian hands it over (whole, or in chunks), and the response."""

    def __init__(self, body: bytes = b"", chunks: list[bytes] | None = None, stall=False):
        self.body, self.chunks, self.stall, self.reads = body, chunks or [], stall, 0
        self.response: tuple[int, list[tuple[str, str]], bytes] | None = None

    async def __call__(self) -> bytes:
        self.reads += 1
        if self.stall:
            await asyncio.Event().wait()  # a client that stopped sending
        return self.body

    async def __aiter__(self):
        self.reads += 1
        for chunk in self.chunks:
            yield chunk

    def response_bytes(self, status, headers, body) -> None:
        self.response = (status, headers, body)


def echo_app(environ, start_response):
    """Answers with what it was given: the environ's CGI keys and the body it read."""
    body = environ["wsgi.input"].read()
    seen = {k: v for k, v in environ.items() if isinstance(v, str) and k.isupper()}
    start_response("201 Created", [("Content-Type", "application/json"), ("Set-Cookie", "a=1")])
    return [json.dumps(seen).encode(), b"\n", body]


def serve_one(scope: Scope, proto: Proto, timeout: float = 5.0, max_body: int = 100) -> Proto:
    asyncio.run(serving.BufferedWSGI(echo_app, max_body, timeout).__rsgi__(scope, proto))
    return proto


def answer(proto: Proto) -> tuple[int, dict, bytes]:
    status, _, body = proto.response
    seen, _, rest = body.partition(b"\n")
    return status, json.loads(seen), rest


def test_a_request_without_a_body_reaches_the_app_without_waiting_for_one():
    scope = Scope("GET", "/a b/é", "x=1", [("host", "idp"), ("accept", "a"), ("accept", "b")])
    proto = serve_one(scope, Proto())
    status, environ, body = answer(proto)
    assert proto.reads == 0 and status == 201 and body == b""
    assert environ["PATH_INFO"] == "/a b/é".encode().decode("latin-1")  # PEP 3333 latin-1
    assert environ["QUERY_STRING"] == "x=1" and environ["HTTP_ACCEPT"] == "a,b"
    assert (environ["REMOTE_ADDR"], environ["SERVER_PORT"]) == ("10.0.0.7", "5000")
    assert "CONTENT_LENGTH" not in environ
    assert proto.response[1] == [("Content-Type", "application/json"), ("Set-Cookie", "a=1")]


def test_the_body_is_read_whole_then_handed_over_with_its_length():
    form = b"grant_type=client_credentials"
    headers = [("content-length", str(len(form))), ("content-type", "application/x-www-form")]
    status, environ, body = answer(serve_one(Scope("POST", headers=headers), Proto(form)))
    assert (status, body) == (201, form)
    assert environ["CONTENT_LENGTH"] == str(len(form))
    assert environ["CONTENT_TYPE"] == "application/x-www-form"
    chunked = Scope("POST", headers=[("transfer-encoding", "chunked")])
    status, environ, body = answer(serve_one(chunked, Proto(chunks=[b"ab", b"cd"])))
    assert (body, environ["CONTENT_LENGTH"]) == (b"abcd", "4")


def test_headers_with_underscores_cannot_pose_as_dashed_ones():
    scope = Scope(headers=[("x_forwarded_for", "6.6.6.6"), ("x-forwarded-for", "1.2.3.4")])
    _, environ, _ = answer(serve_one(scope, Proto()))
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"


def refusal(proto: Proto) -> tuple[int, dict]:
    status, headers, body = proto.response
    assert ("connection", "close") in headers
    return status, json.loads(body)


def test_a_body_that_does_not_arrive_in_time_is_answered_408_and_the_app_never_runs():
    proto = serve_one(Scope("POST", headers=[("content-length", "10")]), Proto(stall=True), 0.05)
    status, error = refusal(proto)
    assert status == 408 and error["error"] == "invalid_request"


def test_too_large_bodies_are_refused_before_or_while_reading():
    declared = serve_one(Scope("POST", headers=[("content-length", "101")]), Proto(b"x" * 101))
    assert refusal(declared)[0] == 413 and declared.reads == 0
    chunked = Scope("POST", headers=[("transfer-encoding", "chunked")])
    streamed = serve_one(chunked, Proto(chunks=[b"x" * 60, b"x" * 60]))
    assert refusal(streamed)[0] == 413


def test_the_app_iterables_close_is_called():
    closed = []

    class Body(list):
        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("204 No Content", [])
        return Body([b""])

    proto = Proto()
    asyncio.run(serving.BufferedWSGI(app, 100, 1.0).__rsgi__(Scope(), proto))
    assert proto.response == (204, [], b"") and closed == [True]
