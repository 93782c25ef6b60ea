"""The web console: see, tune and teach Tripwire in a browser (``tripwire console``)."""
