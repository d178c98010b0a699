"""Sealing keys to their owner with the operator's master keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.domain import LEGACY_PROVIDER, Member

_PAYLOAD_VERSION = 1
_FINGERPRINT_LABEL = b"byok-bot master key fingerprint v1"
_CANNOT_OPEN = "sealed key cannot be opened with the configured master keys"

log = logging.getLogger(__name__)


class VaultError(Exception):
    """A sealed key could not be opened: wrong master key, or not this member's key."""


class MasterKeyError(Exception):
    """The configured master keys cannot open what the database holds."""


def generate_master_key() -> str:
    return Fernet.generate_key().decode("ascii")


def fingerprint(master_key: str) -> str:
    """A one-way, non-secret name for a master key, safe to store beside the rows."""
    digest = hmac.new(master_key.encode("ascii"), _FINGERPRINT_LABEL, hashlib.sha256)
    return digest.hexdigest()[:32]


class KeyVault:
    """MultiFernet over payloads that name their owner; the first master key seals.

    `reload`, when given, reads the operator's master keys again. `byok-bot rotate-master-key`
    run by another process puts a new key first in `.env` and then re-seals every row under
    it; a running vault reloads before each seal (new keys go under the new master key at
    once) and when a row will not open. It adds what it reads and never drops a key it
    already has: removing an old key takes effect at the next start, whose fingerprint check
    refuses to start while a stored row still needs it."""

    def __init__(
        self, *, master_keys: Sequence[str], reload: Callable[[], Sequence[str]] | None = None
    ) -> None:
        if not master_keys:
            raise MasterKeyError(
                "BYOK_MASTER_KEYS is not set: run `byok-bot init` to create one "
                "(keep it safe; without it no stored key can be opened)"
            )
        self._reload = reload
        self._use(list(master_keys))

    def _use(self, master_keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in master_keys])
        self._keys = master_keys
        self._fingerprints = [fingerprint(key) for key in master_keys]

    def reload(self) -> bool:
        """Take in master keys added since; say whether anything changed."""
        if self._reload is None:
            return False
        fresh = [key for key in self._reload() if key]
        merged = [*fresh, *(key for key in self._keys if key not in fresh)]
        if merged == self._keys:
            return False
        try:
            self._use(merged)
        except ValueError:
            # A half-edited file; the keys in use stay. The error text could quote a key.
            log.warning("BYOK_MASTER_KEYS holds a key that is not a Fernet key; not reloaded")
            return False
        log.info(
            "master keys reloaded: %d, sealing with %s",
            len(merged),
            self.sealing_fingerprint,
        )
        return True

    def __repr__(self) -> str:
        return f"KeyVault(master_keys={len(self._fingerprints)})"

    @property
    def sealing_fingerprint(self) -> str:
        return self._fingerprints[0]

    def check_fingerprints(self, stored: Iterable[str]) -> None:
        """Fail start-up when a master key that sealed stored rows is not configured."""
        missing = sorted(set(stored) - set(self._fingerprints))
        if missing:
            raise MasterKeyError(
                "BYOK_MASTER_KEYS does not include the master key that sealed the stored keys "
                f"(missing fingerprint {', '.join(missing)}). Put the original key back in "
                "BYOK_MASTER_KEYS; refusing to start rather than treat every key as absent."
            )

    def seal(self, owner: Member, api_key: str, *, provider: str = LEGACY_PROVIDER) -> bytes:
        """`api_key` sealed for `owner` at `provider`: it opens for nobody else, nowhere else."""
        # A rotation may have put a new first key in place since the last seal.
        self.reload()
        payload = {
            "v": _PAYLOAD_VERSION,
            "p": owner.platform,
            "w": owner.workspace,
            "u": owner.user,
            "r": provider,
            "k": api_key,
        }
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode())

    def open(self, owner: Member, sealed: bytes, *, provider: str = LEGACY_PROVIDER) -> str:
        """The key, when `sealed` was sealed for `owner` at `provider`. Payloads sealed before
        providers were listed name none: they are OpenAI keys, and open only as those."""
        try:
            plaintext = self._fernet.decrypt(sealed)
        except InvalidToken:
            # Re-sealed by a rotation under a key this process has not read yet?
            if not self.reload():
                raise VaultError(_CANNOT_OPEN) from None
            try:
                plaintext = self._fernet.decrypt(sealed)
            except InvalidToken:
                raise VaultError(_CANNOT_OPEN) from None
        try:
            payload = json.loads(plaintext)
        except ValueError:
            raise VaultError(_CANNOT_OPEN) from None
        if (payload.get("p"), payload.get("w"), payload.get("u")) != (
            owner.platform,
            owner.workspace,
            owner.user,
        ):
            raise VaultError("sealed key belongs to another member")
        if payload.get("r", LEGACY_PROVIDER) != provider:
            raise VaultError("sealed key belongs to another provider")
        key = payload.get("k")
        if payload.get("v") != _PAYLOAD_VERSION or not isinstance(key, str):
            raise VaultError("sealed key has an unknown layout")
        return key

    def reseal(self, sealed: bytes) -> bytes:
        """The same payload under the first master key (MultiFernet.rotate keeps the owner)."""
        try:
            return self._fernet.rotate(sealed)
        except InvalidToken:
            raise VaultError(_CANNOT_OPEN) from None
