"""The plugin's pure helper under Prosody's own interpreter (the chosen install's), and luacheck
over the plugin."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.prosody.harness import PLUGIN_DIR
from tests.prosody.install import ProsodyInstall

pytestmark = [pytest.mark.prosody, pytest.mark.integration]

HERE = PLUGIN_DIR.parents[1] / "tests" / "prosody" / "lua"


@pytest.mark.parametrize("interpreter", ["lua5.4"])
def test_helper_unit_tests(interpreter: str, prosody_install: ProsodyInstall) -> None:
    if prosody_install.root is None and shutil.which(interpreter) is None:
        pytest.fail(f"{interpreter} is missing (it comes with Debian's prosody package)")
    path = prosody_install.path
    result = subprocess.run(prosody_install.argv(interpreter,
                                                 path(HERE / "test_joingate_util.lua"),
                                                 path(PLUGIN_DIR / "joingate_util.lib.lua")),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failures" in result.stdout


def test_luacheck_clean() -> None:
    luacheck = shutil.which("luacheck")
    if luacheck is None:
        pytest.fail("luacheck is missing: apt-get install lua-check")
    # The command the plugin README gives, from the checkout's root.
    result = subprocess.run([luacheck, "--formatter", "plain", "plugins/prosody"],
                            cwd=PLUGIN_DIR.parents[1], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # The test stand-ins for Jitsi's modules keep the same rules.
    result = subprocess.run([luacheck, "--formatter", "plain", "--config",
                             "plugins/prosody/.luacheckrc", "tests/prosody/modules"],
                            cwd=PLUGIN_DIR.parents[1], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
