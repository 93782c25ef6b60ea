"""Config of the notifier: who gets which alerts, where, and how."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shared.config.durations import Duration


class SubscriptionConfig(BaseModel):
    """One Slack channel or webhook endpoint and the alerts it wants."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: Literal["slack", "webhook"]
    # The URL is a secret: a Slack incoming-webhook URL is itself the credential.
    url: SecretStr = Field(description="Endpoint URL; write it as ${ENV_VAR} to keep it out of the file.")
    secret: SecretStr | None = Field(default=None, description="Webhook signing secret (whsec_...).")
    topics: list[str] = Field(default_factory=list, description="Topics to receive; empty means all.")
    min_score: float | None = Field(default=None, ge=0.0, le=1.0, description="Extra bar above the topic threshold.")
    enabled: bool = True

    @property
    def has_url(self) -> bool:
        """True when the URL is set (an empty ``${VAR:-}`` leaves the subscription inactive)."""
        return bool(self.url.get_secret_value().strip())


class NotifierSettings(BaseModel):
    """How the notifier delivers."""

    model_config = ConfigDict(extra="forbid")

    timeout: Duration = Field(default=10.0, gt=0, description="Deadline of one delivery request.")
