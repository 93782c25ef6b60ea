"""The poller: reads RSS/Atom feeds on a schedule and publishes each new item once to the items stream."""
