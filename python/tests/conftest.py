from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from testapi import TestApi  # noqa: E402


@pytest.fixture
def api() -> Iterator[TestApi]:
    server = TestApi()
    yield server
    server.stop()
