import pytest


@pytest.fixture(autouse=True)
def _no_sockets(socket_disabled):
    """Unit tests are pure: any network access fails them."""
    return None
