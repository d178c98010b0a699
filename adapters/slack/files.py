"""Slack files as the core's Attachment: `url_private` downloaded with the bot token (scope
`files:read`) only when the core asks, streamed and stopped at the core's limit."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.domain import Attachment, AttachmentRefused, AttachmentTooLarge

log = logging.getLogger(__name__)


def is_slack_file_host(host: str) -> bool:
    """Where Slack serves files (files.slack.com, files-origin.slack.com...); the bot token
    goes nowhere else."""
    host = host.lower().rstrip(".")
    return host.endswith(".slack.com") and host.split(".")[0].startswith("files")


_CHUNK = 64 * 1024
_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)


class FileDownloads:
    """Downloads of Slack files with the token of the workspace's bot (SLACK_BOT_TOKEN, or in
    OAuth mode its installation's), to Slack's file hosts only (or, in tests, to the host of
    the configured Web API URL)."""

    def __init__(
        self, *, api_url: str | None = None
    ) -> None:  # A Web API URL of its own (a test's fake Slack) serves the files too.
        self._api_host = urlsplit(api_url).hostname if api_url is not None else None

    def attachment(self, file: dict[str, Any], *, token: str) -> Attachment | None:
        """The file as the core sees it; None for one Slack has no download for (an external
        file, a Google Doc, a file being scanned)."""
        url = file.get("url_private_download") or file.get("url_private")
        if not isinstance(url, str) or not url:
            return None
        name = str(file.get("name") or file.get("title") or "file")
        size = file.get("size")

        async def fetch(limit: int) -> bytes:
            return await self._download(url, limit, token)

        return Attachment(
            name, str(file.get("mimetype") or ""), size if isinstance(size, int) else None, fetch
        )

    async def _download(self, url: str, limit: int, token: str) -> bytes:
        host = urlsplit(url).hostname or ""
        if not (is_slack_file_host(host) or (host and host == self._api_host)):
            log.warning("a file URL outside Slack's file host was not downloaded")
            raise AttachmentRefused
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=_TIMEOUT) as session,
                session.get(url, headers=headers, allow_redirects=False) as response,
            ):
                if response.status != 200:
                    log.warning("Slack refused a file download: HTTP %s", response.status)
                    raise AttachmentRefused
                if response.content_type == "text/html":
                    # Slack answers a token it does not accept with its sign-in page.
                    log.warning("Slack answered a file download with a web page")
                    raise AttachmentRefused
                if (response.content_length or 0) > limit:
                    raise AttachmentTooLarge
                data = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    data += chunk
                    if len(data) > limit:
                        raise AttachmentTooLarge
                return bytes(data)
        except aiohttp.ClientError as error:
            log.warning("a Slack file download failed: %s", type(error).__name__)
            raise AttachmentRefused from None
