"""Members' names as Slack shows them, for "who said what" in a shared thread."""

from __future__ import annotations

import logging
from collections import OrderedDict

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# Names change rarely and a thread names few people: a small cache per process saves a
# users.info call on most turns, and the bound keeps a big workspace from filling memory.
CACHED_NAMES = 2000


class SpeakerNames:
    """users.info's display name, else the real name; the user id when Slack cannot say.
    Never the email, which users.info also returns."""

    def __init__(self, *, bound: int = CACHED_NAMES) -> None:
        self._bound = bound
        self._names: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def name(self, client: AsyncWebClient, team: str, user: str) -> str:
        cached = self._names.get((team, user))
        if cached is not None:
            self._names.move_to_end((team, user))
            return cached
        try:
            response = await client.users_info(user=user)
        except SlackApiError as error:
            # Not cached: the next turn asks again.
            log.warning("no name for %s: users.info said %s", user, error.response.get("error"))
            return user
        except Exception:
            # Slack unreachable or slow: a name is not worth a lost answer.
            log.warning("no name for %s: users.info did not answer", user, exc_info=True)
            return user
        found = response.get("user") or {}
        profile = found.get("profile") or {}
        name = str(
            profile.get("display_name")
            or profile.get("real_name")
            or found.get("real_name")
            or user
        )
        self._names[(team, user)] = name
        if len(self._names) > self._bound:
            self._names.popitem(last=False)
        return name
