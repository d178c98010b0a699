"""Platform adapters: each translates one platform into the core's messages and sinks."""
