-- The whole schema SQLite reached in its migrations 0001-0003, in PostgreSQL's own types.

-- Sealed keys, one per member. `sealed` is Fernet ciphertext bound to its owner, never a key
-- in the clear; `masked` is the at-most-11-character hint shown to the owner.
CREATE TABLE member_keys (
    platform text NOT NULL,
    workspace text NOT NULL,
    user_id text NOT NULL,
    -- New whenever a key is set (not when it is re-sealed): a turn that used an earlier key
    -- can then no longer change the status of the one that replaced it.
    key_id text NOT NULL,
    sealed bytea NOT NULL,
    masked text NOT NULL,
    status text NOT NULL CHECK (status IN ('valid', 'invalid')),
    set_at timestamptz NOT NULL,
    validated_at timestamptz,
    last_used_at timestamptz,
    PRIMARY KEY (platform, workspace, user_id)
);

CREATE TABLE member_prefs (
    platform text NOT NULL,
    workspace text NOT NULL,
    user_id text NOT NULL,
    model text,
    PRIMARY KEY (platform, workspace, user_id)
);

-- Which master keys sealed the stored rows, so a wrong master key stops start-up.
CREATE TABLE master_key_fingerprints (
    fingerprint text PRIMARY KEY
);

CREATE TABLE workspace_config (
    platform text NOT NULL,
    workspace text NOT NULL,
    allowed_channels text[] NOT NULL DEFAULT '{}',
    default_model text,
    threaded boolean NOT NULL DEFAULT true,
    -- {"daily": {"amount": 2.0, "unit": "usd"}, ...}, set by the workspace's admins.
    member_caps jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (platform, workspace)
);

-- One row per provider call: tokens as the provider reported them, or none when it failed.
CREATE TABLE usage_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform text NOT NULL,
    workspace text NOT NULL,
    user_id text NOT NULL,
    server text NOT NULL,
    model text NOT NULL,
    prompt_tokens bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    outcome text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX usage_events_member_at ON usage_events (platform, workspace, user_id, at);

-- A member's own caps; unit is usd or tokens, period is daily or monthly.
CREATE TABLE member_caps (
    platform text NOT NULL,
    workspace text NOT NULL,
    user_id text NOT NULL,
    period text NOT NULL CHECK (period IN ('daily', 'monthly')),
    unit text NOT NULL CHECK (unit IN ('usd', 'tokens')),
    amount double precision NOT NULL,
    PRIMARY KEY (platform, workspace, user_id, period)
);

-- What happened to keys and settings: never key material, never message text.
CREATE TABLE audit_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL,
    platform text NOT NULL,
    workspace text NOT NULL,
    user_id text,
    event text NOT NULL,
    outcome text NOT NULL,
    place text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_user_at ON audit_events (user_id, at);
-- /forget and uninstalls delete a member's or a workspace's trail.
CREATE INDEX audit_events_member ON audit_events (platform, workspace, user_id);
