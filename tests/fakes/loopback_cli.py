"""`python -m tests.fakes.loopback_cli ARGS` is `byok-bot ARGS` talking to the loopback fakes.

discord.py has no setting for its API and gateway addresses, and `byok-bot run` binds Slack's
HTTP endpoint on every interface; a test's bot process must reach only 127.0.0.1. The
variables below are the test's, read and removed before the real CLI starts."""

from __future__ import annotations

import os
import sys


def point_at_fakes() -> None:
    from app import http

    http.DEFAULT_HOST = "127.0.0.1"
    discord_api = os.environ.pop("BYOK_TEST_DISCORD_API", None)
    discord_gateway = os.environ.pop("BYOK_TEST_DISCORD_GATEWAY", None)
    if discord_api and discord_gateway:
        import discord
        import yarl

        discord.http.Route.BASE = discord_api
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(discord_gateway)
    if os.environ.pop("BYOK_TEST_SLACK_LOOPBACK", None):
        import adapters.slack

        defaults = adapters.slack.create_slack_adapter.__kwdefaults__
        assert defaults is not None
        defaults["host"] = "127.0.0.1"


if __name__ == "__main__":
    point_at_fakes()
    from app.cli import main

    sys.exit(main(sys.argv[1:]))
