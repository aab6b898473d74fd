"""A subscribers module that fails on import, as one with a missing setting does."""

raise RuntimeError("PAYMENTS_GATEWAY_URL is not set")
