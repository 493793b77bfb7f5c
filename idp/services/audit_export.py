"""The audit log as CSV, safe to open in a spreadsheet.

Audit details carry text an attacker chose (usernames, app names, reasons, user agents). A
cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (CSV injection, OWASP); such a cell is written with a
leading apostrophe, which the spreadsheet shows as text and does not evaluate.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from idp.services.audit_queries import USER_KEYS
from idp.services.ports import Record

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("time_utc", "event", "user", "user_id", "app", "ip", "user_agent", "details")
MAX_ROWS = 50_000


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _details(data: Mapping[str, Any], names: Mapping[int, str]) -> str:
    shown = {}
    for key, value in (data or {}).items():
        if key in USER_KEYS and isinstance(value, int) and value in names:
            shown[key] = f"{names[value]} (#{value})"
        else:
            shown[key] = value
    return json.dumps(shown, ensure_ascii=False, sort_keys=True, default=str)


def to_csv(events: Iterable[Record], names: Mapping[int, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in events:
        row = (
            e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            e.event,
            names.get(e.user_id, "") if e.user_id else "",
            e.user_id or "",
            e.client_id or "",
            e.ip,
            e.user_agent,
            _details(e.data, names),
        )
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()
