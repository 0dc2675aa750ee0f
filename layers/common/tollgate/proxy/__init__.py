"""The inference proxy: an ASGI app that authenticates, holds, calls upstream, settles."""
