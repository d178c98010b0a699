"""OAuth mode's settings and manifest: what fits neither mode is one line, the scopes asked
for are the manifest's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.slack import create_slack_adapter
from adapters.slack.app import BOT_SCOPES
from app.services import Services
from bot.ports import AdapterConfigError
from tests.fakes.cli import run_cli
from tests.fakes.loopback import free_port
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import APP_TOKEN, BOT_TOKEN, oauth_settings
from tests.slack.requests import SIGNING_SECRET

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"bot_token": SecretStr(BOT_TOKEN)}, "SLACK_BOT_TOKEN"),
        ({"client_secret": None}, "SLACK_CLIENT_SECRET"),
        ({"client_id": None}, "SLACK_CLIENT_ID"),
        ({"app_token": SecretStr(APP_TOKEN)}, "SLACK_APP_TOKEN"),
        ({"signing_secret": None}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_settings_that_fit_neither_mode_are_one_line_errors(
    services: Services, fake_slack: FakeSlack, changes: dict[str, Any], variable: str
) -> None:
    with pytest.raises(AdapterConfigError, match=f"^{variable}: ") as error:
        create_slack_adapter(
            core=services.core,
            settings=oauth_settings(services, fake_slack, **changes),
            once=services.store,
            installs=services.store,
            vault=services.vault,
        )
    assert "\n" not in str(error.value)


async def test_both_modes_set_stops_byok_bot_run_with_exit_2(
    tmp_path: Path, master_key: str, database_url: str
) -> None:
    (tmp_path / ".env").write_text(
        f"BYOK_MASTER_KEYS={master_key}\nDATABASE_URL={database_url}\n"
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_CLIENT_ID=1.2\nSLACK_CLIENT_SECRET=shh\n"
        f"SLACK_SIGNING_SECRET={SIGNING_SECRET}\n"
    )
    code, _, err = await run_cli("run", cwd=tmp_path, env={"BYOK_HTTP_PORT": str(free_port())})
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("byok-bot: SLACK_BOT_TOKEN: set together with")


def test_the_scopes_asked_for_are_the_manifests() -> None:
    text = MANIFEST.read_text()
    bot = text.split("    bot:\n", 1)[1]
    scopes = re.findall(r"^\s+- (\S+)", bot.split("settings:", 1)[0], re.MULTILINE)
    assert scopes == list(BOT_SCOPES)
    assert re.search(r"redirect_urls:\n\s+- https://YOUR-HOST/slack/oauth_redirect", text)


def test_the_http_manifest_is_the_socket_mode_one_with_socket_mode_off() -> None:
    def body(path: Path) -> str:
        text = path.read_text()
        return text[text.index("display_information:") :]

    http = MANIFEST.with_name("slack-manifest.http.yml")
    assert body(http) == body(MANIFEST).replace(
        "socket_mode_enabled: true", "socket_mode_enabled: false"
    )
    assert "socket_mode_enabled: false" in body(http)


def test_the_client_secret_is_in_no_repr() -> None:
    from typing import Any, cast

    from adapters.slack.app import OAuthInstalls

    installs = OAuthInstalls(
        client_id="123.456",
        client_secret="s3cr3t-client-secret",
        installations=cast(Any, None),
        states=cast(Any, None),
    )
    assert "s3cr3t-client-secret" not in repr(installs)
