"""The notifier: routes alerts to subscriptions and delivers them to Slack and signed webhooks."""
