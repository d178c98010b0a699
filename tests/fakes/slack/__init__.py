"""A fake Slack: Web API, response_url endpoint and Socket Mode websocket, on 127.0.0.1."""

from tests.fakes.slack.server import ApiCall, FakeSlack

__all__ = ["ApiCall", "FakeSlack"]
