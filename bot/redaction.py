"""Logging that cannot carry a key: filters on every handler hold libraries at INFO and
mask key patterns.

This is the one place the logging floor lives."""

from __future__ import annotations

import logging
import os
import sys
import traceback

from bot.keys import redact_keys

# Loggers of byok-bot's own packages: the only ones LOG_LEVEL=DEBUG opens up.
OWN_LOGGERS = ("bot", "adapters", "storage", "app")
# Request lines can carry query strings (tokens, signed URLs): never written, at any level.
NEVER_LOGGED = ("aiohttp.access",)


class KeyRedactionFilter(logging.Filter):
    """Masks key-shaped strings in the message, its arguments, tracebacks and stack info."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_keys(record.getMessage()), None
        if record.exc_info and record.exc_info[0] is not None:
            rendered = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact_keys(rendered).rstrip("\n")
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_keys(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_keys(record.stack_info)
        return True


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


class LibraryDebugFloor(logging.Filter):
    """Drops every library's records below INFO, whatever that library's logger level is.

    At DEBUG, libraries log whole payloads: Slack Socket Mode envelopes (a /setkey modal with
    the key, DM text, response_urls, verification tokens), bolt's HTTP response bodies, Discord
    gateway events, HTTP requests. A logger level cannot hold them back: slack_bolt copies the
    root level onto its loggers when an app is built, after logging was configured. A filter
    on the handlers sees every record that is written, so no library setting can undo it.
    Third parties are floored by default (any name that is not ours), so a new library or a
    renamed transport (httpx2, httpcore2, ...) is covered without being listed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _within(record.name, NEVER_LOGGED):
            return False
        return record.levelno >= logging.INFO or _within(record.name, OWN_LOGGERS)


def guard_handler(handler: logging.Handler) -> None:
    """Give one handler both filters (once)."""
    # The floor goes first, so a dropped record is never formatted by the redaction filter.
    if not any(isinstance(f, LibraryDebugFloor) for f in handler.filters):
        handler.filters.insert(0, LibraryDebugFloor())
    if not any(isinstance(f, KeyRedactionFilter) for f in handler.filters):
        handler.addFilter(KeyRedactionFilter())


def guard_all_handlers() -> None:
    """Attach the filters to every handler that exists now, on every logger; run it again
    once libraries are set up, in case one added a handler of its own."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            guard_handler(handler)


def configure_logging(level: str) -> None:
    # The openai SDK reads OPENAI_LOG when it is imported and then raises its own logger to
    # that level and installs a root handler of its own; LOG_LEVEL is the only switch.
    os.environ.pop("OPENAI_LOG", None)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    guard_all_handlers()
