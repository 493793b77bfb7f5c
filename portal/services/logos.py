"""App logos: an upload is decoded as a real image and re-encoded, never stored as sent.

Re-encoding to a small PNG drops metadata and anything a crafted file could carry beyond pixels;
the pixel limit is checked from the header, before decoding, so a tiny file that claims to be a
huge image (a decompression bomb) is refused cheaply.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.services import audit
from idp.services.context import Caller
from idp.storage.models import Client, ClientLogo

MAX_BYTES = 256 * 1024
MAX_SIDE = 256
MAX_SOURCE_PIXELS = 4096 * 4096
FORMATS = {"PNG", "JPEG", "WEBP"}


class LogoError(ValueError):
    """Why the upload was refused, phrased for the developer."""


def normalise_logo(data: bytes) -> bytes:
    """A PNG of at most MAX_SIDE x MAX_SIDE from an uploaded PNG, JPEG or WebP, else LogoError."""
    if not data:
        raise LogoError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise LogoError("The logo must be at most 256 KiB.")
    # Imported here: Pillow costs every worker ~2 MiB and only this rare upload needs it.
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in FORMATS:
                    raise LogoError("Upload a PNG, JPEG or WebP image.")
                if probe.width * probe.height > MAX_SOURCE_PIXELS:
                    raise LogoError("The image is too large; use at most 4096 x 4096 pixels.")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = image.convert("RGBA")
    except LogoError:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
        Warning,
    ):
        raise LogoError("This file is not a valid PNG, JPEG or WebP image.") from None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def set_logo(uow: Any, caller: Caller, client: Client, user_id: int, data: bytes) -> None:
    png = normalise_logo(data)
    logo = db.session.get(ClientLogo, client.id)
    if logo is None:
        logo = ClientLogo(client_pk=client.id, content_type="image/png", data=png)
        db.session.add(logo)
    else:
        logo.content_type, logo.data, logo.updated_at = "image/png", png, utcnow()
    audit.record(uow, "client.logo_changed", caller, user_id=user_id, client_id=client.client_id)
    uow.commit()


def has_logo(client: Client) -> bool:
    return db.session.get(ClientLogo, client.id) is not None
