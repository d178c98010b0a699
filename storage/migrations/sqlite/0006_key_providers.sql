-- One key per member per provider (providers.toml lists them). Every key stored before
-- providers were listed is an OpenAI key: it becomes the member's `openai` key, sealed as it
-- was (its payload names no provider, which the vault reads as `openai` only).
CREATE TABLE member_keys_by_provider (
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    key_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    masked TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid', 'invalid')),
    set_at TEXT NOT NULL,
    validated_at TEXT,
    last_used_at TEXT,
    PRIMARY KEY (platform, workspace, user_id, provider)
);
INSERT INTO member_keys_by_provider (platform, workspace, user_id, provider, key_id, sealed,
    masked, status, set_at, validated_at, last_used_at)
SELECT platform, workspace, user_id, 'openai', key_id, sealed, masked, status, set_at,
    validated_at, last_used_at
FROM member_keys;
DROP TABLE member_keys;
ALTER TABLE member_keys_by_provider RENAME TO member_keys;
