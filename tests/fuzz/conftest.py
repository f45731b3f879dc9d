"""The fuzz suite talks to a real `joingate serve`; long-polls are capped at the minimum (1 s)
so a generated `wait` cannot hold a case for a minute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from joingate.testing.service import JoingateService

ENV = {"JOINGATE_SERVER_ENFORCEMENT_MAX_WAIT": "1"}


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JoingateService]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    with JoingateService(workdir / "svc", env=ENV) as svc:
        yield svc
