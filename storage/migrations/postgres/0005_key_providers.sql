-- One key per member per provider (providers.toml lists them). Every key stored before
-- providers were listed is an OpenAI key: it becomes the member's `openai` key, sealed as it
-- was (its payload names no provider, which the vault reads as `openai` only).
ALTER TABLE member_keys ADD COLUMN provider text NOT NULL DEFAULT 'openai';
ALTER TABLE member_keys ALTER COLUMN provider DROP DEFAULT;
ALTER TABLE member_keys DROP CONSTRAINT member_keys_pkey;
ALTER TABLE member_keys ADD PRIMARY KEY (platform, workspace, user_id, provider);
