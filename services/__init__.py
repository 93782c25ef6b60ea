"""Tripwire's services. Each imports ``shared`` and never another service."""
