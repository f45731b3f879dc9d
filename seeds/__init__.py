"""Data shipped with joingate: the built-in GeoIP database and jurisdiction table."""
