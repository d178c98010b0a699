"""byok-bot core: platform-free rules for members who bring their own OpenAI key."""
