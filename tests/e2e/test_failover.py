"""End to end, issue 11 parts 2 and 6: the production stack (deploy/stack.py) and its failover.

nginx (TLS, the site template from deploy/nginx/) in front of two `tessera serve` instances,
one worker each, sharing a fresh PostgreSQL database and Redis, on ports of the test's own
(never `make stack`'s). client_credentials and refresh-token load runs through nginx while one
instance is SIGKILLed with its workers: only requests in flight on it may fail (nginx's 502,
answered as a JSON 503 with Retry-After), every later request reaches the other one, and the instance restarted gets traffic
again. Every refresh chain is checked against the database: no token rotated twice, none lost
except a request in flight at the kill whose rotation the server committed (reported).
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import os
import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import requests
from sqlalchemy import select

from deploy.nginx import INSTALL_HINT, Nginx, nginx_binary
from deploy.services import drop_database, ensure_database
from deploy.stack import Stack, StackConfig, free_port
from idp import create_app
from idp.extensions import db
from idp.storage.models import AuditEvent
from tests.conftest import PASSWORD, base_config
from tests.e2e import stack as e2e
from tests.e2e.failover_load import (
    IN_FLIGHT_FAILURE,
    Load,
    RefreshChain,
    check_chains_in_database,
    failed_upstreams,
    token_requests,
)

pytestmark = pytest.mark.e2e

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
CHAINS = 4
CC_THREADS = 2
# The kernel closes a dead instance's sockets at once, but nginx learns that an idle keep-alive
# connection to it is gone on its next event-loop turn: a request may meet that connection
# just after the kill. Requests sent later than this after the kill must all succeed.
KILL_SLACK = 0.25
LOAD_DEADLINE = 30  # seconds for each wait in the load phase; it normally takes ~10 s in all


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the failover test: {reason}")
    pytest.skip(reason)


def _fresh_database_url() -> str:
    base = os.environ.get("TESSERA_TEST_POSTGRES_URL")
    if not base:
        _unavailable(
            "the failover test needs PostgreSQL: TESSERA_TEST_POSTGRES_URL (set by .ci/run)"
        )
    server = base.rsplit("/", 1)[0]
    return f"{server}/tessera_failover_{os.getpid()}_{int(time.time())}"


def _check_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as exc:
        _unavailable(f"the failover test needs Redis at {REDIS_URL}: {exc}")


@dataclass
class Running:
    stack: Stack
    app: Any  # a Flask app on the same database, to seed it and read what the servers wrote
    apps: dict[str, e2e.App]

    @property
    def issuer(self) -> str:
        return self.stack.config.issuer

    def credentials(self, name: str) -> tuple[str, str]:
        app = self.apps[name]
        return app.client_id, app.secret or ""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    if nginx_binary() is None:
        _unavailable(INSTALL_HINT)
    _check_redis()
    url = _fresh_database_url()
    ensure_database(url)
    folder = tmp_path_factory.mktemp("stack")
    config = StackConfig(
        folder=folder,
        https_port=free_port(),
        http_port=free_port(),
        instance_ports=(free_port(), free_port()),
        database_url=url,
        redis_url=REDIS_URL,
        workers=1,
        token_rate="10000r/s",  # this test measures failover, not the rate limit (tested below)
        token_burst=10000,
    )
    stack, app = Stack(config), None
    try:
        stack.prepare()
        secret = stack.env()["TESSERA_SECRET_KEY"]  # the keys it makes are encrypted with it
        app = create_app(base_config(url, folder / "seed", ISSUER=config.issuer, SECRET_KEY=secret))
        with app.app_context():  # what `tessera db upgrade` does, without another interpreter
            flask_migrate.upgrade()
            app.extensions["tessera"].keystore.ensure_keys()
        apps = e2e.seed(app)
        stack.start()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("REQUESTS_CA_BUNDLE", str(config.certificate))
            yield Running(stack, app, apps)
    finally:
        stack.stop()
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        drop_database(url)


def _refresh_chains(running: Running) -> list[RefreshChain]:
    """A signed-in browser through nginx, then one authorization code flow per chain."""
    client = e2e.Stack(running.issuer, running.app, None, REDIS_URL, "", apps=running.apps)
    client.sign_in()
    scope = "openid offline_access orders:read"
    return [
        RefreshChain(str(i), [client.user_tokens(scope)["refresh_token"]]) for i in range(CHAINS)
    ]


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + LOAD_DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _kill_and_restart(stack: Stack, load: Load) -> tuple[float, float]:
    """SIGKILL the first instance mid-load, restart it, wait until nginx uses it again; the
    time span in which the kill happened."""
    victim = stack.instances[0]
    _wait_for(lambda: load.recorder.count_ok() >= 100, "the load to get going")
    _wait_for(lambda: token_requests(victim.log, 0) >= 20, "nginx to use both instances")
    kill_started = time.monotonic()
    victim.kill()
    killed = time.monotonic()
    _wait_for(lambda: load.recorder.count_ok(since=killed) >= 100, "answers after the kill")
    offset = victim.log.stat().st_size
    victim.start(stack.env(), stack.config.workers)
    victim.wait_ready()
    rejoined_from = time.monotonic()
    _wait_for(
        lambda: token_requests(victim.log, offset) >= 20, "nginx to use the restarted instance"
    )
    _wait_for(
        lambda: load.recorder.count_ok(since=rejoined_from) >= 50, "answers after the restart"
    )
    return kill_started, killed


def test_killing_an_instance_fails_only_its_requests_in_flight_and_it_rejoins(running) -> None:
    stack = running.stack
    victim, survivor = stack.instances
    chains = _refresh_chains(running)
    web, bot = running.credentials("trader"), running.credentials("bot")
    with Load(running.issuer, chains, web, bot, CC_THREADS) as load:
        kill_started, killed = _kill_and_restart(stack, load)

    failures = load.recorder.failures()
    late = [f for f in failures if not f.in_flight_at(kill_started, killed + KILL_SLACK)]
    assert late == [], f"requests not in flight at the kill failed: {late[:5]}"
    assert all(f.status == IN_FLIGHT_FAILURE for f in failures), failures[:5]
    assert all('"temporarily_unavailable"' in f.body and f.retry_after for f in failures)
    assert len(failures) <= len(load.threads), "more failures than requests that can be in flight"
    # nginx's own record: every failed request had been sent to the instance that was killed
    nginx_log = stack.config.folder / "nginx-access.log"
    assert failed_upstreams(nginx_log) <= {f"127.0.0.1:{victim.port}"}
    assert token_requests(survivor.log, 0) > 0
    assert all(not chain.unexpected for chain in chains), [c.unexpected for c in chains]
    # A retry fails only when the killed instance had committed the rotation before dying:
    # the retry is then a reuse, refused, and that chain reports its lost request.
    lost = [chain for chain in chains if chain.lost]
    refused = load.recorder.failures(retries=True)
    assert len(refused) == len(lost), (refused, [c.lost for c in lost])
    assert all(o.status == 400 and '"invalid_grant"' in o.body for o in refused), refused
    check_chains_in_database(running.app, chains)
    for chain in chains:
        if not chain.lost:  # the newest token each client holds still works
            assert _one_refresh(running, chain).status_code == 200
    print(
        f"\nfailover: {len(load.recorder.outcomes)} requests, {len(failures)} failed in flight, "
        f"{len(lost)} of {CHAINS} refresh chains lost an in-flight rotation: "
        + ("; ".join(c.lost for c in lost) or "none")
    )


def _one_refresh(running: Running, chain: RefreshChain) -> requests.Response:
    return requests.post(
        running.issuer + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": chain.tokens[-1]},
        auth=running.credentials("trader"),
        timeout=10,
    )


@pytest.fixture
def strict_nginx(running: Running, tmp_path: Path) -> Iterator[str]:
    """A second nginx in front of the same instances, with low limits: (its https origin)."""
    site = dataclasses.replace(
        running.stack.config.site(),
        https_port=free_port(),
        http_port=free_port(),
        access_log=tmp_path / "access.log",
        token_rate="1r/s",
        token_burst=3,
        login_rate="6r/m",
        login_burst=2,
    )
    nginx = Nginx(tmp_path)
    nginx.write(site)
    nginx.start()
    try:
        yield site.public_origin
    finally:
        nginx.stop()


def _post_from(address: str, origin: str, path: str, body: str, headers: dict[str, str]):
    """A POST whose TCP connection leaves from `address` (another client IP on loopback)."""
    context = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
    host, port = origin.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(
        host, int(port), context=context, source_address=(address, 0), timeout=10
    )
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()  # fmt: skip


def test_nginx_limits_token_requests_per_client_ip_with_an_oauth_error(
    running, strict_nginx
) -> None:
    bot = running.credentials("bot")
    statuses = []
    for _ in range(8):
        response = requests.post(
            strict_nginx + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=bot,
            timeout=10,
        )
        statuses.append(response.status_code)
    assert statuses[0] == 200 and 429 in statuses, statuses
    assert response.status_code == 429
    assert response.json()["error"] == "slow_down"
    assert (
        response.headers["Retry-After"] == "1" and response.headers["Cache-Control"] == "no-store"
    )
    basic = "Basic " + base64.b64encode(f"{bot[0]}:{bot[1]}".encode()).decode()
    status, _ = _post_from(
        "127.0.0.2",
        strict_nginx,
        "/oauth/token",
        "grant_type=client_credentials",
        {"Authorization": basic},
    )
    assert status == 200, "another client address has a budget of its own"  # fmt: skip


def test_behind_nginx_the_audit_log_has_the_real_client_ip_not_a_forged_header(
    running, strict_nginx
) -> None:
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = "203.0.113.9"  # forged by the client
    # An account name of this run's own: Tessera's throttle counts failures per name in Redis,
    # across runs; the IP budget (30 a minute) is far from these three.
    login, answers = f"nobody-{secrets.token_hex(4)}", []
    for _ in range(4):
        token = e2e.CSRF_RE.search(browser.get(strict_nginx + "/login", timeout=10).text).group(1)
        answer = browser.post(
            strict_nginx + "/login",
            data={"login": login, "password": PASSWORD, "csrf_token": token},
            timeout=10,
        )
        answers.append(answer.status_code)
    assert answers[0] == 401 and answers[-1] == 429, answers  # a wrong password, then nginx
    assert "Too many sign-in attempts" in answer.text
    with running.app.app_context():
        failed = db.session.scalars(
            select(AuditEvent.ip).where(AuditEvent.event == "login.failed")
        ).all()
        db.session.remove()
    assert failed and set(failed) == {"127.0.0.1"}, failed


def test_plain_http_redirects_to_the_issuer_and_oversized_bodies_stop_at_nginx(running) -> None:
    config = running.stack.config
    redirect = requests.get(
        f"http://{config.host}:{config.http_port}/login?next=%2Faccount",
        allow_redirects=False,
        timeout=10,
    )
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == running.issuer + "/login?next=%2Faccount"
    too_big = requests.post(
        running.issuer + "/oauth/token",
        data={"grant_type": "client_credentials", "pad": "x" * (1024 * 1024 + 1)},
        timeout=10,
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "invalid_request"  # nginx's, in the endpoint's shape
    # just under the limit: buffered in nginx's memory (no temporary file) and passed on
    almost = requests.post(
        running.issuer + "/oauth/token",
        data={"grant_type": "client_credentials", "pad": "x" * (1000 * 1000)},
        auth=running.credentials("bot"),
        timeout=10,
    )
    assert almost.status_code in (200, 400), almost.text[:200]  # fmt: skip


IDLE_CLIENTS, SLOW_CLIENTS = 500, 50


def test_idle_and_slow_clients_wait_at_nginx_and_never_reach_the_instances(running) -> None:
    """Issue 11's numbers: 500 connections that send nothing and 50 that stop halfway through
    a body. nginx holds them (request buffering); the instances, one worker each, never see
    them, so a token request is answered as usual."""
    config = running.stack.config
    address = (config.host, config.https_port)
    context = ssl.create_default_context(cafile=str(config.certificate))
    head = (
        f"POST /oauth/token HTTP/1.1\r\nHost: {config.host}:{config.https_port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        "grant_type=client_"
    ).encode()
    held: list[socket.socket] = []
    try:
        held += [socket.create_connection(address, timeout=5) for _ in range(IDLE_CLIENTS)]
        for _ in range(SLOW_CLIENTS):
            slow = context.wrap_socket(
                socket.create_connection(address, timeout=5), server_hostname=config.host
            )
            slow.sendall(head)
            held.append(slow)
        http, bot = requests.Session(), running.credentials("bot")
        for _ in range(20):
            started = time.monotonic()
            answer = http.post(
                running.issuer + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=bot,
                timeout=10,
            )
            assert answer.status_code == 200 and time.monotonic() - started < 1.0
    finally:
        for sock in held:
            sock.close()  # fmt: skip
