"""App logos: an upload is decoded as a real image and re-encoded, never stored as sent.

Re-encoding to a small PNG drops metadata and anything a crafted file could carry beyond pixels;
the pixel limit is checked from the header, before decoding, so a tiny file that claims to be a
huge image (a decompression bomb) is refused cheaply.
"""

from __future__ import annotations

import io
import warnings

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

MAX_BYTES = 256 * 1024
MAX_SIDE = 256
MAX_SOURCE_PIXELS = 4096 * 4096
FORMATS = {"PNG", "JPEG", "WEBP"}


def _refuse(message: str) -> FieldErrors:
    return FieldErrors(message, "logo")


def normalise_logo(data: bytes) -> bytes:
    """A PNG of at most MAX_SIDE x MAX_SIDE from an uploaded PNG, JPEG or WebP, else FieldErrors on "logo"."""
    if not data:
        raise _refuse("The file is empty.")
    if len(data) > MAX_BYTES:
        raise _refuse("The logo must be at most 256 KiB.")
    # Imported here: Pillow costs every worker ~2 MiB and only this rare upload needs it.
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in FORMATS:
                    raise _refuse("Upload a PNG, JPEG or WebP image.")
                if probe.width * probe.height > MAX_SOURCE_PIXELS:
                    raise _refuse("The image is too large; use at most 4096 x 4096 pixels.")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = image.convert("RGBA")
    except FieldErrors:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
        Warning,
    ):
        raise _refuse("This file is not a valid PNG, JPEG or WebP image.") from None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def store(uow: UnitOfWork, caller: Caller, client: Record, user_id: int, png: bytes) -> None:
    """Keep a normalised logo for the app; the use case that uploads it commits."""
    logo = uow.logos.get(client.id)
    if logo is None:
        uow.logos.create(client_pk=client.id, content_type="image/png", data=png)
    else:
        logo.content_type, logo.data, logo.updated_at = "image/png", png, utcnow()
    audit.record(uow, "client.logo_changed", caller, user_id=user_id, client_id=client.client_id)


def has_logo(uow: UnitOfWork, client: Record) -> bool:
    return uow.logos.get(client.id) is not None
