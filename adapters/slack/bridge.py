"""What every Slack listener shares: the core, identity, and the App Home."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.files import FileDownloads
from adapters.slack.names import SpeakerNames
from adapters.slack.sink import Pacing, StreamSupport
from adapters.slack.views import home_view
from adapters.tasks import BackgroundTasks
from bot.core import ByokCore
from bot.domain import Attachment, Member
from bot.ports import StoreError

log = logging.getLogger(__name__)

PLATFORM = "slack"


def workspace_of(context: AsyncBoltContext) -> str:
    """Keys belong to the Enterprise Grid org when there is one, else to the team."""
    return context.enterprise_id or context.team_id or ""


def settings_scope(context: AsyncBoltContext) -> str:
    """Admins' settings belong to one workspace (team), also on Enterprise Grid, where keys
    belong to the org: a workspace admin can change only the workspace they administer."""
    return context.team_id or context.enterprise_id or ""


def mention_pattern(bot_user_id: str) -> re.Pattern[str]:
    return re.compile(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>")


def without_mention(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = mention_pattern(bot_user_id).sub("", text)
    return text.strip()


def unescape(text: str) -> str:
    """Slack sends `&`, `<`, `>` escaped; the model should read them plainly."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass
class Bridge:
    core: ByokCore
    tasks: BackgroundTasks
    pacing: Pacing = field(default_factory=Pacing)
    streams: StreamSupport = field(default_factory=StreamSupport)
    # How long a /setkey submission may wait for the provider before the modal says "checking".
    ack_budget: float = 2.5
    history_limit: int = 50
    names: SpeakerNames = field(default_factory=SpeakerNames)
    # Downloads of files shared with a question; None reads no files.
    files: FileDownloads | None = None

    def attachments(
        self, files: list[dict[str, Any]] | None, client: AsyncWebClient | None
    ) -> tuple[Attachment, ...]:
        """The files as the core sees them, downloaded with the token `client` holds: bolt
        gives each request's client the token of that workspace's bot."""
        token = client.token if client is not None else None
        if self.files is None or not files or not token:
            return ()
        found = (self.files.attachment(file, token=token) for file in files)
        return tuple(attachment for attachment in found if attachment is not None)

    def member(self, context: AsyncBoltContext, user: str) -> Member:
        return Member(PLATFORM, workspace_of(context), user)

    async def publish_home(self, client: AsyncWebClient, member: Member) -> None:
        try:
            info = await self.core.commands.key_info(member)
        except StoreError:
            log.warning("App Home not published for %s: the database failed", member)
            return
        try:
            await client.views_publish(user_id=member.user, view=home_view(info))
        except SlackApiError as error:
            log.warning("App Home not published for %s: %s", member, error.response.get("error"))
