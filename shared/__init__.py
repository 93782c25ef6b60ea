"""Tripwire's common package: config, message schemas, Redis Streams helpers, logging and metrics."""
