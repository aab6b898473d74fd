"""The users service: owns users, cleans up after deletions, answers ``user.validate``."""
