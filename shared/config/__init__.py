"""Tripwire's configuration: one validated YAML file plus REDIS_URL from the environment."""

from shared.config.console import ConsoleSettings
from shared.config.durations import Duration, parse_duration
from shared.config.feeds import FeedConfig, PollerSettings
from shared.config.loader import ConfigError, load_config_file, load_settings, parse_config, resolve_config_path
from shared.config.model import HealthSettings, NetworkSettings, RedisSettings, Settings, TripwireConfig
from shared.config.stories import StorySettings
from shared.config.streams import StreamSettings
from shared.config.subscriptions import NotifierSettings, SubscriptionConfig
from shared.config.topics import ClassifierSettings, KeywordRules, PlaceConfig, TopicConfig, TopicWeights
from shared.config.websub import WebSubSettings

__all__ = [
    "ClassifierSettings",
    "ConfigError",
    "ConsoleSettings",
    "Duration",
    "FeedConfig",
    "HealthSettings",
    "KeywordRules",
    "NetworkSettings",
    "NotifierSettings",
    "PlaceConfig",
    "PollerSettings",
    "RedisSettings",
    "Settings",
    "StorySettings",
    "StreamSettings",
    "SubscriptionConfig",
    "TopicConfig",
    "TopicWeights",
    "TripwireConfig",
    "WebSubSettings",
    "load_config_file",
    "load_settings",
    "parse_config",
    "parse_duration",
    "resolve_config_path",
]
