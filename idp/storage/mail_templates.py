"""Mails composed from Jinja templates under templates/mail/: `<name>.txt` and `<name>.html`.

The text template's first line is `Subject: ...`, then a blank line, then the plain-text body.
The HTML template is autoescaped (a username is the user's own text); both get the same
context. StrictUndefined: a missing variable fails in the request that queues the mail, in
tests, rather than sending a mail with a hole in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from idp.config import PROJECT_ROOT

MAIL_TEMPLATES = PROJECT_ROOT / "templates" / "mail"


@dataclass(frozen=True)
class ComposedMail:
    subject: str
    text: str
    html: str


class MailComposer:
    def __init__(self, folder: Path = MAIL_TEMPLATES) -> None:
        self._env = Environment(
            loader=FileSystemLoader(str(folder)),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def compose(self, template: str, **context: Any) -> ComposedMail:
        text = self._env.get_template(f"{template}.txt").render(**context)
        first, _, body = text.partition("\n")
        if not first.startswith("Subject: "):
            raise ValueError(f"templates/mail/{template}.txt must start with 'Subject: '")
        html = self._env.get_template(f"{template}.html").render(**context)
        # A header must stay one line, whatever a username holds.
        subject = " ".join(first[len("Subject: ") :].split())[:255]
        return ComposedMail(subject=subject, text=body.lstrip("\n"), html=html)


composer = MailComposer()
