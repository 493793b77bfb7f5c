"""client_credentials through the production stack vs `tessera serve` directly, same run.

The stack is deploy/stack.py's (nginx with TLS in front of two `tessera serve` instances, a
fresh PostgreSQL database, Redis), with its rate limit raised out of the way and access logs
off; the direct server is the production server alone on the same database (idp/serving.py,
one worker per core, as in the rest of `make bench`). Rounds alternate direct and stack and
the median round by ratio is kept, as run_bench.py does against the bare ceiling. The stack
is measured with BENCH_STACK_WORKERS workers per instance (default "1,2": one per instance,
so the two instances together have the direct server's two workers, and two each).

`make bench` runs it after the databases (BENCH_STACK=0 skips it); `python bench/stack_bench.py`
runs it alone. See bench/README.md, "Through the stack".
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import prepare
from bench.servers import AppServer, free_port, postgres_database, postgres_unreachable_reason
from bench.wrk_results import Row, WrkResult
from deploy.nginx import INSTALL_HINT, nginx_binary
from deploy.stack import Stack, StackConfig

RunWrk = Callable[..., WrkResult]

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
STACK_WORKERS = [int(n) for n in os.environ.get("BENCH_STACK_WORKERS", "1,2").split(",")]
DIRECT_WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))


def unavailable_reason() -> str | None:
    if os.environ.get("BENCH_STACK", "1") == "0":
        return "BENCH_STACK=0"
    if nginx_binary() is None:
        return INSTALL_HINT
    return postgres_unreachable_reason()


def _fixture(url: str, stack: Stack) -> prepare.Fixture:
    """Migrate the database and create the benchmark's apps, keys sealed with the stack's secret."""
    import flask_migrate

    from idp import create_app
    from idp.extensions import db

    env = stack.env()
    app = create_app(
        {
            "ENV": "development",
            "ISSUER": stack.config.issuer,
            "DATABASE_URL": url,
            "SECRET_KEY": env["TESSERA_SECRET_KEY"],
            "INSTANCE_PATH": str(stack.config.folder / "seed"),
        }
    )
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        flask_migrate.upgrade()
        tessera = app.extensions["tessera"]
        tessera.keystore.ensure_keys()
        fx = prepare.create_fixture(tessera)
        db.session.remove()
        db.engine.dispose()
    return fx


def _direct(url: str, stack: Stack, workdir: Path) -> AppServer:
    port = free_port()
    env = {
        "TESSERA_ENV": "development",  # production demands https; the token path is the same
        "TESSERA_ISSUER": f"http://127.0.0.1:{port}",
        "TESSERA_DATABASE_URL": url,
        "TESSERA_REDIS_URL": REDIS_URL,
        "TESSERA_SECRET_KEY": stack.env()["TESSERA_SECRET_KEY"],
        "TESSERA_INSTANCE_PATH": str(workdir / "direct"),
    }
    return AppServer("idp.serving:wsgi_app", env, workdir / "direct.log", DIRECT_WORKERS, port=port)


def _rounds(
    run_wrk: RunWrk, direct: str, stack: str, args: list[str]
) -> tuple[WrkResult, WrkResult, str]:
    duration = max(2, DURATION // 2)
    for url in (direct, stack):
        run_wrk(url, "client_credentials.lua", args, duration=2)  # warm-up (TLS sessions, caches)
    rounds = []
    for _ in range(ROUNDS):
        d = run_wrk(direct, "client_credentials.lua", args, duration=duration)
        s = run_wrk(stack, "client_credentials.lua", args, duration=duration)
        rounds.append((s.rps / d.rps if d.rps else 0.0, d, s))
    rounds.sort(key=lambda r: r[0])
    ratio, d, s = rounds[len(rounds) // 2]
    note = f"stack/direct {ratio:.2f} (rounds " + ", ".join(f"{r[0]:.2f}" for r in rounds) + ")"
    return d, s, note  # fmt: skip


def bench_stack(workdir: Path, run_wrk: RunWrk, ceiling_rps: float | None = None) -> list[Row]:
    """Rows for the table: direct and through the stack, per BENCH_STACK_WORKERS value."""
    reason = unavailable_reason()
    if reason:
        print(f"Stack benchmark skipped: {reason}", flush=True)
        return []
    name = f"tessera_bench_stack_{int(time.time())}"
    print(f"Through the stack (nginx + TLS + 2 instances, fresh database {name}) ...", flush=True)
    rows: list[Row] = []
    with postgres_database(name) as url:
        fx = None
        for workers in STACK_WORKERS:
            # one folder (secret key, certificate) and one fixture for every configuration
            stack = Stack(_config(workdir / "stack", url, workers))
            stack.prepare()
            fx = fx or _fixture(url, stack)
            rows += _measure(url, stack, fx, workdir, run_wrk, ceiling_rps)
    return rows


def _config(folder: Path, url: str, workers: int) -> StackConfig:
    return StackConfig(
        folder=folder, https_port=free_port(), http_port=free_port(),
        instance_ports=(free_port(), free_port()), database_url=url, redis_url=REDIS_URL,
        workers=workers, access_log=False, token_rate="1000000r/s", token_burst=100000,
    )  # fmt: skip


def _measure(
    url: str,
    stack: Stack,
    fx: prepare.Fixture,
    workdir: Path,
    run_wrk: RunWrk,
    ceiling: float | None,
) -> list[Row]:
    config, workers = stack.config, stack.config.workers
    direct = _direct(url, stack, workdir)
    try:
        direct.wait_ready("/.well-known/openid-configuration")
        stack.start()
        d, s, note = _rounds(run_wrk, direct.url, config.issuer, [fx.service_basic])
    finally:
        stack.stop()
        direct.stop()
    label = f"client_credentials via nginx+TLS, 2 instances x {workers} worker(s)"
    rows = [
        Row("PostgreSQL", f"client_credentials direct, {DIRECT_WORKERS} workers", d, [], ceiling),
        Row("PostgreSQL", label, s, [], ceiling, note=note),
    ]
    for row in rows:
        print(f"  {row.scenario:<58} {row.result.rps:8.0f} req/s  p99 {row.result.p99_ms:6.1f} ms"
              f"  errors {row.errors}  {row.note}", flush=True)  # fmt: skip
    return rows


def main() -> int:
    from bench.run_bench import run_wrk
    from bench.wrk_results import text_table

    if shutil.which("wrk") is None:
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="tessera-stack-bench-"))
    try:
        rows = bench_stack(workdir, run_wrk)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + text_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
