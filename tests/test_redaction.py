from __future__ import annotations

import io
import json
import logging
import secrets

import pytest

from bot.redaction import KeyRedactionFilter, configure_logging
from tests.fakes.core import make_key


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


def test_configure_logging_masks_keys_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        key = make_key()
        logging.getLogger("any.module").warning("oops %s", key)
        err = capsys.readouterr().err
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    assert "oops" in err
    assert key not in err and f"{key[:7]}...{key[-4:]}" in err


def test_a_legacy_key_after_an_escaped_line_break_in_json_is_masked() -> None:
    logger, stream = _capture()
    legacy = "sk-" + secrets.token_hex(24)
    logger.info("payload %s", json.dumps({"text": f"my key:\n{legacy}", "more": f"x\t{legacy}"}))
    assert legacy not in stream.getvalue()
    assert legacy[:7] + "..." in stream.getvalue()
