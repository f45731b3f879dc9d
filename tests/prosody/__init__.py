"""The plugin's tests on a real Prosody (joingate.testing starts it)."""

from pathlib import Path

from joingate.testing.prosody import PLUGIN_DIR

# Modules of our own that do what Jitsi's plugins do (rate-limited joins, breakout rooms,
# lobbies, visitor nodes, s2s routes), so that the gate meets Jitsi's mechanisms, not a likeness.
MODULES = Path(__file__).resolve().parent / "modules"
# Prosody's plugin_paths in these tests: mod_joingate, then those modules.
PLUGIN_PATHS = (PLUGIN_DIR, MODULES)
