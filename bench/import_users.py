"""`tessera users import` at scale: 1,000,000 accounts into PostgreSQL (target: under 5 minutes).

    .venv/bin/python -m bench.import_users                 # 1,000,000 rows, CSV
    .venv/bin/python -m bench.import_users --rows 100000 --format jsonl

1. Generates the file (part of the benchmark, not timed): unique usernames, e-mails and external
   ids, a mix of argon2id, bcrypt, Django and passlib PBKDF2 hashes (a pool of real hashes of
   each kind, reused: the import stores hashes as given, so their cost never counts).
2. A fresh PostgreSQL database `tessera_bench_import_<time>`, migrated, dropped afterwards.
3. Times the real command, `tessera users import FILE`, in its own process.
4. Times the baseline in the same run: the same file streamed with COPY into a scratch table of
   text columns without an index, the fastest a row can reach PostgreSQL.
5. Times the same import again: every row is already there, nothing may change.
Prints both times, the ratio, rows per second and PASS/FAIL against the 5-minute target.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcrypt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import ROOT, VENV_BIN, postgres_database, postgres_unreachable_reason

TARGET_SECONDS = 300
POOL = 32
SECRET_KEY = "import-bench-secret-key-0123456789abcdef"
HEADER = ["username", "email", "email_verified", "password_hash", "created_at", "external_id"]


def _ab64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().replace("+", ".").rstrip("=")


def hash_pool() -> list[str]:
    """Real hashes of each supported kind (cheap parameters: only their shape matters here)."""
    from argon2 import PasswordHasher

    argon = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    pool = []
    for i in range(POOL):
        password = f"password {i}".encode()
        salt = os.urandom(12)
        pool.append(argon.hash(password.decode()))
        pool.append(bcrypt.hashpw(password, bcrypt.gensalt(4)).decode())
        django_salt = base64.b64encode(salt).decode().rstrip("=").replace("+", "x")
        key = hashlib.pbkdf2_hmac("sha256", password, django_salt.encode(), 1000)
        pool.append(f"pbkdf2_sha256$1000${django_salt}${base64.b64encode(key).decode()}")
        key = hashlib.pbkdf2_hmac("sha256", password, salt, 1000)
        pool.append(f"$pbkdf2-sha256$1000${_ab64(salt)}${_ab64(key)}")
    return pool


def generate(path: Path, rows: int, fmt: str) -> None:
    pool = hash_pool()
    with path.open("w", newline="") as out:
        writer = csv.writer(out) if fmt == "csv" else None
        if writer:
            writer.writerow(HEADER)
        for i in range(rows):
            row = [
                f"user{i:07d}", f"user{i:07d}@example.com", "true" if i % 3 else "false",
                pool[i % len(pool)], f"20{10 + i % 15}-0{1 + i % 9}-1{i % 10}T12:00:00Z",
                f"legacy-{i}",
            ]  # fmt: skip
            if writer:
                writer.writerow(row)
            else:
                out.write(json.dumps(dict(zip(HEADER, row, strict=True))) + "\n")


def run_import(url: str, path: Path, instance: Path) -> tuple[float, str]:
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": url,
        "TESSERA_SECRET_KEY": SECRET_KEY,
        "TESSERA_INSTANCE_PATH": str(instance),
        "TESSERA_ENV": "development",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "tessera"), "users", "import", str(path), "--no-progress"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"import failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout.strip().splitlines()[-1]


def baseline_copy(url: str, path: Path, fmt: str) -> float:
    """The file's bytes COPYed into a scratch table: no parsing in Python, no index."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        columns = ", ".join(f"{c} text" for c in HEADER) if fmt == "csv" else "doc text"
        conn.execute(f"CREATE TABLE scratch_copy ({columns})")
        options = "(FORMAT csv, HEADER true)" if fmt == "csv" else "(FORMAT text)"
        started = time.perf_counter()
        with (
            conn.cursor().copy(f"COPY scratch_copy FROM STDIN {options}") as copy,
            path.open("rb") as source,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE scratch_copy")
        conn.commit()
    return elapsed


def migrate(url: str, instance: Path) -> None:
    import flask_migrate

    from idp import create_app

    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "INSTANCE_PATH": str(instance)}
    )
    with app.app_context():
        flask_migrate.upgrade()
        from idp.extensions import db

        db.engine.dispose()


def bench(rows: int, fmt: str) -> list[str]:
    reason = postgres_unreachable_reason()
    if reason:
        return [f"import benchmark skipped: {reason}"]
    workdir = Path(tempfile.mkdtemp(prefix="tessera-import-bench-"))
    path = workdir / f"users.{fmt if fmt == 'csv' else 'jsonl'}"
    started = time.perf_counter()
    generate(path, rows, fmt)
    size = path.stat().st_size / 1e6
    lines = [
        f"generated {rows:,} rows ({size:.0f} MB, {fmt}) in {time.perf_counter() - started:.0f} s"
    ]
    with postgres_database(f"tessera_bench_import_{int(time.time())}") as url:
        migrate(url, workdir / "instance")
        baseline = baseline_copy(url, path, fmt)
        elapsed, summary = run_import(url, path, workdir / "instance")
        again, summary_again = run_import(url, path, workdir / "instance")
    path.unlink()
    verdict = "PASS" if elapsed < TARGET_SECONDS else "FAIL"
    lines += [
        f"baseline: plain COPY of the file into a scratch table: {baseline:6.1f} s",
        f"tessera users import:                             {elapsed:6.1f} s "
        f"({rows / elapsed:,.0f} rows/s, {elapsed / baseline:.1f}x the baseline)  [{summary}]",
        f"same file again (nothing to do):                  {again:6.1f} s  [{summary_again}]",
        f"{verdict}: {rows:,} users in {elapsed:.0f} s (target: under {TARGET_SECONDS} s)",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    args = parser.parse_args(argv)
    print(f"Import benchmark, {os.cpu_count()} cores, {ROOT.name}", flush=True)
    lines = bench(args.rows, args.format)
    print("\n".join(lines))
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
