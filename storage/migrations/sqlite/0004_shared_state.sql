-- State every process shares, all of it short-lived: each row carries the moment it may be
-- swept (`expires_at`, seconds since the epoch, UTC), so the tables stay bounded by recent
-- traffic.

-- Attempts counted in sliding windows (questions per minute, key checks per 10 minutes).
CREATE TABLE rate_attempts (
    bucket TEXT NOT NULL,
    at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX rate_attempts_bucket_at ON rate_attempts (bucket, at);
CREATE INDEX rate_attempts_expires ON rate_attempts (expires_at);

-- "Answer once": a token (a Slack event id, a request's signature) is acted on by whoever
-- inserts it first; an expired one may be inserted again.
CREATE TABLE once_tokens (
    token TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE INDEX once_tokens_expires ON once_tokens (expires_at);

-- A member's turns in flight, one row each, renewed while the turn runs: a process that
-- dies holding one frees the slot when it expires.
CREATE TABLE turn_leases (
    bucket TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (bucket, holder)
);
CREATE INDEX turn_leases_expires ON turn_leases (expires_at);
