"""The durable trail of every policy decision and operator action, listed per account by time."""
