"""Logging that cannot carry a key: a filter on every handler masks key patterns."""

from __future__ import annotations

import logging
import sys
import traceback

from bot.keys import contains_key, redact_keys


class KeyRedactionFilter(logging.Filter):
    """Masks key-shaped strings in the message, its arguments, tracebacks and stack info."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if contains_key(message):
            message = redact_keys(message)
        record.msg, record.args = message, None
        if record.exc_info and record.exc_info[0] is not None:
            rendered = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact_keys(rendered).rstrip("\n")
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_keys(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_keys(record.stack_info)
        return True


def _guard(handler: logging.Handler) -> None:
    if not any(isinstance(f, KeyRedactionFilter) for f in handler.filters):
        handler.addFilter(KeyRedactionFilter())


def guard_all_handlers() -> None:
    """Attach the filter to every handler that exists now, on every logger."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            _guard(handler)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at DEBUG carries request headers and whole gateway payloads (a /setkey
    # modal submission holds the key): keep it at INFO or above whatever LOG_LEVEL says.
    floor = max(logging.INFO, logging.getLevelNamesMapping()[level])
    for noisy in (
        "httpx",
        "httpx2",
        "httpcore",
        "openai",
        "aiosqlite",
        "discord",
        "slack_bolt",
        "slack_sdk",
    ):
        logging.getLogger(noisy).setLevel(floor)
    guard_all_handlers()
