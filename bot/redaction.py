"""Logging that cannot carry a key: filters on every handler hold libraries at INFO and
mask key patterns.

This is the one place the logging floor lives."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from datetime import UTC, datetime

from bot.keys import redact_keys

# Loggers of byok-bot's own packages: the only ones LOG_LEVEL=DEBUG opens up.
OWN_LOGGERS = ("bot", "adapters", "storage", "app")
# Request lines can carry query strings (tokens, signed URLs): never written, at any level.
NEVER_LOGGED = ("aiohttp.access",)
# HTTP clients that write one INFO line per request: quiet unless LOG_HTTP_REQUESTS is set.
PER_REQUEST_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has; anything else on a record came through `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
# Slack's bot, user, refresh and app-level tokens (xoxb-, xoxp-, xoxe-..., xapp-): the
# operator's and, in OAuth mode, every installed workspace's. Only logs can meet them
# (members never hold them), so the log filter masks them and the leak guard does not look.
_SLACK_TOKEN = re.compile(r"\b(?:xox[a-z](?:\.[a-z]+)?|xapp)-[A-Za-z0-9-]{6,}")
# Below this, libraries' records are dropped (see LibraryDebugFloor); the console raises it.
_library_floor = logging.INFO
# Below this, the HTTP clients' records are dropped; LOG_HTTP_REQUESTS lowers it to INFO.
_per_request_floor = logging.WARNING


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _RECORD_ATTRIBUTES and not name.startswith("_")
    }


def _redact(text: str) -> str:
    return _SLACK_TOKEN.sub(
        lambda found: found.group().split("-", 1)[0] + "-...", redact_keys(text)
    )


class KeyRedactionFilter(logging.Filter):
    """Masks key-shaped strings and Slack tokens in the message, its arguments, tracebacks,
    stack info and fields passed with `extra=`; it runs before any formatter, so every format
    is masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _redact(record.getMessage()), None
        for name, value in _extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, name, _redact(value))
            elif not isinstance(value, bool | int | float) and value is not None:
                # Whatever a formatter would print of it, masked now.
                setattr(record, name, _redact(str(value)))
        if record.exc_info and record.exc_info[0] is not None:
            rendered = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = _redact(rendered).rstrip("\n")
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = _redact(record.exc_text)
        if record.stack_info:
            record.stack_info = _redact(record.stack_info)
        return True


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the fields
    given with `extra=` (platform, outcome, duration_ms...), and the traceback under "exc".
    Masking is the KeyRedactionFilter's, which has run before this is called."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, object] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in _extra_fields(record).items():
            entry.setdefault(name, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class LibraryDebugFloor(logging.Filter):
    """Drops every library's records below INFO, whatever that library's logger level is.

    At DEBUG, libraries log whole payloads: Slack Socket Mode envelopes (a /setkey modal with
    the key, DM text, response_urls, verification tokens), bolt's HTTP response bodies, Discord
    gateway events, HTTP requests. A logger level cannot hold them back: slack_bolt copies the
    root level onto its loggers when an app is built, after logging was configured. A filter
    on the handlers sees every record that is written, so no library setting can undo it.
    Third parties are floored by default (any name that is not ours), so a new library or a
    renamed transport (httpx2, httpcore2, ...) is covered without being listed.

    In the console the floor is WARNING: there the terminal is the conversation, and each
    question would otherwise print the HTTP client's `HTTP Request:` line in the middle."""

    def __init__(self, floor: int | None = None, per_request_floor: int | None = None) -> None:
        super().__init__()
        self.floor = _library_floor if floor is None else floor
        self.per_request_floor = (
            _per_request_floor if per_request_floor is None else per_request_floor
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if _within(record.name, NEVER_LOGGED):
            return False
        if _within(record.name, PER_REQUEST_LOGGERS):
            return record.levelno >= max(self.floor, self.per_request_floor)
        return record.levelno >= self.floor or _within(record.name, OWN_LOGGERS)


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


def configure_logging(
    level: str, *, json_lines: bool = False, console: bool = False, http_requests: bool = False
) -> None:
    """Logs to stderr, as text or (`json_lines`) one JSON object per line; `console` holds
    libraries at WARNING instead of INFO; `http_requests` writes the HTTP clients' line per
    request (at INFO)."""
    global _library_floor, _per_request_floor
    # The openai SDK reads OPENAI_LOG when it is imported and then raises its own logger to
    # that level and installs a root handler of its own; LOG_LEVEL is the only switch.
    os.environ.pop("OPENAI_LOG", None)
    _library_floor = logging.WARNING if console else logging.INFO
    _per_request_floor = logging.INFO if http_requests else logging.WARNING
    # The level as well as the filter: a record held back by its logger's level is never
    # even made, which is what keeps a busy bot's logging cost per answer near zero. The
    # filter still holds if a library lowers its own level later.
    for name in PER_REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(_per_request_floor)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    guard_all_handlers()
