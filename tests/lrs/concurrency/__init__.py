"""Several xAPI clients writing at once, each request in its own thread, connection and transaction."""
