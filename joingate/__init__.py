"""joingate: a participant-level, jurisdiction-scoped join gate for self-hosted conferencing."""

__version__ = "0.1.0"
