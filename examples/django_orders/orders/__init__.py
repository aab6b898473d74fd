"""The orders app: orders placed through the API, announced as tchu events once committed."""
