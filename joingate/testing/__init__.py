"""Real parts, really started, for `joingate demo`, bench/ and the tests: Debian's Prosody with
mod_joingate from the checkout (prosody.py, prosody_install.py), XMPP participants bound to
chosen loopback addresses (xmpp.py), a `joingate serve` subprocess (service.py) and the loopback
GeoIP DB that places those addresses in countries (geodb.py). Needs the demo extra."""
