"""Files under instance/ (secrets, the SQLite database, outbox mails) readable by their owner only."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

# What Tessera writes under instance/ (secrets, the SQLite database, demo credentials) is for
# its own user only, set at creation whatever the umask: a 0644 file is readable by every local
# account until someone notices (ASVS 13.3.1).
PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600


def private_folder(path: Path) -> Path:
    """The folder, created or tightened to 0700."""
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_FOLDER:
        path.chmod(PRIVATE_FOLDER)
    return path


def private_file(path: Path) -> Path:
    """The file, created empty or tightened to 0600, before anything secret goes in."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_FILE:
        path.chmod(PRIVATE_FILE)
    return path


def write_private(path: Path, text: str, *, append: bool = False) -> Path:
    """Write `text` to a 0600 file in a 0700 folder; the content is never briefly world-readable."""
    private_folder(path.parent)
    private_file(path)
    with path.open("a" if append else "w") as fh:
        fh.write(text)
    return path


def persistent_secret(instance: Path, filename: str) -> str:
    """A random secret kept in the instance folder, so development restarts keep sessions."""
    path = instance / filename
    if path.exists():
        private_file(path)  # one written by an older version may be 0644
        return path.read_text().strip()
    private_folder(instance)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
