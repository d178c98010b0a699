-- Installations of the app, one per org, workspace and installing user (Slack's OAuth mode:
-- one byok-bot serving many workspaces). Everything about one, its tokens included, is in
-- `sealed` (Fernet, bound to these four columns); user_id '' is the workspace's current
-- install, whose bot serves everyone there, org '' means no Enterprise Grid org, and
-- workspace '' an install across the whole org.
CREATE TABLE installations (
    platform TEXT NOT NULL,
    org TEXT NOT NULL,
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    installed_at TEXT NOT NULL,
    PRIMARY KEY (platform, org, workspace, user_id)
);

-- The `state` of each install flow under way: used once, by whichever process the browser
-- comes back to, and swept once expired (seconds since the epoch, UTC).
CREATE TABLE oauth_states (
    state TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
