-- Prompts at three levels (issue 15): a workspace's (server's) prompt and its channels'
-- prompts, set by its admins, and each member's own instructions for their own turns.
-- None of them may hold a key: the core refuses key-looking text before it is stored.
ALTER TABLE workspace_config ADD COLUMN system_prompt TEXT;
-- {"C0123": "Answer in French.", ...}: a channel's prompt wins over the workspace's.
ALTER TABLE workspace_config ADD COLUMN channel_prompts TEXT NOT NULL DEFAULT '{}';
ALTER TABLE member_prefs ADD COLUMN instructions TEXT;
