-- Sealed keys, one per member; `masked` is the at-most-11-character hint shown to the owner.
CREATE TABLE member_keys (
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    masked TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid', 'invalid')),
    set_at TEXT NOT NULL,
    validated_at TEXT,
    last_used_at TEXT,
    PRIMARY KEY (platform, workspace, user_id)
);

CREATE TABLE member_prefs (
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    model TEXT,
    PRIMARY KEY (platform, workspace, user_id)
);

-- Which master keys sealed the stored rows, so a wrong master key stops start-up.
CREATE TABLE master_key_fingerprints (
    fingerprint TEXT PRIMARY KEY
);

CREATE TABLE workspace_config (
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL,
    allowed_channels TEXT NOT NULL DEFAULT '[]',
    default_model TEXT,
    threaded INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (platform, workspace)
);
