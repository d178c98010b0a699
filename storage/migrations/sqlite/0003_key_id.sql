-- A random id per stored key, new whenever a key is set: a turn that used an earlier key can
-- then no longer change the status of the one that replaced it. Re-sealing keeps the id.
ALTER TABLE member_keys ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
UPDATE member_keys SET key_id = lower(hex(randomblob(16))) WHERE key_id = '';
