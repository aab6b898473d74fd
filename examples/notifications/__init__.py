"""The notifications service: welcomes new users."""
