from __future__ import annotations

import io
import json
import logging
import os
import random
import secrets
from collections.abc import Callable, Iterator

import pytest

from bot.keys import mask_key
from bot.openai_gateway import OpenAIGateway
from bot.redaction import (
    PER_REQUEST_LOGGERS,
    KeyRedactionFilter,
    configure_logging,
    guard_all_handlers,
)
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.keys import FIXED_FORMATS
from tests.fakes.openai_server import FakeOpenAI

# Every library that logs payloads at DEBUG, by the logger names it uses; httpcore3 stands for
# a transport not released yet, bolt's listener loggers are named after the app.
PAYLOAD_LOGGERS = (
    "slack_bolt.AsyncApp",
    "slack_sdk.socket_mode.aiohttp",
    "slack_sdk.web.async_base_client",
    "discord.gateway",
    "discord.http",
    "discord.client",
    "httpx",
    "httpx2",
    "httpcore.http11",
    "httpcore2.connection",
    "httpcore3",
    "openai._base_client",
    "aiohttp.client",
    "aiohttp.server",
    "aiosqlite",
    "websockets.client",
    "byok-bot:handle_setkey",
)


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


def test_a_key_glued_to_a_word_or_in_disguise_is_masked() -> None:
    logger, stream = _capture()
    legacy = FIXED_FORMATS["openai-legacy-plain"](random.Random(2))
    project = make_key()
    logger.info("text=mykey%s", legacy)
    try:
        raise ValueError(f"bad key {project[:20]}\u200b{project[20:]}")
    except ValueError:
        logger.exception("failed")
    output = stream.getvalue()
    assert f"mykey{mask_key(legacy)}" in output
    assert legacy not in output
    assert project[20:] not in output and mask_key(project) in output


def test_configure_logging_masks_keys_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        key = make_key()
        logging.getLogger("any.module").warning("oops %s", key)
        err = capsys.readouterr().err
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert "oops" in err
    assert key not in err and f"{key[:7]}...{key[-4:]}" in err


@pytest.fixture
def configure() -> Iterator[Callable[..., None]]:
    """configure_logging as the CLI calls it; the root and the libraries' levels are put back."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    levels = {
        name: logging.getLogger(name).level for name in (*PAYLOAD_LOGGERS, *PER_REQUEST_LOGGERS)
    }
    yield configure_logging
    configure_logging("INFO")
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("name", PAYLOAD_LOGGERS)
def test_library_debug_is_never_written_whatever_its_logger_level(
    configure: Callable[[str], None], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    configure("DEBUG")
    library = logging.getLogger(name)
    # What a library does after logging was configured (slack_bolt copies the root level).
    library.setLevel(logging.DEBUG)
    library.debug("payload %s", "debug-payload")
    library.info("info-line")
    err = capsys.readouterr().err
    assert "debug-payload" not in err
    # An HTTP client's INFO is its line per request: quiet unless LOG_HTTP_REQUESTS is set.
    per_request = name.split(".")[0] in PER_REQUEST_LOGGERS
    assert ("info-line" in err) is not per_request


def test_slack_bolt_copying_the_root_level_cannot_open_the_floor(
    configure: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.logger import get_bolt_logger

    configure("DEBUG")
    bolt = get_bolt_logger(AsyncApp)
    assert bolt.level == logging.DEBUG, "slack_bolt set its own level from the root's"
    bolt.debug("Received message: %s", json.dumps({"view": {"value": "modal-payload"}}))
    assert "modal-payload" not in capsys.readouterr().err


def test_our_own_debug_lines_are_what_debug_adds(
    configure: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    configure("DEBUG")
    for name in ("bot.core", "adapters.discord.sink", "storage.sqlite.keys", "app.cli"):
        logging.getLogger(name).debug("ours %s", name)
    err = capsys.readouterr().err
    for name in ("bot.core", "adapters.discord.sink", "storage.sqlite.keys", "app.cli"):
        assert f"ours {name}" in err
    configure("INFO")
    logging.getLogger("bot.core").debug("hidden at INFO")
    assert "hidden at INFO" not in capsys.readouterr().err


def test_aiohttp_access_lines_are_never_written(
    configure: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO")
    logging.getLogger("aiohttp.access").info('"GET /response/r1?token=query-secret HTTP/1.1" 200')
    assert "query-secret" not in capsys.readouterr().err


def test_a_handler_a_library_adds_later_gets_the_floor_too(
    configure: Callable[[str], None],
) -> None:
    configure("DEBUG")
    stream = io.StringIO()
    library = logging.getLogger("discord")
    late = logging.StreamHandler(stream)
    library.addHandler(late)
    try:
        guard_all_handlers()
        library.debug("late debug")
        key = make_key()
        library.warning("late %s", key)
    finally:
        library.removeHandler(late)
    assert "late debug" not in stream.getvalue()
    assert key not in stream.getvalue() and "late sk-proj" in stream.getvalue()


def test_openai_log_is_ignored(
    configure: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_LOG", "debug")
    configure("INFO")
    assert "OPENAI_LOG" not in os.environ


def test_a_legacy_key_after_an_escaped_line_break_in_json_is_masked() -> None:
    logger, stream = _capture()
    legacy = "sk-" + secrets.token_hex(24)
    logger.info("payload %s", json.dumps({"text": f"my key:\n{legacy}", "more": f"x\t{legacy}"}))
    assert legacy not in stream.getvalue()
    assert legacy[:7] + "..." in stream.getvalue()


async def _provider_call_logs(
    configure: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
    fake_openai: FakeOpenAI,
    **options: bool,
) -> str:
    configure("INFO", **options)
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    gateway = OpenAIGateway(base_url=fake_openai.base_url, timeout=5)
    try:
        await gateway.list_models(key)
    finally:
        await gateway.close()
    err = capsys.readouterr().err
    assert key not in err
    return err


async def test_provider_requests_write_no_line_at_info_unless_asked(
    configure: Callable[..., None], capsys: pytest.CaptureFixture[str], fake_openai: FakeOpenAI
) -> None:
    quiet = await _provider_call_logs(configure, capsys, fake_openai)
    assert "HTTP Request:" not in quiet
    asked = await _provider_call_logs(configure, capsys, fake_openai, http_requests=True)
    assert asked.count("HTTP Request: GET") == 1


@pytest.mark.parametrize("name", PER_REQUEST_LOGGERS)
def test_a_library_lowering_its_own_level_cannot_bring_request_lines_back(
    configure: Callable[..., None], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    configure("INFO")
    logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger(name).info("HTTP Request: POST /v1/chat/completions")
    logging.getLogger(name).warning("connection pool full")
    err = capsys.readouterr().err
    assert "HTTP Request:" not in err
    assert "connection pool full" in err


def test_slack_tokens_are_masked_in_messages_arguments_and_tracebacks() -> None:
    """Bot tokens of every installed workspace (OAuth mode), users', refresh and app-level
    tokens: only their kind remains."""
    logger, stream = _capture()
    tokens = [
        "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxp-1234567890-1234567890-1234567890-0123456789abcdef0123456789abcdef",
        "xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MA",
        "xoxe-1-My0xLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MC0xMjM0",
        "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef",
    ]
    logger.info(f"installed with {tokens[0]}")
    logger.info("user %s, refresh %r", tokens[1], {"r": tokens[2], "e": tokens[3]})
    try:
        raise RuntimeError(f"socket refused {tokens[4]}")
    except RuntimeError:
        logger.exception("failed")
    output = stream.getvalue()
    for token in tokens:
        assert token not in output
        assert token.split("-", 1)[1][:12] not in output
    assert "xoxb-..." in output and "xapp-..." in output and "RuntimeError" in output
