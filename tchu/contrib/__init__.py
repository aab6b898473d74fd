"""Integrations with web frameworks, each behind its own extra (``pip install "tchu[django]"``)."""
