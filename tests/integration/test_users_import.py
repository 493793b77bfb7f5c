"""`tessera users import` on both databases: formats, bad rows, dry run, re-runs, and the
imported user's first sign-in upgrading the legacy hash (docs/security.md#31)."""

from __future__ import annotations

import json

import bcrypt
import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.storage.models import AuditEvent, User
from tests.conftest import PASSWORD, AuthActions
from tests.unit.test_legacy_password_hashes import DJANGO, PASSLIB

BCRYPT = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
GOOD = [
    {"username": "alice", "email": "alice@example.com", "email_verified": True,
     "password_hash": PASSLIB, "created_at": "2020-01-02T03:04:05Z", "external_id": "u-1"},
    {"username": "Bob", "email": "Bob@Example.COM", "email_verified": "false",
     "password_hash": DJANGO, "created_at": "2021-05-06 07:08:09"},
    {"username": "carol", "email": "carol@example.com", "email_verified": "1",
     "password_hash": BCRYPT, "created_at": "2022-02-03T04:05:06+02:00", "external_id": "u-3"},
]  # fmt: skip


def write_jsonl(tmp_path, rows, extra_lines=()) -> str:
    path = tmp_path / "users.jsonl"
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(app, *args):
    return app.test_cli_runner().invoke(args=["users", "import", *args])


def users(app) -> dict[str, User]:
    with app.app_context():
        found = {u.username: u for u in db.session.scalars(select(User))}
        for u in found.values():
            db.session.expunge(u)
        return found


def test_import_jsonl_then_the_same_file_again_changes_nothing(app, tmp_path):
    path = write_jsonl(tmp_path, GOOD)
    first = run(app, path)
    assert first.exit_code == 0, first.output
    assert "3 rows: created 3, unchanged (already present) 0, bad 0." in first.output
    imported = users(app)
    assert imported["Bob"].email == "Bob@example.com" and imported["Bob"].username_key == "bob"
    assert imported["alice"].email_verified and not imported["Bob"].email_verified
    assert imported["alice"].password_hash == PASSLIB  # stored as given
    assert imported["alice"].external_id == "u-1" and imported["Bob"].external_id is None
    assert imported["carol"].created_at.isoformat() == "2022-02-03T02:05:06+00:00"
    again = run(app, path)
    assert again.exit_code == 0
    assert "created 0, unchanged (already present) 3, bad 0." in again.output
    assert {k: (u.id, u.subject, u.password_hash) for k, u in users(app).items()} == {
        k: (u.id, u.subject, u.password_hash) for k, u in imported.items()
    }
    with app.app_context():
        (event, _) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "users.imported")
        ).all()
        assert event.data["created"] == 3


def test_rows_match_by_external_id_too(app, tmp_path):
    assert run(app, write_jsonl(tmp_path, GOOD[:1])).exit_code == 0
    renamed = {**GOOD[0], "username": "alice_new", "email": "alice.new@example.com"}
    result = run(app, write_jsonl(tmp_path, [renamed]))
    assert "created 0, unchanged (already present) 1" in result.output
    assert set(users(app)) == {"alice"}


def test_csv_with_a_byte_order_mark(app, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text(
        "\ufeffusername,email,email_verified,password_hash,created_at,external_id\n"
        f"dave,dave@example.com,yes,{BCRYPT},2019-12-31T23:59:59Z,\n",
        encoding="utf-8",
    )
    result = run(app, str(path))
    assert result.exit_code == 0, result.output
    assert users(app)["dave"].email_verified


BROKEN = [
    json.dumps({**GOOD[0], "password_hash": "md5$abc$0123456789abcdef"}),
    json.dumps({**GOOD[1], "username": "x y"}),
    "{not json",
    json.dumps({**GOOD[2], "created_at": "last tuesday"}),
    json.dumps({**GOOD[2], "username": "carol2", "email": "carol@example.com"}),
    json.dumps({**GOOD[2], "username": "erin", "email": "erin@", "external_id": None}),
    json.dumps(["a", "list"]),
    json.dumps({**GOOD[2], "username": "frank", "email": "frank@example.com",
                "external_id": None, "email_verified": "maybe"}),
]  # fmt: skip


def test_dry_run_reports_every_bad_row_with_its_line_and_writes_nothing(app, tmp_path):
    path = write_jsonl(tmp_path, GOOD[:1], BROKEN)
    result = run(app, path, "--dry-run")
    assert result.exit_code == 1
    out = result.output
    assert "line 2: password_hash: unknown password hash format (starts with 'md5$')" in out
    assert "line 3: username 'x y' must be 3 to 32 letters" in out
    assert "line 4: not valid JSON" in out
    assert "line 5: created_at 'last tuesday' is not an ISO 8601 date and time" in out
    assert "line 7: email 'erin@' is not valid" in out
    assert "line 8: not a JSON object" in out
    assert "line 9: email_verified 'maybe' is not true or false" in out
    assert "would create 2, unchanged (already present) 0, bad 7." in out
    assert "Dry run: nothing was written." in out
    assert users(app) == {}


def test_a_bad_row_stops_the_import_unless_told_to_skip_it(app, tmp_path):
    path = write_jsonl(tmp_path, GOOD, BROKEN[:1])
    refused = run(app, path)
    assert refused.exit_code == 1
    assert "Nothing was written" in refused.output and users(app) == {}
    skipped = run(app, path, "--skip-invalid")
    assert skipped.exit_code == 1 and "created 3" in skipped.output
    assert set(users(app)) == {"alice", "Bob", "carol"}
    with app.app_context():
        stored = db.session.scalars(select(User.password_hash)).all()
    assert not [h for h in stored if h.startswith("md5$")]  # never stored


def test_an_email_taken_by_an_existing_account_is_a_bad_row(app, tmp_path, user):
    taken = {**GOOD[0], "email": "TRADER@example.com"}
    result = run(app, write_jsonl(tmp_path, [taken, GOOD[1]]))
    assert result.exit_code == 1
    assert "line 1: email 'trader@example.com' is already used by another account" in (
        result.output.lower()
    )
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1


def test_a_file_that_is_not_utf8_is_one_clear_error(app, tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes(b"username,email,email_verified,password_hash,created_at\n\xff\xfe,x\n")
    result = run(app, str(path))
    assert result.exit_code == 1
    assert "is not UTF-8 text" in result.output and "nothing was written" in result.output


@pytest.mark.parametrize("index", [0, 1, 2])
def test_checklist_33_legacy_password_hashes_sign_in_once_then_argon2id(app, tmp_path, index):
    assert run(app, write_jsonl(tmp_path, GOOD)).exit_code == 0
    username = GOOD[index]["username"]
    client = app.test_client()
    actions = AuthActions(client)
    assert actions.login(login=username, password="not the password").status_code == 401
    assert users(app)[username].password_hash == GOOD[index]["password_hash"]
    assert actions.login(login=username, password=PASSWORD).status_code == 303
    upgraded = users(app)[username].password_hash
    assert upgraded.startswith("$argon2id$")
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "password.rehashed")
        ).all()
    assert event.data["previous"] in {"bcrypt", "django_pbkdf2_sha256", "passlib_pbkdf2_sha256"}
    assert AuthActions(app.test_client()).login(login=username).status_code == 303
    assert users(app)[username].password_hash == upgraded  # upgraded once


def test_disabled_account_message_only_after_the_right_password(app, tmp_path):
    assert run(app, write_jsonl(tmp_path, GOOD[:1])).exit_code == 0
    with app.app_context():
        from idp.domain.clock import utcnow

        db.session.scalar(select(User)).disabled_at = utcnow()
        db.session.commit()
    actions = AuthActions(app.test_client())
    wrong = actions.login(login="alice", password="not the password")
    assert wrong.status_code == 401 and "Incorrect username or password." in wrong.get_data(
        as_text=True
    )
    right = actions.login(login="alice")
    assert right.status_code == 403
    assert "This account is disabled." in right.get_data(as_text=True)
    assert users(app)["alice"].password_hash == PASSLIB  # no upgrade for a disabled account


def test_progress_goes_to_stderr_only_when_asked_or_on_a_terminal(app, tmp_path):
    path = write_jsonl(tmp_path, GOOD)
    quiet = run(app, path, "--dry-run")
    assert "rows read" not in quiet.stderr and "rows read" not in quiet.stdout
    shown = run(app, path, "--dry-run", "--progress")
    assert "100%  3 rows read" in shown.stderr
    assert "rows read" not in shown.stdout


def test_an_account_created_while_the_import_runs_is_one_clear_error(app, tmp_path, monkeypatch):
    from idp.storage import user_import_store

    real = user_import_store.SqlAlchemyImportStore.insert_unmatched

    def racing(self, now):
        # Someone registers with alice's address between the checks and the insert.
        user_import_store.db.session.add(
            User(subject="s" * 32, username="someone", username_key="someone",
                 email="alice@example.com", email_key="alice@example.com",
                 password_hash="x")
        )  # fmt: skip
        user_import_store.db.session.flush()
        return real(self, now)

    monkeypatch.setattr(user_import_store.SqlAlchemyImportStore, "insert_unmatched", racing)
    result = run(app, write_jsonl(tmp_path, GOOD))
    assert result.exit_code == 1
    assert "was created while the import ran: nothing was written" in result.output
    assert users(app) == {}
