"""Session-wide setup: the environment is in place before any handler or model is imported."""

from tests.support import environment

environment.install()
