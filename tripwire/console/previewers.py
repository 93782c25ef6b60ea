"""Link previewers and crawlers: clients that fetch a link nobody clicked, so a GET from them must change nothing.

Chat apps (Slack, Teams and Skype, Discord, WhatsApp, Telegram, ...), social sites and search crawlers fetch URLs
pasted anywhere to draw a preview. A signed vote link fetched that way would record a vote its holder never cast,
so those clients get a page with a "Record my vote" button instead. Matching is by User-Agent substring,
case-insensitive; an empty User-Agent counts too (every browser sends one). Scanners that pretend to be a browser
cannot be told apart here: a vote they record is replaced by the holder's own click (one vote per alert and topic).
"""

from __future__ import annotations

PREVIEWER_AGENTS = (
    "slackbot",  # Slackbot-LinkExpanding, Slackbot 1.0
    "slack-imgproxy",
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "discordbot",
    "whatsapp",
    "telegrambot",
    "linkedinbot",
    "skypeuripreview",  # Microsoft Teams and Skype previews
    "microsoftpreview",
    "googlebot",
    "bingbot",
    "bingpreview",
    "applebot",
    "redditbot",
    "pinterestbot",
    "mattermost-bot",
    "embedly",
    "iframely",
    "vkshare",
    "yahoo! slurp",
    "duckduckbot",
    "yandexbot",
    "baiduspider",
)


def is_link_previewer(user_agent: str) -> bool:
    """True for a known link previewer or crawler, or a request without a User-Agent."""
    agent = user_agent.strip().lower()
    return not agent or any(name in agent for name in PREVIEWER_AGENTS)
