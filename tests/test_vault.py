from __future__ import annotations

import pytest

from bot.domain import Member
from bot.vault import KeyVault, MasterKeyError, VaultError, fingerprint, generate_master_key
from tests.fakes.core import make_key

ALICE = Member("discord", "", "111")
BOB = Member("discord", "", "222")


def test_seal_and_open_for_the_owner() -> None:
    vault = KeyVault(master_keys=[generate_master_key()])
    key = make_key()
    sealed = vault.seal(ALICE, key)
    assert key.encode() not in sealed
    assert vault.open(ALICE, sealed) == key


@pytest.mark.parametrize(
    "other",
    [BOB, Member("slack", "", "111"), Member("discord", "T1", "111")],
)
def test_a_ciphertext_copied_to_another_member_fails_closed(other: Member) -> None:
    vault = KeyVault(master_keys=[generate_master_key()])
    sealed = vault.seal(ALICE, make_key())
    with pytest.raises(VaultError) as raised:
        vault.open(other, sealed)
    assert "another member" in str(raised.value)


def test_wrong_master_key_cannot_open() -> None:
    sealed = KeyVault(master_keys=[generate_master_key()]).seal(ALICE, make_key())
    with pytest.raises(VaultError):
        KeyVault(master_keys=[generate_master_key()]).open(ALICE, sealed)


def test_no_master_key_is_an_error_not_an_empty_vault() -> None:
    with pytest.raises(MasterKeyError, match="byok-bot init"):
        KeyVault(master_keys=[])


def test_fingerprint_check_names_the_missing_master_key() -> None:
    old, new = generate_master_key(), generate_master_key()
    KeyVault(master_keys=[new, old]).check_fingerprints({fingerprint(old)})
    with pytest.raises(MasterKeyError, match=fingerprint(old)):
        KeyVault(master_keys=[new]).check_fingerprints({fingerprint(old)})


def test_fingerprint_does_not_reveal_the_master_key() -> None:
    key = generate_master_key()
    assert key not in fingerprint(key)
    assert len(fingerprint(key)) == 32


def test_reseal_moves_a_key_to_the_new_first_master_key() -> None:
    old, new = generate_master_key(), generate_master_key()
    key = make_key()
    sealed = KeyVault(master_keys=[old]).seal(ALICE, key)
    resealed = KeyVault(master_keys=[new, old]).reseal(sealed)
    assert KeyVault(master_keys=[new]).open(ALICE, resealed) == key
    with pytest.raises(VaultError):
        KeyVault(master_keys=[new]).open(BOB, resealed)


def test_repr_shows_no_key_material() -> None:
    master = generate_master_key()
    assert master not in repr(KeyVault(master_keys=[master]))
