"""`make stack`: the production recipe on this machine (deploy/README.md).

nginx (TLS on 127.0.0.1:8443, http on :8080 redirecting to it) in front of two `tessera serve`
instances on loopback ports, sharing PostgreSQL (a database of their own) and Redis (a db
number of their own). Everything it writes lives in instance/stack/: the secret key, the
certificate, the rendered nginx configuration, pid files and logs. `stop` stops exactly the
processes whose pid files it wrote there: PostgreSQL or Redis only when `start` had to start
them (deploy/services.py).

    python -m deploy.stack start [--workers N] [--no-seed]
    python -m deploy.stack stop

The failover test and the stack benchmark build a `Stack` with ports of their own.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from deploy import processes, services
from deploy.nginx import INSTALL_HINT, Nginx, Site, make_certificate, nginx_binary
from idp.private_files import private_folder, write_private

ROOT = Path(__file__).resolve().parent.parent
TESSERA = ROOT / ".venv" / "bin" / "tessera"
DEFAULT_FOLDER = ROOT / "instance" / "stack"
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_stack"
DEFAULT_REDIS = "redis://127.0.0.1:6379/10"
MAX_BODY = 1024 * 1024  # TESSERA_MAX_CONTENT_LENGTH's default; nginx refuses larger bodies first
READY_SECONDS = 60


def default_workers() -> int:
    """One per core, as `tessera serve` does: when one instance is down, the other can use the
    whole machine; and two per instance measured no slower here than one (bench/README.md)."""
    return os.cpu_count() or 1


@dataclass
class StackConfig:
    folder: Path = DEFAULT_FOLDER
    host: str = "127.0.0.1"
    https_port: int = 8443
    http_port: int = 8080
    instance_ports: tuple[int, ...] = (5101, 5102)
    database_url: str = DEFAULT_DATABASE
    redis_url: str = DEFAULT_REDIS
    workers: int = field(default_factory=default_workers)
    access_log: bool = True
    token_rate: str = "20r/s"
    token_burst: int = 40
    login_rate: str = "30r/m"
    login_burst: int = 10
    settings: dict[str, str] = field(default_factory=dict)  # more TESSERA_* for the instances

    @property
    def issuer(self) -> str:
        return f"https://{self.host}:{self.https_port}"

    @property
    def certificate(self) -> Path:
        return self.folder / "cert.pem"

    def site(self) -> Site:
        return Site(
            server_name=self.host,
            https_port=self.https_port,
            http_port=self.http_port,
            upstream_ports=self.instance_ports,
            certificate=self.certificate,
            certificate_key=self.folder / "key.pem",
            max_body=MAX_BODY,
            access_log=self.folder / "nginx-access.log" if self.access_log else None,
            token_rate=self.token_rate,
            token_burst=self.token_burst,
            login_rate=self.login_rate,
            login_burst=self.login_burst,
        )


class Instance:
    """One `tessera serve` in a process group of its own (its granian master and workers)."""

    def __init__(self, name: str, port: int, folder: Path) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = folder / f"{name}.log"
        self.record = folder / f"{name}.pidrec"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str], workers: int) -> None:
        command = [str(TESSERA), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--workers", str(workers)]  # fmt: skip
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        processes.record(self.record, self.popen.pid)

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                break
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not answer on {self.url}; see {self.log}:\n{tail(self.log)}"
        )

    def kill(self) -> None:
        """SIGKILL to the whole group: the instance dies as in a crash, mid-request."""
        pid = processes.recorded(self.record)
        if pid is not None:
            os.killpg(pid, 9)
        if self.popen is not None:
            self.popen.wait()

    def stop(self) -> int | None:
        pid = processes.stop_recorded(self.record, group=True)
        if self.popen is not None:
            self.popen.wait()  # reaped: it was this process's child
        return pid


def port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS has just handed out (for tests and benchmarks, which run side by side)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.nginx = Nginx(config.folder)
        self.instances = [
            Instance(f"tessera-{i}", port, config.folder)
            for i, port in enumerate(config.instance_ports, 1)
        ]

    def env(self) -> dict[str, str]:
        c = self.config
        return {
            **os.environ,
            "TESSERA_ENV": "production",
            "TESSERA_ISSUER": c.issuer,
            "TESSERA_DATABASE_URL": c.database_url,
            "TESSERA_REDIS_URL": c.redis_url,
            "TESSERA_SECRET_KEY": self._secret_key(),
            "TESSERA_INSTANCE_PATH": str(c.folder),
            "TESSERA_TRUSTED_PROXIES": "1",
            "TESSERA_MAX_CONTENT_LENGTH": str(MAX_BODY),
            "TESSERA_ACCESS_LOG": "1" if c.access_log else "0",
            **{f"TESSERA_{k}": v for k, v in c.settings.items()},
        }

    def _secret_key(self) -> str:
        path = self.config.folder / "secret_key"
        if not path.exists():
            write_private(path, secrets.token_urlsafe(48))
        return path.read_text().strip()

    def prepare(self) -> None:
        """Folder, secret key, certificate, nginx configuration (kept, or made once)."""
        private_folder(self.config.folder)
        self._secret_key()
        make_certificate(self.config.certificate, self.config.folder / "key.pem", self.config.host)
        self.nginx.write(self.config.site())

    def tessera(self, *args: str) -> str:
        """A `tessera` command against the stack's settings; its output."""
        done = subprocess.run(
            [str(TESSERA), *args], cwd=ROOT, env=self.env(), capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            # a traceback is for the log: the terminal gets its last line and where the rest is
            output = f"{done.stdout}{done.stderr}"
            log = write_private(self.config.folder / f"tessera-{args[0]}.log", output)
            last = (output.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"`tessera {' '.join(args)}` failed: {last} (full output: {log})")
        return done.stdout

    def start(self) -> None:
        """Instances first, then nginx: it never fronts an upstream that is not up yet."""
        self.prepare()
        c = self.config
        busy = [
            p for p in (c.https_port, c.http_port, *c.instance_ports) if not port_free(c.host, p)
        ]
        if busy:
            raise RuntimeError(f"port(s) {', '.join(map(str, busy))} on {c.host} already in use")
        env = self.env()
        try:
            for instance in self.instances:
                instance.start(env, self.config.workers)
            for instance in self.instances:
                instance.wait_ready()
            self.nginx.start()
            self.wait_https()
        except BaseException:
            self.stop()
            raise

    def wait_https(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        url = self.config.issuer + "/.well-known/openid-configuration"
        while True:
            try:
                got = requests.get(url, verify=str(self.config.certificate), timeout=2)
                if got.status_code == 200 and got.json()["issuer"] == self.config.issuer:
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx does not serve {url}; see {self.nginx.folder}")
            time.sleep(0.1)

    def stop(self) -> list[str]:
        """nginx first (no new requests), then the instances; what was stopped, by name."""
        stopped = []
        if self.nginx.stop() is not None:
            stopped.append("nginx")
        for instance in self.instances:
            if instance.stop() is not None:
                stopped.append(instance.name)
        return stopped


def _print_started(stack: Stack, started_services: list[str]) -> None:
    c = stack.config
    print("\nThe Tessera stack is up:")
    print(f"  nginx           {c.issuer} (TLS), http://{c.host}:{c.http_port} redirects to it"
          f"  [pid {stack.nginx.pid()}]")  # fmt: skip
    for instance in stack.instances:
        pid = processes.recorded(instance.record)
        print(
            f"  {instance.name:<15} {instance.url}, {c.workers} worker(s)  [pid {pid}] log {instance.log}"
        )
    print(f"  PostgreSQL      {urlsplit(c.database_url)._replace(scheme='postgresql').geturl()}")
    print(f"  Redis           {c.redis_url}")
    for name in started_services:
        print(f"  (started {name}, which was down; `make stack-down` stops it again)")
    print(f"\n  certificate     {c.certificate} (self-signed: curl --cacert {c.certificate} ...)")
    print(f"  sign in:        {c.issuer}/login")
    print(f"  discovery:      {c.issuer}/.well-known/openid-configuration")
    print(f"  demo accounts:  {c.folder / 'demo-credentials.txt'}")
    print("  stop it with:   make stack-down   (python -m deploy.stack stop)\n")


def _check_secret_matches(stack: Stack) -> None:
    """A database made by another checkout (or before instance/stack/ was deleted) holds signing
    keys sealed with a secret this one does not have: every token request would fail."""
    url = stack.config.database_url
    if (stack.config.folder / "secret_key").exists() or not services.has_signing_keys(url):
        return
    name = url.rsplit("/", 1)[-1]
    raise SystemExit(
        f"The database {name} already holds signing keys, sealed with the secret key of the "
        f"checkout that made it, and {stack.config.folder}/secret_key does not exist. Copy that "
        f"checkout's instance/stack/secret_key here, or start afresh: "
        f"psql -h 127.0.0.1 -U postgres -d postgres -c 'DROP DATABASE {name}'"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("--workers", type=int, default=default_workers(), help="per instance")
    parser.add_argument("--no-seed", action="store_true", help="skip `tessera seed-demo`")
    args = parser.parse_args(argv)
    stack = Stack(StackConfig(workers=args.workers))
    if args.command == "stop":
        stopped = stack.stop() + services.stop_started(stack.config.folder)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        print("PostgreSQL and Redis are left running unless `make stack` had started them.")
        return 0
    if any(processes.recorded(i.record) for i in stack.instances) or stack.nginx.pid():
        print("The stack is already running; `make stack-down` stops it.", file=sys.stderr)
        return 1
    if nginx_binary() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 1
    try:
        private_folder(stack.config.folder)
        started_services = services.ensure_running(stack.config.folder)
        services.ensure_database(stack.config.database_url)
        _check_secret_matches(stack)
        print(stack.tessera("db", "upgrade"), end="")
        if not args.no_seed:
            print(stack.tessera("seed-demo"), end="")
        stack.start()  # stops what it started if any part fails
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        print(f"make stack failed: `{' '.join(map(str, exc.cmd))}` exited with {exc.returncode}"
              + (f": {said[-1]}" if said else ""), file=sys.stderr)  # fmt: skip
        return 1
    except (RuntimeError, OSError) as exc:
        print(f"make stack failed: {exc}", file=sys.stderr)
        return 1
    _print_started(stack, started_services)
    return 0


if __name__ == "__main__":
    sys.exit(main())
