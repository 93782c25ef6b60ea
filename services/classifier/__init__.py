"""The classifier: scores items against topics with keywords and sentence embeddings, publishes alerts."""
