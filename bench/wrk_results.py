"""wrk results: parse the line bench/lua/common.lua prints, and render the results table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

MARKER = "BENCH_RESULT "


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    ok: int
    bad_status: int
    bad_body: int
    exhausted: int
    socket_errors: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Completed requests per second, successes and failures alike (what wrk reports)."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        """Every response that was not the expected one, plus socket errors and timeouts."""
        return self.bad_status + self.bad_body + self.socket_errors


def parse_wrk_output(text: str) -> WrkResult:
    """The result of one wrk run from its stdout; ValueError when the marker line is missing."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise ValueError(f"no {MARKER.strip()} line in wrk output:\n{text[-2000:]}")
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        ok=int(data["ok"]),
        bad_status=int(data["bad_status"]),
        bad_body=int(data["bad_body"]),
        exhausted=int(data["exhausted"]),
        socket_errors=sum(
            int(data[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        statuses={str(k): int(v) for k, v in data.get("statuses", {}).items()},
    )


@dataclass
class Row:
    """One line of the results table."""

    database: str
    scenario: str
    result: WrkResult
    rss_mib: list[float]
    ceiling_rps: float | None
    extra_errors: int = 0  # found after the run (lost or doubled rotations)
    note: str = ""

    @property
    def errors(self) -> int:
        return self.result.errors + self.extra_errors

    @property
    def fraction(self) -> float | None:
        return self.result.rps / self.ceiling_rps if self.ceiling_rps else None


COLUMNS = (
    "database",
    "scenario",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "RSS/worker MiB",
    "of bare",
)


def cells(row: Row) -> list[str]:
    fraction = row.fraction
    rss = "/".join(f"{m:.0f}" for m in row.rss_mib) if row.rss_mib else "-"
    return [
        row.database,
        row.scenario,
        f"{row.result.rps:.0f}",
        f"{row.result.p50_ms:.1f}",
        f"{row.result.p99_ms:.1f}",
        str(row.errors),
        rss,
        "-" if fraction is None else f"{fraction:.2f}",
    ]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    table = [list(COLUMNS)] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    out = []
    for n, line in enumerate(table):
        out.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
