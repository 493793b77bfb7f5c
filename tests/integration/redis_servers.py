"""Redis for the shared-state tests (fixtures in conftest.py): the machine's Redis
(TESSERA_TEST_REDIS_URL, a database number of the run's own) and throwaway `redis-server`
processes a test may kill. The shared Redis is never stopped or flushed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis
import requests

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: "Redis is down"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.02):
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(interval)


class ThrowawayRedis:
    """A redis-server of the test's own on a free port, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> ThrowawayRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("needs the redis-server binary (Debian package redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=0.2, socket_connect_timeout=0.2)
        wait_until(lambda: _pings(client), 10, f"redis-server on port {self.port}")
        client.close()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class TesseraServe:
    """`tessera serve` in a process group of its own, configured by TESSERA_* variables."""

    def __init__(self, log_path, workers: int = 2, **settings: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TESSERA_ACCESS_LOG": "0"}
        env.update({f"TESSERA_{name}": str(value) for name, value in settings.items()})
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = "from idp.cli import main; main()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", command, "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.log_path = log_path

    def wait_ready(self, timeout: float = 60) -> TesseraServe:
        def answers() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"tessera serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                return requests.get(self.url + "/login", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answers, timeout, f"tessera serve on port {self.port}", interval=0.2)
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._log.close()
