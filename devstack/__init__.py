"""The embedded local stack: AWS on moto, the API emulator and mock upstreams. Never deployed."""
