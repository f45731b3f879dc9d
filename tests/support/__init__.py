"""Helpers shared by the test suites: a test GeoIP database and a real `joingate serve`."""
