"""Load for the failover test: client_credentials loops and refresh-token chains, each request
timed, so the test can tell which ones were in flight when an instance died.

A chain behaves as a well-written client: it always sends the newest refresh token it holds,
and when a request fails in flight (nginx's 502: the instance died after it was sent) it
retries once with the same token, the only token it has. If the dead instance had committed
the rotation before dying, that retry is a reuse (docs/security.md#13): the server refuses it,
the chain is over, and it says which request was lost; otherwise the retry succeeds.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import requests

IN_FLIGHT_FAILURE = 502  # nginx: the upstream broke the connection after the request was sent


@dataclass(frozen=True)
class Outcome:
    what: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all (timeout, connection error)
    body: str = ""

    def in_flight_at(self, low: float, high: float) -> bool:
        """Sent before `high` and still unanswered at `low`."""
        return self.started <= high and self.ended >= low


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: list[Outcome] = []

    def post(self, http: requests.Session, what: str, url: str, **kwargs) -> Outcome:
        started = time.monotonic()
        try:
            response = http.post(url, timeout=15, **kwargs)
            status, body = response.status_code, response.text
        except requests.RequestException as exc:
            status, body = 0, repr(exc)
        outcome = Outcome(what, started, time.monotonic(), status, body)
        with self._lock:
            self.outcomes.append(outcome)
        return outcome

    def count_ok(self, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.status == 200 and o.started >= since)

    def failures(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.status != 200]


def client_credentials_loop(
    recorder: Recorder, issuer: str, credentials: tuple[str, str], stop: threading.Event
) -> None:
    http = requests.Session()
    while not stop.is_set():
        recorder.post(
            http,
            "client_credentials",
            issuer + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=credentials,
        )


@dataclass
class RefreshChain:
    name: str
    tokens: list[str]  # every refresh token this client received, oldest first
    lost: str = ""  # why the chain ended early, if it did
    unexpected: list[Outcome] = field(default_factory=list)

    def _refresh(self, recorder: Recorder, http: requests.Session, url: str, auth) -> Outcome:
        outcome = recorder.post(
            http,
            f"refresh {self.name}",
            url,
            data={"grant_type": "refresh_token", "refresh_token": self.tokens[-1]},
            auth=auth,
        )
        if outcome.status == 200:
            self.tokens.append(json.loads(outcome.body)["refresh_token"])
        return outcome

    def run(
        self, recorder: Recorder, issuer: str, credentials: tuple[str, str], stop: threading.Event
    ) -> None:
        http, url = requests.Session(), issuer + "/oauth/token"
        while not stop.is_set() and not self.lost:
            first = self._refresh(recorder, http, url, credentials)
            if first.status == 200:
                continue
            if first.status != IN_FLIGHT_FAILURE:
                self.unexpected.append(first)
                return
            retry = self._refresh(recorder, http, url, credentials)
            if retry.status == 200:
                continue
            self.lost = (
                f"token #{len(self.tokens) - 1} was sent at {first.started:.3f}, failed in flight "
                f"({first.status}); its retry got {retry.status} {retry.body[:120]}"
            )
