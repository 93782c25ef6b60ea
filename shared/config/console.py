"""Settings of the web console (``tripwire console``): where it listens and how it checks who is there."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shared.config.durations import Duration


class ConsoleSettings(BaseModel):
    """The console's address, password and session lifetime."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Bind address; anything but loopback requires a password.")
    port: int = Field(default=9110, ge=0, le=65535, description="TCP port of the console.")
    password: SecretStr | None = Field(
        default=None,
        description="Login password; write it as ${TRIPWIRE_CONSOLE_PASSWORD}. No default: without one the console "
        "only starts on 127.0.0.1 and asks nobody to log in.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs session cookies; write it as ${TRIPWIRE_CONSOLE_SECRET}. Unset: a random key "
        "per start (everyone logs in again after a restart).",
    )
    session_max_age: Duration = Field(default=43200.0, gt=0, description="How long a login lasts (e.g. 12h).")
    vote_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs vote links in alerts; write it as ${TRIPWIRE_VOTE_SECRET}. Unset: vote links "
        "are refused.",
    )
    vote_link_ttl: Duration = Field(default=604800.0, gt=0, description="How long a vote link stays valid (e.g. 7d).")

    @property
    def loopback_only(self) -> bool:
        """True when the bind address is a loopback address (or localhost)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
