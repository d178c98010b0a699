from __future__ import annotations

import io
import logging

from bot.redaction import KeyRedactionFilter, configure_logging
from tests.conftest import make_key


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(KeyRedactionFilter())
    logger = logging.getLogger(f"test-redaction-{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_keys_are_masked_in_messages_arguments_and_tracebacks() -> None:
    logger, stream = _capture()
    keys = [make_key() for _ in range(4)]
    logger.info(f"direct {keys[0]}")
    logger.info("argument %s and %r", keys[1], {"key": keys[2]})
    try:
        raise ValueError(f"bad key {keys[3]}")
    except ValueError:
        logger.exception("failed")
    logger.info("stack", stack_info=True, extra={"unused": keys[0]})
    output = stream.getvalue()
    for key in keys:
        assert key not in output
        assert f"{key[:7]}...{key[-4:]}" in output
    assert "ValueError" in output


def test_configure_logging_guards_every_handler(capsys: object) -> None:
    configure_logging("INFO")
    key = make_key()
    logging.getLogger("any.module").warning("oops %s", key)
    root = logging.getLogger()
    assert root.handlers and all(
        any(isinstance(f, KeyRedactionFilter) for f in h.filters) for h in root.handlers
    )
