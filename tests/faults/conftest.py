"""The fault suite's stack: one per test process, started when a fault test first needs it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SMTP_PORT, Inbox
from tests.faults.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack(inbox: Inbox, app: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`app` opens this process's own pool, for the tests' direct look at the database."""
    with running_stack(tmp_path_factory.mktemp("faults"), SMTP_PORT) as s:
        yield s
