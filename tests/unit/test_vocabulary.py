"""joingate.vocabulary reaches the CLI and the settings as the words, not the member names."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from joingate.cli import main
from joingate.config import SETTINGS
from joingate.vocabulary import (
    Decision,
    Mode,
    ReportFormat,
    RequestOutcome,
    Scope,
    VerdictRule,
    values,
)


def _choices(*path: str) -> dict[str, list[str]]:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return {p.name or "": list(p.type.choices) for p in command.params
            if isinstance(p.type, click.Choice)}


@pytest.mark.parametrize(("path", "option", "words"), [
    (("token", "create"), "scope", Scope),
    (("restrict", "add"), "mode", Mode),
    (("request", "decide"), "outcome", RequestOutcome),
    (("report",), "fmt", ReportFormat),
])
def test_cli_choices_are_the_words(path: tuple[str, ...], option: str,
                                   words: type[Mode]) -> None:
    assert _choices(*path)[option] == values(words)


def test_cli_refuses_a_member_name_and_takes_the_word() -> None:
    """click.Choice given an Enum matches member names (ALLOW_ONLY); the CLI takes the word."""
    runner = CliRunner()
    refused = runner.invoke(main, ["restrict", "add", "--room", "a", "--country", "CN",
                                   "--reason", "r", "--mode", "ALLOW_ONLY"])
    assert refused.exit_code == 2
    assert "'ALLOW_ONLY' is not one of 'block', 'allow-only'" in refused.output


def test_settings_choices_are_the_decisions() -> None:
    chosen = {s.name: s for s in SETTINGS if s.choices}
    assert set(chosen) == {"geoip.unknown", "geoip.disputed"}
    for setting in chosen.values():
        assert list(setting.choices) == values(Decision)
        assert type(setting.default) is str and setting.default == Decision.ALLOW


def test_a_deny_by_a_restriction_names_its_mode() -> None:
    assert {VerdictRule(m.value) for m in Mode} == {VerdictRule.BLOCK, VerdictRule.ALLOW_ONLY}
