-- One row per provider call: tokens as the provider reported them, or none when it failed.
CREATE TABLE usage_events (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    server TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX usage_events_member_at ON usage_events (platform, workspace, user_id, at);

-- A member's own caps; unit is usd or tokens, period is daily or monthly.
CREATE TABLE member_caps (
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    period TEXT NOT NULL CHECK (period IN ('daily', 'monthly')),
    unit TEXT NOT NULL CHECK (unit IN ('usd', 'tokens')),
    amount REAL NOT NULL,
    PRIMARY KEY (platform, workspace, user_id, period)
);

-- What happened to keys and settings: never key material, never message text.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL,
    user_id TEXT,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    place TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_user_at ON audit_events (user_id, at);

ALTER TABLE workspace_config ADD COLUMN member_caps TEXT NOT NULL DEFAULT '{}';
