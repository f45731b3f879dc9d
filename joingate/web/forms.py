"""Forms: what was submitted, the error shown next to each field, and reading posted text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..errors import JoingateError, NotFound

ID_RE = re.compile(r"[1-9][0-9]{0,17}")


@dataclass
class Form:
    """Submitted values, and the error of each field (or of the whole form)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def fail(self, exc: JoingateError, fields: tuple[str, ...]) -> None:
        if exc.field in fields:
            # Shown under the field's label: drop the "field: " the message starts with.
            text = exc.message.removeprefix(f"{exc.field}: ")
            self.errors[exc.field] = text[:1].upper() + text[1:]
        else:
            self.general.append(exc.message)


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def words(value: str) -> list[str]:
    return [w for w in re.split(r"[\s,;]+", value) if w]


def lines(value: str) -> list[str]:
    """One meeting per line: a meeting's name may hold spaces and commas."""
    return [line.strip() for line in value.splitlines() if line.strip()]


def optional(value: str) -> str | None:
    return value or None


def match_id(request: web.Request) -> int:
    """The {id} of the address; anything but a plain number is a page that is not there."""
    value = request.match_info["id"]
    if not ID_RE.fullmatch(value):
        raise NotFound(f"There is no {value!r} here.", field="id")
    return int(value)


def refusal_status(exc: JoingateError) -> int:
    """The status of a form shown again with its errors: the error's own when it is a 4xx."""
    return exc.http_status if 400 <= exc.http_status < 500 else 400
