"""The benchmark harness's own pieces: wrk result parsing, the table, the target verdicts."""

from __future__ import annotations

import pytest

from bench.targets import evaluate
from bench.wrk_results import Row, WrkResult, markdown_table, parse_wrk_output, text_table

WRK_STDOUT = """Running 10s test @ http://127.0.0.1:41234
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    18.61ms    4.12ms  80.03ms   90.00%
  16630 requests in 10.00s, 9.18MB read
Requests/sec:   1663.00
BENCH_RESULT {"requests":16630,"duration_us":10000000,"p50_us":18600,"p90_us":24000,"p99_us":32200,"max_us":80030,"ok":16620,"bad_status":7,"bad_body":3,"exhausted":0,"connect_errors":1,"read_errors":0,"write_errors":0,"timeouts":2,"statuses":{"200":16623,"500":4,"429":3}}
"""


def result(rps: float = 1000, p99_ms: float = 10, **counts: int) -> WrkResult:
    fields = {"ok": int(rps * 10), "bad_status": 0, "bad_body": 0, "exhausted": 0}
    fields.update(counts)
    return WrkResult(
        requests=int(rps * 10),
        duration_s=10,
        p50_ms=p99_ms / 2,
        p90_ms=p99_ms,
        p99_ms=p99_ms,
        max_ms=p99_ms,
        socket_errors=0,
        **fields,
    )


def test_parse_reads_the_lua_result_line():
    parsed = parse_wrk_output(WRK_STDOUT)
    assert parsed.requests == 16630
    assert parsed.rps == pytest.approx(1663.0)
    assert (parsed.p50_ms, parsed.p99_ms, parsed.max_ms) == (18.6, 32.2, 80.03)
    assert parsed.statuses == {"200": 16623, "500": 4, "429": 3}


def test_parse_counts_wrong_status_wrong_body_and_socket_errors_as_errors():
    parsed = parse_wrk_output(WRK_STDOUT)
    assert parsed.socket_errors == 3
    assert parsed.errors == 7 + 3 + 3


def test_parse_without_result_line_names_the_problem():
    with pytest.raises(ValueError, match="no BENCH_RESULT line"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_row_reports_fraction_of_ceiling_and_post_run_errors():
    row = Row("SQLite", "refresh_token", result(rps=500), [80.0, 82.5], 4000.0, extra_errors=2)
    assert row.fraction == pytest.approx(0.125)
    assert row.errors == 2
    md = markdown_table([row])
    assert md.splitlines()[0].startswith("| database | scenario | req/s")
    assert "| SQLite | refresh_token | 500 | 5.0 | 10.0 | 2 | 80/82 | 0.12 |" in md
    assert "refresh_token" in text_table([row])


def test_targets_give_a_verdict_per_measured_target():
    rows = [
        Row("-", "bare Flask (ceiling)", result(rps=4000), [30.0], None),
        Row("SQLite", "client_credentials", result(rps=3200, p99_ms=15), [85.0, 86.0], 4000.0),
        Row("PostgreSQL", "client_credentials", result(rps=2000, p99_ms=25), [95.0], 4000.0),
        Row("PostgreSQL", "refresh_token", result(rps=600), [120.0], 4000.0, extra_errors=1),
    ]
    verdicts = evaluate(rows, workers=2, cores=2)
    assert "PASS  client_credentials on SQLite >= 1500 req/s per process: 1600" in verdicts
    assert any(v.startswith("FAIL  client_credentials on PostgreSQL within 20%") for v in verdicts)
    assert any(
        v.startswith("FAIL  client_credentials p99 < 20 ms") and "PostgreSQL" in v for v in verdicts
    )
    assert "FAIL  no lost or doubled rotation on PostgreSQL: 1" in verdicts
    assert "FAIL  RSS < 100 MiB per worker (largest seen): 120 MiB" in verdicts
