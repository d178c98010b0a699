"""A fake Discord (gateway websocket + REST) the real discord.py client connects to."""

from tests.fakes.discord.payloads import FakeChannel, FakeGuild, FakeUser
from tests.fakes.discord.server import FakeDiscord, InteractionRecord, RestCall

__all__ = ["FakeChannel", "FakeDiscord", "FakeGuild", "FakeUser", "InteractionRecord", "RestCall"]
