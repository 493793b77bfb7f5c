"""Follow Tessera's revocation events over Server-Sent Events (stdlib ``http.client`` only).

For resource servers without access to Tessera's Redis. The stream is the one the issuer
advertises (``tessera_revocation_events_endpoint`` in its discovery document), authenticated
like the feed. The first connection starts with a ``snapshot``
event (the feed's full document); a reconnection sends ``Last-Event-ID`` and gets only the
events it missed (or a new snapshot if Tessera no longer knows that id). Every event and every
keep-alive comment counts as a sync for the staleness policy. While the stream is down the
feed is polled and the connection retried with back-off.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import urllib.parse
from typing import Any

from tessera_middleware import revocation_events
from tessera_middleware.errors import ServiceUnavailable
from tessera_middleware.http import _is_loopback
from tessera_middleware.revocation import RevocationFeedPoller, RevocationState

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20


class SseRevocationStream:
    """``SseRevocationStream(state, poller).start()``: the poller gives the endpoint and the
    credentials, and is the fallback while the stream is unavailable."""

    def __init__(
        self,
        state: RevocationState,
        poller: RevocationFeedPoller,
        *,
        endpoint: str | None = None,
        read_timeout: float = 45.0,
        max_backoff: float = 30.0,
        allow_http: bool = False,
    ) -> None:
        self.state, self.poller = state, poller
        self._endpoint = endpoint
        self.read_timeout, self.max_backoff, self.allow_http = read_timeout, max_backoff, allow_http
        self.last_id: int | None = None
        self.connected = threading.Event()  # set while a stream is open
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: http.client.HTTPConnection | None = None
        # The stream's socket: http.client forgets it once a Connection: close response starts.
        self._sock: socket.socket | None = None

    def endpoint(self) -> str:
        """The one given, else the issuer's ``tessera_revocation_events_endpoint``, else (an
        older Tessera) the feed's endpoint + ``/stream``."""
        if self._endpoint is None:
            meta = self.poller.metadata()
            advertised = meta.revocation_events_endpoint if meta is not None else None
            self._endpoint = advertised or self.poller.endpoint().rstrip("/") + "/stream"
        return self._endpoint

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tessera-revocation-sse")
            self._thread.daemon = True
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                if self._follow():
                    delay = 0.5
                    continue  # the server ended the stream on schedule: reconnect at once
            except (OSError, ValueError, http.client.HTTPException, ServiceUnavailable) as exc:
                # ServiceUnavailable: discovery of the endpoint failed (the issuer is down).
                if self._stop.is_set():
                    return
                log.warning("revocation event stream unavailable, polling meanwhile: %s", exc)
            self.connected.clear()
            self.poller.poll_once()
            self._stop.wait(min(delay, self.poller.interval))
            delay = min(delay * 2, self.max_backoff)

    def _connect(self) -> http.client.HTTPResponse:
        parts = urllib.parse.urlsplit(self.endpoint())
        host = parts.hostname or ""
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, parts.port, timeout=self.read_timeout
            )
        elif parts.scheme == "http" and (self.allow_http or _is_loopback(host)):
            conn = http.client.HTTPConnection(host, parts.port, timeout=self.read_timeout)
        else:
            raise ValueError(f"refusing to stream revocations over {parts.scheme}://")
        headers = {"Accept": "text/event-stream", **self.poller.auth_headers()}
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._conn = conn
        conn.request("GET", path, headers=headers)
        self._sock = conn.sock
        response = conn.getresponse()
        if response.status != 200:
            body = response.read(4096)
            conn.close()
            raise OSError(f"event stream answered HTTP {response.status}: {body[:200]!r}")
        return response

    def _follow(self) -> bool:
        """Read one stream to its end: True if the server ended it, False if stopped."""
        response = self._connect()
        self.connected.set()
        fields: dict[str, str] = {}
        try:
            while not self._stop.is_set():
                raw = response.readline(MAX_LINE)
                if not raw:
                    return True
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    self._dispatch(fields)
                    fields = {}
                elif line.startswith(":"):
                    self.state.mark_synced()  # a keep-alive: the stream is alive and current
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "data" and "data" in fields:
                        value = fields["data"] + "\n" + value  # a multi-line data field
                    fields[name] = value
        finally:
            response.close()
            if self._conn is not None:
                self._conn.close()
        return False

    def _dispatch(self, fields: dict[str, str]) -> None:
        kind, data = fields.get("event", "message"), fields.get("data")
        if data is None:
            return
        if kind == "snapshot":
            self._snapshot(data, fields.get("id"))
        elif kind == "revocation":
            event = revocation_events.parse(data)
            if event is None or (self.last_id is not None and event["seq"] <= self.last_id):
                return  # a duplicate: already applied
            doc = revocation_events.delta(event)
            if doc is not None:
                self.state.apply(doc)
            self.last_id = event["seq"]
        self.state.mark_synced()

    def _snapshot(self, data: str, event_id: str | None) -> None:
        doc: Any = json.loads(data)
        if not isinstance(doc, dict) or not (event_id or "").isdecimal():
            raise ValueError("malformed snapshot event")
        self.state.apply({**doc, "full": True})
        self.last_id = int(event_id or 0)
