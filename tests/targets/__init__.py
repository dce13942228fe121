"""Stand-ins for the downstream systems the fan-out engine delivers to (real sockets, no mocks)."""
