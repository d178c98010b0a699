"""Files members attach in tests: real image bytes of each type, and in-memory attachments
whose download behaves like a platform's (a cap, a refusal)."""

from __future__ import annotations

import base64

from bot.domain import Attachment, AttachmentRefused, AttachmentTooLarge

# A 1x1 PNG, a 1x1 JPEG, a 1x1 GIF and a 1x1 WebP, as image tools write them.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////"
    "////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQAB"
    "PxA="
)
GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
WEBP = base64.b64decode("UklGRiQAAABXRUJQVlA4IBgAAAAwAQCdASoBAAEAAwA0JaQAA3AA/vuUAAA=")


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def in_memory(
    name: str, mime: str, data: bytes, *, refused: bool = False, declared_size: bool = True
) -> Attachment:
    """An attachment whose download returns `data`, at most the limit asked (as the adapters
    do), or is refused like a 403 from the platform."""

    async def fetch(limit: int) -> bytes:
        if refused:
            raise AttachmentRefused
        if len(data) > limit:
            raise AttachmentTooLarge
        return data

    return Attachment(name, mime, len(data) if declared_size else None, fetch)
