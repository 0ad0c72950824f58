"""Fixtures for the Warren Python client suite.

The tests use the tutorials' own names ('hello', 'task_queue', 'logs', ...),
so the `names` fixture deletes those before a test and again after it:
every test starts from a clean broker and leaves it clean.
"""

import pytest

from amqp_helpers import connect, delete_quietly


@pytest.fixture
def connection():
    """A blocking connection for the test body, closed at teardown."""
    conn = connect()
    yield conn
    if conn.is_open:
        conn.close()


class _Names:
    def __init__(self):
        self.queues = []
        self.exchanges = []

    def queue(self, name):
        """Claim a queue name: delete any leftover now, delete it again at teardown."""
        delete_quietly(queues=[name])
        self.queues.append(name)
        return name

    def exchange(self, name):
        """Claim an exchange name: delete any leftover now, delete it again at teardown."""
        delete_quietly(exchanges=[name])
        self.exchanges.append(name)
        return name


@pytest.fixture
def names():
    """Claims the fixed queue and exchange names a test uses."""
    claimed = _Names()
    yield claimed
    delete_quietly(queues=claimed.queues, exchanges=claimed.exchanges)
