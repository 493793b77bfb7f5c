"""Importing the accounts of another site: `tessera users import FILE` (docs/accounts-import.md).

Rows come from JSON lines or CSV: username, email, email_verified, password_hash, created_at and
an optional external_id. Each row is checked on its own (a bad one is reported with its line
number and a reason) and against the others in the file; then the store stages the good rows
and compares them with the accounts already there, in bulk.

A row matches an existing account by username (case-insensitive) or by external id; a matched
row is left alone, so running the same file twice changes nothing. Hashes are stored as given
(only recognised formats, docs/security.md#31) and replaced by argon2id at the first sign-in.
By default one bad row stops the whole import before anything is written; `skip_invalid`
imports the good rows and reports the others.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, NamedTuple, Protocol

from email_validator import EmailNotValidError, validate_email

from idp.domain.password_hashes import UnknownHashFormat, identify
from idp.services.accounts import USERNAME_RE
from idp.services.context import Caller

FIELDS = ("username", "email", "email_verified", "password_hash", "created_at", "external_id")
REQUIRED = FIELDS[:5]
TRUE, FALSE = {"true", "1", "yes", "t", "y"}, {"false", "0", "no", "f", "n", ""}
MAX_LINE = 8192
MAX_EXTERNAL_ID = 255
MAX_REPORTED = 1000  # errors listed in full; the count is always exact
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Plain ASCII addresses, the vast majority, skip email_validator (a tenth of the import's time).
_ASCII_EMAIL = re.compile(
    rf"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}"
)


class ImportRow(NamedTuple):
    """One account to import, as staged; a tuple, so a million of them stay cheap."""

    line: int
    subject: str
    username: str
    username_key: str
    email: str
    email_key: str
    email_verified: bool
    password_hash: str
    created_at: datetime
    external_id: str | None


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    dry_run: bool = False
    written: bool = False

    def add_error(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(RowError(line, message))


class ImportStore(Protocol):
    """Bulk staging and matching (idp.storage.user_import_store: COPY on PostgreSQL,
    executemany on SQLite). Everything it does is one transaction: commit or rollback."""

    def stage(self, rows: Iterable[ImportRow]) -> None: ...
    def conflicts(self) -> list[tuple[int, str]]: ...
    def discard(self, lines: set[int]) -> None: ...
    def count_matched(self) -> int: ...
    def insert_unmatched(self, now: datetime) -> int: ...
    def record_audit(self, event: str, caller: Caller, **data: Any) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class BadRow(ValueError):
    pass


# --- reading --------------------------------------------------------------------------------


def detect_format(name: str, first_line: str) -> str:
    """`jsonl` or `csv`: by the file's extension, else by its first character."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    return "jsonl" if first_line.lstrip().startswith("{") else "csv"


def read_rows(stream: IO[str], fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, raw fields) for each data row, or (line number, why it is unreadable)."""
    if fmt == "jsonl":
        yield from _jsonl_rows(stream)
    else:
        yield from _csv_rows(stream)


def _jsonl_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            yield number, f"the line is longer than {MAX_LINE} characters"
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield number, f"not valid JSON ({exc.msg})"
            continue
        yield number, value if isinstance(value, dict) else "not a JSON object"


def _csv_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.reader(stream)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, f"unreadable CSV header ({exc})"
        return
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        yield 1, f"the CSV header lacks {', '.join(missing)} (it has: {', '.join(header)})"
        return
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"unreadable CSV ({exc})"
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield reader.line_num, f"{len(values)} fields where the header has {len(header)}"
            continue
        yield reader.line_num, dict(zip(header, values, strict=True))


# --- checking -------------------------------------------------------------------------------


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"{name} must be text")
    return value.strip()


def _email(value: str) -> str:
    if not value:
        raise BadRow("email is missing")
    if len(value) <= 254 and _ASCII_EMAIL.fullmatch(value) and len(value.partition("@")[0]) <= 64:
        local, _, domain = value.partition("@")
        return f"{local}@{domain.lower()}"  # what validate_email would make of it, sooner
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadRow(f"email {value[:80]!r} is not valid: {exc}") from None


def _flag(raw: dict[str, Any]) -> bool:
    value = raw.get("email_verified")
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise BadRow(f"email_verified {text[:20]!r} is not true or false")


def _moment(value: str) -> datetime:
    if not value:
        raise BadRow("created_at is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRow(f"created_at {value[:40]!r} is not an ISO 8601 date and time") from None
    # A time without a zone is taken as UTC: old sites usually stored UTC without saying so.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_row(line: int, raw: dict[str, Any]) -> ImportRow:
    """The row as it will be stored, or BadRow with the first reason it cannot be."""
    username = _text(raw, "username")
    if not USERNAME_RE.match(username):
        raise BadRow(f"username {username[:40]!r} must be 3 to 32 letters, digits, . - or _")
    email = _email(_text(raw, "email"))
    stored = _text(raw, "password_hash")
    try:
        identify(stored)
    except UnknownHashFormat as exc:
        raise BadRow(f"password_hash: {exc}; the row is not imported") from None
    external = raw.get("external_id")
    if isinstance(external, int) and not isinstance(external, bool):
        external = str(external)  # numeric ids are common in JSON dumps
    external_id = _text({"external_id": external}, "external_id") or None
    if external_id is not None and len(external_id) > MAX_EXTERNAL_ID:
        raise BadRow(f"external_id is longer than {MAX_EXTERNAL_ID} characters")
    if external_id is not None and not external_id.isprintable():
        raise BadRow("external_id holds control characters")
    return ImportRow(
        line, secrets.token_hex(16), username, username.lower(), email, email.lower(),
        _flag(raw), stored, _moment(_text(raw, "created_at")), external_id,
    )  # fmt: skip


class _Seen:
    """Duplicates within the file, by username, e-mail and external id."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, int]] = {"username": {}, "email": {}, "external_id": {}}

    def check(self, row: ImportRow) -> None:
        for kind, key in (
            ("username", row.username_key),
            ("email", row.email_key),
            ("external_id", row.external_id),
        ):
            if key is None:
                continue
            first = self.keys[kind].setdefault(key, row.line)
            if first != row.line:
                raise BadRow(f"{kind} {key[:60]!r} already appears on line {first}")


def checked_rows(
    source: Iterable[tuple[int, dict[str, Any] | str]], report: ImportReport
) -> Iterator[ImportRow]:
    """The good rows; every bad one goes into the report."""
    seen = _Seen()
    for line, raw in source:
        report.rows += 1
        if isinstance(raw, str):
            report.add_error(line, raw)
            continue
        try:
            row = check_row(line, raw)
            seen.check(row)
        except BadRow as exc:
            report.add_error(line, str(exc))
            continue
        yield row


# --- the use case ---------------------------------------------------------------------------


def import_users(
    store: ImportStore,
    caller: Caller,
    source: Iterable[tuple[int, dict[str, Any] | str]],
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    label: str = "",
) -> ImportReport:
    """Check, stage, match and (unless told not to) insert; one transaction."""
    report = ImportReport(dry_run=dry_run)
    try:
        store.stage(checked_rows(source, report))
        conflicts = store.conflicts()
        for line, message in conflicts:
            report.add_error(line, message)
        report.errors.sort(key=lambda e: e.line)
        if conflicts:
            store.discard({line for line, _ in conflicts})
        report.unchanged = store.count_matched()
        if dry_run or (report.error_count and not skip_invalid):
            report.created = report.rows - report.error_count - report.unchanged
            store.rollback()
            return report
        report.created = store.insert_unmatched(now())
        store.record_audit(
            "users.imported", caller, file=label[:200], created=report.created,
            unchanged=report.unchanged, skipped_invalid=report.error_count,
        )  # fmt: skip
        store.commit()
        report.written = True
        return report
    except BaseException:
        store.rollback()
        raise


def open_text(binary: IO[bytes]) -> IO[str]:
    """The file as UTF-8 text (a byte-order mark is dropped); CSV wants newline=''."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")
