"""Files attached to a question: which the model gets (images as data URLs, text files
inlined with their names), which are left out and why. Every platform's files pass here.

The adapter says what a file claims to be and knows how to download it with its own token;
the core decides what to fetch, never trusts the claimed type (images are recognised by
their first bytes) and never takes more bytes than the limit allows."""

from __future__ import annotations

import base64
import logging
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from bot import texts
from bot.domain import Attachment, AttachmentRefused, AttachmentTooLarge
from bot.keys import redact_keys

log = logging.getLogger(__name__)

# What the first bytes of each image type the providers read look like.
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIFS = (b"GIF87a", b"GIF89a")

_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
_TEXT_SUFFIXES = frozenset(
    {
        ".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml",
        ".toml", ".ini", ".cfg", ".conf", ".log", ".xml", ".html", ".css", ".sql", ".sh",
        ".py", ".js", ".ts", ".tsx", ".jsx", ".java", ".kt", ".c", ".h", ".cc", ".cpp", ".hpp",
        ".cs", ".go", ".rs", ".rb", ".php", ".swift", ".scala", ".lua", ".r", ".pl", ".diff",
        ".patch", ".tex", ".dockerfile", ".env.example",
    }
)  # fmt: skip
_TEXT_MIMES = frozenset(
    {
        "application/json", "application/x-ndjson", "application/xml", "application/yaml",
        "application/x-yaml", "application/toml", "application/javascript",
        "application/x-sh", "application/sql",
    }
)  # fmt: skip
# Roughly what a provider counts for one image at low detail plus some of high detail.
IMAGE_TOKEN_ESTIMATE = 800


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    max_image_bytes: int = 5 * 1024 * 1024
    max_images: int = 4
    max_file_bytes: int = 200_000


@dataclass(frozen=True, slots=True)
class TextFile:
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class ReadAttachments:
    """What the model gets, and one note per file left out (for the member, privately)."""

    # data: URLs, in the order attached.
    images: tuple[str, ...] = ()
    files: tuple[TextFile, ...] = ()
    left_out: tuple[str, ...] = ()


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes really are (PNG, JPEG, GIF, WebP), or None."""
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data.startswith(_GIFS):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _suffix(name: str) -> str:
    return posixpath.splitext(name.lower())[1]


def _looks_like_image(attachment: Attachment) -> bool:
    return attachment.mime.lower().startswith("image/") or _suffix(attachment.name) in (
        _IMAGE_SUFFIXES
    )


def _looks_like_text(attachment: Attachment) -> bool:
    mime = attachment.mime.lower().split(";")[0].strip()
    return (
        mime.startswith("text/")
        or mime in _TEXT_MIMES
        or _suffix(attachment.name) in _TEXT_SUFFIXES
    )


def shown_name(attachment: Attachment) -> str:
    """The file's name as the member and the model read it: one line, short, keys masked."""
    name = " ".join(redact_keys(attachment.name).split())[:80]
    return name or "file"


def decode_text(data: bytes) -> str | None:
    """The text of a file that really is text (strict UTF-8, no NUL bytes), else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    return text.removeprefix("\ufeff")


async def _fetch(attachment: Attachment, limit: int) -> bytes | str:
    """The file's bytes, or a note saying why it could not be had."""
    name = shown_name(attachment)
    if attachment.size is not None and attachment.size > limit:
        return texts.attachment_too_large(name, limit)
    try:
        data = await attachment.fetch(limit)
    except AttachmentTooLarge:
        return texts.attachment_too_large(name, limit)
    except AttachmentRefused:
        return texts.attachment_unreadable(name)
    except Exception:
        log.warning("downloading an attachment failed", exc_info=True)
        return texts.attachment_unreadable(name)
    if len(data) > limit:
        # The adapter promised to stop at the limit; hold it to that anyway.
        return texts.attachment_too_large(name, limit)
    return data


async def read_attachments(
    attachments: Sequence[Attachment], limits: AttachmentLimits
) -> ReadAttachments:
    """Fetch and check each attachment, in order; nothing here raises for a bad file."""
    images: list[str] = []
    files: list[TextFile] = []
    left_out: list[str] = []
    extra_images = 0
    for attachment in attachments:
        name = shown_name(attachment)
        if _looks_like_image(attachment):
            if len(images) >= limits.max_images:
                extra_images += 1
                continue
            data = await _fetch(attachment, limits.max_image_bytes)
            if isinstance(data, str):
                left_out.append(data)
                continue
            kind = sniff_image(data)
            if kind is None:
                # Declared an image, but its bytes are none of the types providers read.
                left_out.append(texts.attachment_not_an_image(name))
                continue
            images.append(f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}")
        elif _looks_like_text(attachment):
            data = await _fetch(attachment, limits.max_file_bytes)
            if isinstance(data, str):
                left_out.append(data)
                continue
            text = decode_text(data)
            if text is None:
                left_out.append(texts.attachment_not_text(name))
                continue
            files.append(TextFile(name, text))
        else:
            left_out.append(texts.attachment_unsupported(name))
    if extra_images:
        left_out.append(texts.too_many_images(extra_images, limits.max_images))
    return ReadAttachments(tuple(images), tuple(files), tuple(left_out))


def with_files(
    question: str, files: Sequence[TextFile], *, max_chars: int
) -> tuple[str, tuple[str, ...]]:
    """The question followed by each file, named, within `max_chars` characters in all (the
    question is kept whole; files are cut at their end), and the names of the files cut.
    Keys in the files are masked, as in every text a provider reads."""
    parts = [question]
    room = max(0, max_chars - len(question))
    cut: list[str] = []
    for file in files:
        header = f"\n\nFile `{file.name}`:\n```\n"
        footer = "\n```"
        body = redact_keys(file.text)
        space = room - len(header) - len(footer) - len(texts.FILE_CUT_MARK)
        if space <= 0:
            cut.append(file.name)
            continue
        if len(body) > space:
            body = body[:space] + texts.FILE_CUT_MARK
            cut.append(file.name)
        parts.append(header + body + footer)
        room -= len(header) + len(body) + len(footer)
    return "".join(parts), tuple(cut)
