"""Session-wide setup: the environment is in place before any handler or model is imported."""

from collections.abc import Iterator

import pytest

from tests.support import environment

environment.install()


@pytest.fixture(scope="session")
def devstack(tmp_path_factory) -> Iterator[dict[str, str]]:
    """devstack in a subprocess, once per test worker, for the e2e and browser tiers."""
    from tests.e2e.conftest import running_devstack

    with running_devstack(tmp_path_factory.mktemp("devstack")) as contract:
        yield contract
