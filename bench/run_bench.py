"""Tessera's server benchmark: `make bench`.

For SQLite and PostgreSQL in turn: a fresh database, migrated and filled with benchmark data,
Tessera served by the production server (idp/serving.py: granian), and wrk + bench/lua/ scripts
driving each scenario on loopback. Every response is checked in Lua. A bare Flask app under the
same server settings gives the ceiling every figure is compared to. See bench/README.md.

Settings (environment): BENCH_DURATION (seconds per scenario, default 10), BENCH_CONNECTIONS
(32), BENCH_THREADS (2), BENCH_WORKERS (one per core), BENCH_DATABASES ("sqlite,postgresql"),
BENCH_IMPORT_ROWS (accounts for the `tessera users import` benchmark, default 1,000,000; 0 skips).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import requests
from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import idle_clients, import_users, prepare, stack_bench
from bench.servers import ROOT, AppServer, free_port, postgres_database, postgres_unreachable_reason
from bench.targets import evaluate
from bench.wrk_results import Row, WrkResult, markdown_table, parse_wrk_output, text_table

LUA = ROOT / "bench" / "lua"
RESULTS = ROOT / "bench" / "results"
SECRET_KEY = "bench-only-secret-key-0123456789abcdef-not-for-production"

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
LOGIN_PAIRS = 64
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
IMPORT_ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))  # 0: skip bench/import_users.py


def run_wrk(url: str, script: str, args: list[str], duration: int = DURATION) -> WrkResult:
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        url,
        "--",
        *args,
    ]
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}\n{done.stdout}")
    return parse_wrk_output(done.stdout)


def login_pairs(url: str, path: Path) -> None:
    """(session cookie, csrf_token) pairs, each from its own GET /login."""
    lines = []
    for _ in range(LOGIN_PAIRS):
        page = requests.get(url + "/login", timeout=10)
        page.raise_for_status()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        cookie = "; ".join(f"{c.name}={c.value}" for c in page.cookies)
        if token is None or not cookie:
            raise RuntimeError("GET /login gave no CSRF token or session cookie")
        lines.append(f"{cookie}\t{token.group(1)}")
    path.write_text("\n".join(lines) + "\n")


class Ceiling:
    """The bare-Flask app, kept running for the whole benchmark and measured between scenarios.

    The machine's speed drifts (other tenants, CPU frequency): a ceiling measured once at the
    start could be minutes older than the figure it divides. The client_credentials ratio is
    therefore measured in rounds, bare and Tessera alternating, and the median round is kept.
    """

    def __init__(self, workdir: Path) -> None:
        self.server = AppServer(
            "bench.bare_app:app", {}, workdir / "bare.log", WORKERS, factory=False
        )
        self.runs: list[WrkResult] = []

    def start(self) -> None:
        self.server.wait_ready("/")
        run_wrk(self.server.url, "get_json.lua", ["/", '"ok"'], duration=2)  # warm-up

    def measure(self, duration: int = DURATION) -> WrkResult:
        result = run_wrk(self.server.url, "get_json.lua", ["/", '"ok"'], duration=duration)
        self.runs.append(result)
        return result

    def row(self) -> Row:
        """The median of every ceiling run, for the table."""
        median = sorted(self.runs, key=lambda r: r.rps)[len(self.runs) // 2]
        return Row("-", "bare Flask (ceiling)", median, self.server.worker_rss_mib(), None)

    def stop(self) -> None:
        self.server.stop()


def paired_rounds(
    ceiling: Ceiling, url: str, script: str, args: list[str]
) -> tuple[WrkResult, float, str]:
    """ROUNDS x (ceiling, scenario), DURATION split between them; the median round by ratio."""
    duration = max(2, DURATION // 2)
    rounds = []
    for _ in range(ROUNDS):
        bare = ceiling.measure(duration)
        result = run_wrk(url, script, args, duration=duration)
        rounds.append((result.rps / bare.rps if bare.rps else 0.0, result, bare))
    rounds.sort(key=lambda r: r[0])
    _, result, bare = rounds[len(rounds) // 2]
    note = "ratios by round " + ", ".join(f"{r[0]:.2f}" for r in rounds)
    return result, bare.rps, note


def _tessera_app(url: str, issuer: str, instance: Path) -> Flask:
    from idp import create_app

    app = create_app(
        {
            "ENV": "development",
            "ISSUER": issuer,
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "INSTANCE_PATH": str(instance),
        }
    )
    logging.getLogger().setLevel(logging.WARNING)
    return app


def bench_database(label: str, url: str, workdir: Path, bare: Ceiling) -> list[Row]:
    import flask_migrate

    instance = workdir / label
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = _tessera_app(url, issuer, instance)
    with app.app_context():
        flask_migrate.upgrade()
        tessera = app.extensions["tessera"]
        tessera.keystore.ensure_keys()
        fx = prepare.create_fixture(tessera)
    env = {
        "TESSERA_ENV": "development",
        "TESSERA_ISSUER": issuer,
        "TESSERA_DATABASE_URL": url,
        "TESSERA_SECRET_KEY": SECRET_KEY,
        "TESSERA_INSTANCE_PATH": str(instance),
    }
    server = AppServer("idp.serving:wsgi_app", env, workdir / f"{label}.log", WORKERS, port=port)
    rows: list[Row] = []

    ceiling = bare.runs[-1].rps if bare.runs else None

    def record(
        name: str, result: WrkResult, extra: int = 0, note: str = "", against: float | None = None
    ) -> None:
        # Memory "after the run": let the requests still queued at wrk's deadline finish, or a
        # password login in flight would be counted with its 19 MiB argon2 buffer.
        time.sleep(1)
        rows.append(
            Row(label, name, result, server.worker_rss_mib(), against or ceiling, extra, note)
        )
        print(
            f"  {name:<22} {result.rps:8.0f} req/s  p99 {result.p99_ms:6.1f} ms  "
            f"errors {result.errors + extra}  statuses {result.statuses} {note}",
            flush=True,
        )

    try:
        server.wait_ready("/.well-known/openid-configuration")
        cc_args = [fx.service_basic]
        run_wrk(server.url, "client_credentials.lua", cc_args, duration=2)  # warm-up
        cc, against, note = paired_rounds(bare, server.url, "client_credentials.lua", cc_args)
        ceiling = against
        record("client_credentials", cc, note=note, against=against)
        idle = idle_clients.compare(  # issue 11: the same load while idle sockets are held
            server.url,
            lambda seconds: run_wrk(server.url, "client_credentials.lua", cc_args, seconds),
            max(idle_clients.MIN_SECONDS, DURATION // 2),
        )
        record("cc, 500 idle conns", idle.with_idle, note=idle.note(), against=against)
        record(
            "introspection",
            run_wrk(server.url, "introspection.lua", [fx.service_basic, fx.user_access_token]),
        )
        record("userinfo", run_wrk(server.url, "userinfo.lua", [fx.user_access_token]))
        record("jwks", run_wrk(server.url, "get_json.lua", ["/jwks.json", '"keys"']))
        record(
            "discovery",
            run_wrk(server.url, "get_json.lua", ["/.well-known/openid-configuration", '"issuer"']),
        )
        # Single-use credentials: enough for 1.5x the client_credentials rate, the upper bound.
        supply = min(100_000, int(cc.rps * DURATION * 1.5) + 2000)
        with app.app_context():
            ids = prepare.refresh_tokens(fx, supply, workdir / f"{label}-refresh.txt")
        result = run_wrk(
            server.url,
            "refresh_token.lua",
            [f"supply={workdir / f'{label}-refresh.txt'},{THREADS}", fx.web_basic],
        )
        time.sleep(1)  # let the requests wrk stopped waiting for at its deadline commit
        with app.app_context():
            check = prepare.check_rotations(ids, result.ok)
        record("refresh_token", result, check.errors, check.describe())
        with app.app_context():
            ids = prepare.authorization_codes(fx, supply, workdir / f"{label}-codes.txt")
        result = run_wrk(
            server.url,
            "authorization_code.lua",
            [
                f"supply={workdir / f'{label}-codes.txt'},{THREADS}",
                fx.web_basic,
                prepare.quote(prepare.REDIRECT_URI, safe=""),
                fx.verifier,
            ],
        )
        time.sleep(1)
        with app.app_context():
            used = prepare.codes_used(ids)
        record("authorization_code", result, note=f"{used} codes used, {result.ok} 200s")
        login_pairs(server.url, workdir / f"{label}-login.txt")
        record(
            "password_login",
            run_wrk(
                server.url,
                "password_login.lua",
                [f"supply={workdir / f'{label}-login.txt'},{THREADS}", fx.username, fx.password],
            ),
        )
    except Exception:
        server.stop()
        print(f"--- {server.log.name} (last lines) ---\n" + _tail(server.log), file=sys.stderr)
        raise
    finally:
        server.stop()
        with app.app_context():
            from idp.extensions import db

            db.session.remove()
            db.engine.dispose()
    return rows


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def header() -> list[str]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [
        f"Tessera server benchmark, commit {commit or '?'}, {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"wrk {THREADS} threads, {CONNECTIONS} connections, {DURATION} s per scenario, on loopback; "
        f"granian (idp/serving.py: RSGI + BufferedWSGI, HTTP/1, backpressure 1024, uvloop) with {WORKERS} workers, access log off.",
        f"wrk runs on the SAME machine as the server ({os.cpu_count()} cores): it takes CPU from "
        "the workers, so these are lower bounds of what a dedicated server would do.",
    ]


def save(rows: list[Row], lines: list[str], verdicts: list[str]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    md = RESULTS / f"bench-{stamp}.md"
    notes = [f"- {r.database} {r.scenario}: {r.note}" for r in rows if r.note]
    md.write_text(
        "\n".join(
            [
                "# " + lines[0],
                "",
                *lines[1:],
                "",
                markdown_table(rows),
                "",
                *notes,
                "",
                "## Targets",
                "",
                *[f"- {v}" for v in verdicts],
                "",
            ]
        )
    )
    raw = [
        {
            **asdict(r.result),
            "database": r.database,
            "scenario": r.scenario,
            "rps": r.result.rps,
            "rss_mib": r.rss_mib,
            "errors": r.errors,
            "note": r.note,
        }
        for r in rows
    ]
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(raw, indent=1))
    return md


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 2
    lines = header()
    print("\n".join(lines), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    started = time.monotonic()
    bare = Ceiling(workdir)  # starts its server
    try:
        print("bare Flask ceiling ...", flush=True)
        bare.start()
        print(f"  {bare.measure().rps:.0f} req/s", flush=True)
        rows = []
        for label in DATABASES:
            if label == "sqlite":
                print("SQLite (fresh file) ...", flush=True)
                url = f"sqlite:///{workdir / 'bench.db'}"
                rows += bench_database("SQLite", url, workdir, bare)
            elif label == "postgresql":
                reason = postgres_unreachable_reason()
                if reason:
                    print(f"PostgreSQL skipped: {reason}", flush=True)
                    continue
                name = f"tessera_bench_{int(time.time())}"
                print(f"PostgreSQL (fresh database {name}) ...", flush=True)
                with postgres_database(name) as url:
                    rows += bench_database("PostgreSQL", url, workdir, bare)
        # nginx + TLS + 2 instances vs tessera serve directly (bench/stack_bench.py)
        rows += stack_bench.bench_stack(workdir, run_wrk, bare.runs[-1].rps if bare.runs else None)
        rows.insert(0, bare.row())
    finally:
        bare.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    verdicts = evaluate(rows, WORKERS, os.cpu_count() or 1)
    if IMPORT_ROWS and "postgresql" in DATABASES:
        print(f"tessera users import, {IMPORT_ROWS:,} rows into PostgreSQL ...", flush=True)
        verdicts += import_users.bench(IMPORT_ROWS, "csv")  # its own baseline: a plain COPY
    print()
    print(text_table(rows))
    for r in rows:
        if r.note:
            print(f"  {r.database} {r.scenario}: {r.note}")
    print("\nTargets (issue 'Performance'):")
    for v in verdicts:
        print("  " + v)
    path = save(rows, lines, verdicts)
    print(
        f"\nMarkdown table saved to {path.relative_to(ROOT)} "
        f"(total {time.monotonic() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
