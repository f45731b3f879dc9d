from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from joingate.testing.service import JoingateService


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JoingateService]:
    with JoingateService(tmp_path / "svc") as svc:
        yield svc

