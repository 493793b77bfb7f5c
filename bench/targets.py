"""The performance targets of the issue "Performance", checked against a run's rows."""

from __future__ import annotations

from bench.wrk_results import Row

RSS_LIMIT_MIB = 100


def _find(rows: list[Row], database: str, scenario: str) -> Row | None:
    return next((r for r in rows if r.database == database and r.scenario == scenario), None)


def _verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {text}"


def evaluate(rows: list[Row], workers: int, cores: int) -> list[str]:
    """One PASS/FAIL line per target that this run measured."""
    out: list[str] = []
    sqlite_cc = _find(rows, "SQLite", "client_credentials")
    pg_cc = _find(rows, "PostgreSQL", "client_credentials")
    if sqlite_cc:
        per = sqlite_cc.result.rps / workers
        out.append(
            _verdict(
                per >= 1500, f"client_credentials on SQLite >= 1500 req/s per process: {per:.0f}"
            )
        )
    if sqlite_cc and pg_cc:
        ratio = pg_cc.result.rps / sqlite_cc.result.rps if sqlite_cc.result.rps else 0.0
        out.append(
            _verdict(
                ratio >= 0.8, f"client_credentials on PostgreSQL within 20% of SQLite: {ratio:.2f}"
            )
        )
    for cc in (r for r in (sqlite_cc, pg_cc) if r):
        out.append(
            _verdict(
                cc.result.p99_ms < 20,
                f"client_credentials p99 < 20 ms at 32 connections ({cc.database}): {cc.result.p99_ms:.1f} ms",
            )
        )
        out.append(
            _verdict(cc.errors == 0, f"client_credentials zero errors ({cc.database}): {cc.errors}")
        )
        fraction = cc.fraction or 0.0
        out.append(
            _verdict(
                fraction >= 0.5,
                f"client_credentials >= 0.5 of the bare-Flask ceiling ({cc.database}): {fraction:.2f}",
            )
        )
    pg_refresh = _find(rows, "PostgreSQL", "refresh_token")
    if pg_refresh:
        out.append(
            _verdict(
                pg_refresh.result.rps >= 500,
                f"refresh rotation on PostgreSQL >= 500 req/s: {pg_refresh.result.rps:.0f}",
            )
        )
        out.append(
            _verdict(
                pg_refresh.extra_errors == 0,
                f"no lost or doubled rotation on PostgreSQL: {pg_refresh.extra_errors}",
            )
        )
    for login in (r for r in rows if r.scenario == "password_login"):
        per_core = login.result.rps / cores
        out.append(
            _verdict(
                per_core >= 25,
                f"password logins >= 25/s per core with argon2id at the OWASP minimum ({login.database}): {per_core:.1f}",
            )
        )
    tessera_rows = [r for r in rows if r.database != "-" and r.rss_mib]
    if tessera_rows:
        worst = max(max(r.rss_mib) for r in tessera_rows)
        out.append(
            _verdict(
                worst < RSS_LIMIT_MIB,
                f"RSS < {RSS_LIMIT_MIB} MiB per worker (largest seen): {worst:.0f} MiB",
            )
        )
    return out
