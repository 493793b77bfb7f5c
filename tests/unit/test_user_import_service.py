"""The import's rules without a database: reading, checking, and the one-transaction flow."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from idp.services import user_import as ui
from idp.services.context import Caller
from tests.unit.test_legacy_password_hashes import DJANGO, PASSLIB

ROW = {"username": "alice", "email": "alice@EXAMPLE.com", "email_verified": "yes",
       "password_hash": PASSLIB, "created_at": "2020-01-02T03:04:05", "external_id": " 7 "}  # fmt: skip


class FakeStore:
    def __init__(self, existing=(), conflicts=()) -> None:
        self.staged: list = []
        self.existing, self.conflict_rows = set(existing), list(conflicts)
        self.committed = self.rolled_back = False
        self.audited: list = []

    def stage(self, rows):
        self.staged = list(rows)

    def conflicts(self):
        return self.conflict_rows

    def discard(self, lines):
        self.staged = [r for r in self.staged if r.line not in lines]

    def count_matched(self):
        return sum(1 for r in self.staged if r.username_key in self.existing)

    def insert_unmatched(self, now):
        return sum(1 for r in self.staged if r.username_key not in self.existing)

    def record_audit(self, event, caller, **data):
        self.audited.append(SimpleNamespace(event=event, data=data))

    def commit(self):
        self.committed = True

    def rollback(self):
        self.rolled_back = True


def rows(*raws):
    return list(enumerate(raws, start=1))


def test_a_good_row_is_normalised():
    row = ui.check_row(3, ROW)
    assert (row.username_key, row.email, row.email_key) == (
        "alice", "alice@example.com", "alice@example.com",
    )  # fmt: skip
    assert row.email_verified is True and row.external_id == "7"
    assert row.created_at.isoformat() == "2020-01-02T03:04:05+00:00" and len(row.subject) == 32


def test_a_numeric_external_id_is_kept_as_text():
    assert ui.check_row(1, {**ROW, "external_id": 42}).external_id == "42"


def test_unicode_addresses_go_through_email_validator():
    assert ui.check_row(1, {**ROW, "email": "josé@Exämple.com"}).email == "josé@exämple.com"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"username": 42}, "username must be text"),
        ({"email": ""}, "email is missing"),
        ({"password_hash": "sha1$x$y"}, "unknown password hash format"),
        ({"external_id": "x" * 256}, "external_id is longer than 255"),
        ({"external_id": "a\u0000b"}, "external_id holds control characters"),
        ({"created_at": ""}, "created_at is missing"),
    ],
)
def test_bad_rows_say_why(change, reason):
    with pytest.raises(ui.BadRow, match=reason):
        ui.check_row(1, {**ROW, **change})


def test_csv_header_must_name_the_required_columns():
    source = io.StringIO("username,email\nalice,alice@example.com\n")
    assert list(ui.read_rows(source, "csv")) == [
        (1, "the CSV header lacks email_verified, password_hash, created_at "
            "(it has: username, email)")
    ]  # fmt: skip


def test_detect_format():
    assert ui.detect_format("USERS.CSV", "{") == "csv"
    assert ui.detect_format("dump.ndjson", "u") == "jsonl"
    assert ui.detect_format("dump", ' {"a":1}') == "jsonl"
    assert ui.detect_format("dump", "username,email") == "csv"


def test_dry_run_reports_and_rolls_back():
    store = FakeStore(conflicts=[(2, "email taken")])
    bob = {**ROW, "username": "bob", "email": "bob@example.com", "external_id": None,
           "password_hash": DJANGO}  # fmt: skip
    report = ui.import_users(store, Caller(), rows(ROW, bob, "not a JSON object"), dry_run=True)
    assert [str(e) for e in report.errors] == ["line 2: email taken", "line 3: not a JSON object"]
    assert (report.rows, report.created, report.unchanged) == (3, 1, 0)
    assert store.rolled_back and not store.committed and not report.written


def test_any_bad_row_stops_the_import_unless_skipped():
    refused = FakeStore()
    report = ui.import_users(refused, Caller(), rows(ROW, {**ROW, "username": "x"}))
    assert refused.rolled_back and not refused.committed and report.error_count == 1
    skipped = FakeStore(existing={"alice"})
    report = ui.import_users(
        skipped, Caller(), rows(ROW, {**ROW, "username": "x"}), skip_invalid=True, label="f.csv"
    )
    assert skipped.committed and report.written and (report.created, report.unchanged) == (0, 1)
    assert skipped.audited[0].data == {
        "file": "f.csv", "created": 0, "unchanged": 1, "skipped_invalid": 1,
    }  # fmt: skip


def test_a_failure_while_staging_rolls_back():
    class Broken(FakeStore):
        def stage(self, rows):
            raise RuntimeError("disk full")

    store = Broken()
    with pytest.raises(RuntimeError):
        ui.import_users(store, Caller(), rows(ROW))
    assert store.rolled_back
