"""`tessera users import FILE`: bring another site's accounts in (docs/accounts-import.md).

Thin over idp.services.user_import; the bulk work is idp.storage.user_import_store's. Progress
goes to stderr, only on a terminal or with --progress; the report goes to stdout.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

from idp.cli import CLI_CALLER
from idp.services import user_import


class Progress:
    """A one-line progress bar by bytes read; plain lines when stderr is not a terminal."""

    def __init__(self, binary: IO[bytes], total: int, stream: IO[str]) -> None:
        self.binary, self.total, self.stream = binary, max(total, 1), stream
        self.tty = stream.isatty()
        self.started = self.last = time.monotonic()
        self.rows = 0

    def track(self, rows: Iterable[Any]) -> Iterator[Any]:
        for row in rows:
            self.rows += 1
            if self.rows % 2000 == 0:
                self._maybe_show()
            yield row
        self.show(done=True)

    def _maybe_show(self) -> None:
        now = time.monotonic()
        if now - self.last >= (0.2 if self.tty else 5.0):
            self.last = now
            self.show()

    def show(self, done: bool = False) -> None:
        fraction = 1.0 if done else min(self.binary.tell() / self.total, 1.0)
        filled = int(fraction * 30)
        text = (
            f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%}  {self.rows:,} rows read  "
            f"{time.monotonic() - self.started:5.0f} s"
        )
        end = "\n" if done or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + text + end)
        self.stream.flush()


def _print_report(report: user_import.ImportReport) -> None:
    for error in report.errors:
        click.echo(str(error))
    if report.error_count > len(report.errors):
        click.echo(f"... and {report.error_count - len(report.errors)} more bad rows")
    verb = "would create" if not report.written else "created"
    click.echo(
        f"{report.rows} rows: {verb} {report.created}, unchanged (already present) "
        f"{report.unchanged}, bad {report.error_count}."
    )
    if report.dry_run:
        click.echo("Dry run: nothing was written.")
    elif not report.written:
        click.echo(
            "Nothing was written: fix the rows above, or pass --skip-invalid to import the others."
        )


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Import the good rows even when some are bad.")
@click.option(
    "--format", "fmt", type=click.Choice(["auto", "jsonl", "csv"]), default="auto",
    show_default=True, help="auto: by the file's extension, else by its first character.",
)  # fmt: skip
@click.option(
    "--progress/--no-progress", default=None, help="Default: shown when stderr is a terminal."
)
@with_appcontext
def import_command(
    file: Path, dry_run: bool, skip_invalid: bool, fmt: str, progress: bool | None
) -> None:
    """Import accounts from FILE (JSON lines or CSV; see docs/accounts-import.md).

    Rows already present (same username or external_id) are left alone, so running the same
    file again changes nothing. Exit status 1 when any row is bad.
    """
    from idp.storage.user_import_store import SqlAlchemyImportStore

    with file.open("rb") as binary:
        text = user_import.open_text(binary)
        first = binary.peek(256)[:256].decode("utf-8", "replace") if hasattr(binary, "peek") else ""
        chosen = user_import.detect_format(file.name, first) if fmt == "auto" else fmt
        rows: Iterable[Any] = user_import.read_rows(text, chosen)
        show = sys.stderr.isatty() if progress is None else progress
        if show:
            rows = Progress(binary, os.fstat(binary.fileno()).st_size, sys.stderr).track(rows)
        try:
            report = user_import.import_users(
                SqlAlchemyImportStore(), CLI_CALLER, rows, dry_run=dry_run,
                skip_invalid=skip_invalid, label=file.name,
            )  # fmt: skip
        except IntegrityError:
            raise click.ClickException(
                "an account with one of the file's usernames, e-mails or external ids was "
                "created while the import ran: nothing was written; run the import again"
            ) from None
        except UnicodeDecodeError as exc:
            raise click.ClickException(
                f"{file.name} is not UTF-8 text (byte {exc.start} of a read block): nothing was written"
            ) from None
    _print_report(report)
    if report.error_count:
        sys.exit(1)
