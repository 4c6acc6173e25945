"""Real servers for tests and for `make dev`: started as processes on loopback ports, stopped afterwards."""
