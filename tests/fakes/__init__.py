"""Loopback fakes of the services byok-bot talks to, driven by the real client libraries."""
