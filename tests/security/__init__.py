"""Security tests: the outbound guard, secrets, the Redis boundary, bind addresses."""
