"""Slack's installation and OAuth-state stores (slack_sdk's interfaces) on the core's Store.

Each installation goes into the Store whole, tokens included, sealed by the KeyVault to
where it was installed: the database holds ciphertext only, a sealed installation opens only
for its own org, workspace and installer, and `byok-bot rotate-master-key` re-seals it with
the members' keys."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from adapters.slack.bridge import PLATFORM
from bot.domain import Member
from bot.ports import InstallationKey, InstallationRecords, SealedInstallation, StoreError
from bot.vault import KeyVault, VaultError

log = logging.getLogger(__name__)

# The vault binds what it seals to a (platform, workspace, user) owner; installations get a
# platform of their own, so no member's key and no installation can ever open as the other.
_VAULT_PLATFORM = "slack-installation"
_TIMES = ("installed_at", "bot_token_expires_at", "user_token_expires_at")
# slack_sdk's default, and bolt's: an install not finished in ten minutes starts again.
STATE_LIFETIME = timedelta(seconds=600)


def installation_key(
    *,
    enterprise_id: str | None,
    team_id: str | None,
    user_id: str | None = None,
    is_enterprise_install: bool | None = False,
) -> InstallationKey:
    """Where slack_sdk's ids point. An org-wide install serves every workspace of the org, so
    it is found by the org alone (as slack_sdk's own stores do)."""
    return InstallationKey(
        platform=PLATFORM,
        org=enterprise_id or "",
        workspace="" if is_enterprise_install else (team_id or ""),
        user=user_id or "",
    )


def vault_owner(key: InstallationKey) -> Member:
    return Member(_VAULT_PLATFORM, f"{key.org}/{key.workspace}", key.user)


def _payload(installation: Installation) -> str:
    values = installation.to_dict_for_copying()
    for name in _TIMES:
        moment = values.get(name)
        if isinstance(moment, datetime):
            values[name] = moment.timestamp()
    return json.dumps(values, separators=(",", ":"))


def _installation(payload: str) -> Installation:
    values: dict[str, Any] = json.loads(payload)
    for name in ("bot_token_expires_at", "user_token_expires_at"):
        if values.get(name) is not None:
            values[name] = int(values[name])
    return Installation(**values)


class SealedInstallationStore(AsyncInstallationStore):
    """Installations kept in the Store, sealed; bolt's authorize finds each request's bot
    token here, by the team (or org) the request came from."""

    def __init__(self, *, records: InstallationRecords, vault: KeyVault) -> None:
        self._records = records
        self._vault = vault

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        """The installer's own installation, and the same as the workspace's current one
        (whose bot answers everyone there). A failure is a BoltError, which bolt's OAuth flow
        shows the installer as a failed install."""
        where = installation_key(
            enterprise_id=installation.enterprise_id,
            team_id=installation.team_id,
            is_enterprise_install=installation.is_enterprise_install,
        )
        payload = _payload(installation)
        installed_at = datetime.fromtimestamp(installation.installed_at, UTC)
        try:
            for key in (
                InstallationKey(
                    platform=where.platform,
                    org=where.org,
                    workspace=where.workspace,
                    user=installation.user_id or "",
                ),
                where,
            ):
                await self._records.save_installation(
                    SealedInstallation(
                        key=key,
                        sealed=self._vault.seal(vault_owner(key), payload),
                        installed_at=installed_at,
                    ),
                    fingerprint=self._vault.sealing_fingerprint,
                )
        except StoreError as error:
            log.warning("installation in %s not saved", _where(where), exc_info=True)
            raise BoltError("the installation could not be saved") from error
        log.info("slack: installed in %s", _where(where))

    async def async_save_bot(self, bot: Bot) -> None:
        # Only bolt's token rotation saves a bot alone, and the manifest leaves rotation off.
        raise NotImplementedError("token rotation is not enabled")

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = installation_key(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        found = await self._open(key)
        if found is None:
            if not key.user:
                # Signed by Slack, so the app was installed there once: removed since, or
                # installed some other way (the app settings page's "Install to Workspace").
                log.warning(
                    "slack: no installation for %s; the request is not answered", _where(key)
                )
            return None
        if key.user:
            # The installer's own row may hold an older bot token than the workspace's.
            current = await self._open(
                installation_key(
                    enterprise_id=enterprise_id,
                    team_id=team_id,
                    is_enterprise_install=is_enterprise_install,
                )
            )
            if current is not None:
                found.bot_token = current.bot_token
                found.bot_id = current.bot_id
                found.bot_user_id = current.bot_user_id
                found.bot_scopes = current.bot_scopes
        return found

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await self.async_find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return found.to_bot() if found is not None and found.bot_token else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        key = installation_key(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        await self._records.delete_installations(key, every_user=user_id is None)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        key = installation_key(enterprise_id=enterprise_id, team_id=team_id)
        removed = await self._records.delete_installations(key, every_user=True)
        log.info("slack: %d installation rows of %s deleted", removed, _where(key))

    async def _open(self, key: InstallationKey) -> Installation | None:
        stored = await self._records.find_installation(key)
        if stored is None:
            return None
        try:
            return _installation(self._vault.open(vault_owner(key), stored.sealed))
        except VaultError:
            log.error("slack: the installation in %s cannot be opened", _where(key))
            return None


class StoredOAuthStateStore(AsyncOAuthStateStore):
    """Each install flow's `state` in the Store: used once, by whichever worker the browser
    comes back to, and only within STATE_LIFETIME."""

    def __init__(
        self,
        *,
        records: InstallationRecords,
        lifetime: timedelta = STATE_LIFETIME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._records = records
        self._lifetime = lifetime
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self._records.issue_oauth_state(state, until=self._clock() + self._lifetime)
        return state

    async def async_consume(self, state: str) -> bool:
        try:
            valid = await self._records.consume_oauth_state(state, now=self._clock())
        except StoreError:
            log.warning("an install's state could not be checked", exc_info=True)
            return False
        if not valid:
            log.info("slack: an install came back with an unknown, used or expired state")
        return valid


def _where(key: InstallationKey) -> str:
    if not key.workspace:
        return f"org {key.org} (org-wide)"
    return f"team {key.workspace}" + (f" of org {key.org}" if key.org else "")
