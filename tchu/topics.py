"""Routing keys and subscription patterns, with RabbitMQ's topic-exchange semantics exactly.

A routing key is words separated by ``.``. A pattern's word ``*`` stands for exactly one word and ``#`` for
zero or more words, so ``user.#`` matches ``user``, ``#.*.*.test`` matches ``1.2.test`` and ``a.#.b`` matches
``a.b`` and ``a.x.b.y.b``. tchu rejects what RabbitMQ accepts but nobody means: empty words
(``user..created``) and wildcards glued to text (``user*``), with a message that says the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tchu.errors import InvalidPatternError, InvalidRoutingKeyError

__all__ = ["TopicPattern", "compile_pattern", "topic_matches", "validate_routing_key"]

MAX_KEY_BYTES = 255  # AMQP 0-9-1 shortstr limit, for routing keys and binding keys alike


_valid_keys: set[str] = set()  # keys already checked, so a publish checks its key once per process
VALID_KEYS_KEPT = 10_000


def validate_routing_key(routing_key: object) -> str:
    """Return ``routing_key`` if it can be published, else raise :class:`InvalidRoutingKeyError`."""
    if isinstance(routing_key, str) and routing_key in _valid_keys:
        return routing_key
    if not isinstance(routing_key, str) or not routing_key:
        raise InvalidRoutingKeyError(f"routing key must be a non-empty string, got {routing_key!r}")
    if len(routing_key.encode()) > MAX_KEY_BYTES:
        raise InvalidRoutingKeyError(f"routing key {routing_key[:40]!r}... is over {MAX_KEY_BYTES} bytes")
    for word in routing_key.split("."):
        if not word:
            raise InvalidRoutingKeyError(
                f"routing key {routing_key!r} has an empty word: remove the leading, trailing or doubled '.'"
            )
        if "*" in word or "#" in word:
            raise InvalidRoutingKeyError(
                f"routing key {routing_key!r} contains a wildcard: events are published to one concrete key "
                "such as 'user.created'; wildcards belong in @subscribe patterns"
            )
    if len(_valid_keys) < VALID_KEYS_KEPT:  # bounded: keys made from data must not grow it without end
        _valid_keys.add(routing_key)
    return routing_key


@dataclass(frozen=True, slots=True)
class TopicPattern:
    """A validated subscription pattern, compiled once."""

    pattern: str
    words: tuple[str, ...]

    @property
    def is_exact(self) -> bool:
        """True when the pattern has no wildcard and so names exactly one routing key."""
        return "*" not in self.words and "#" not in self.words

    def matches(self, routing_key: str) -> bool:
        """Whether RabbitMQ would deliver ``routing_key`` to a queue bound with this pattern."""
        if self.is_exact:
            return routing_key == self.pattern
        return _match(self.words, tuple(routing_key.split(".")))


def compile_pattern(pattern: object) -> TopicPattern:
    """Validate ``pattern`` and compile it, or raise :class:`InvalidPatternError` saying the fix.

    Example:
        >>> compile_pattern("user.*").matches("user.created")
        True
    """
    if not isinstance(pattern, str) or not pattern:
        raise InvalidPatternError(f"pattern must be a non-empty string such as 'user.*', got {pattern!r}")
    return _compile(pattern)


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> TopicPattern:
    if len(pattern.encode()) > MAX_KEY_BYTES:
        raise InvalidPatternError(f"pattern {pattern[:40]!r}... is over {MAX_KEY_BYTES} bytes")
    words = tuple(pattern.split("."))
    for word in words:
        if not word:
            raise InvalidPatternError(
                f"pattern {pattern!r} has an empty word: remove the leading, trailing or doubled '.'"
            )
        if word not in {"*", "#"} and ("*" in word or "#" in word):
            one, many = (_respell(words, word, w) for w in ("*", "#"))
            raise InvalidPatternError(
                f"pattern {pattern!r}: wildcards match whole words only, so {word!r} would match only itself "
                f"in RabbitMQ; write {one!r} for exactly one word there or {many!r} for any number of words"
            )
    return TopicPattern(pattern, words)


def _respell(words: tuple[str, ...], bad: str, wildcard: str) -> str:
    # 'user*' -> 'user.*', '*user' -> '*.user', 'u*r' -> 'u.*.r': the wildcard becomes a word of its own.
    fixed = re.sub(r"[*#]+", f".{wildcard}.", bad).strip(".")
    fixed = re.sub(r"\.{2,}", ".", fixed)
    return ".".join(fixed if w == bad else w for w in words)


def topic_matches(pattern: str, routing_key: str) -> bool:
    """Whether a queue bound with ``pattern`` receives events published with ``routing_key``."""
    return compile_pattern(pattern).matches(routing_key)


def _match(pattern: tuple[str, ...], key: tuple[str, ...]) -> bool:
    # Positions in the pattern still alive after consuming each word of the key. A '#' may stand for zero
    # words, so reaching it also makes the position after it alive. Linear in len(pattern) * len(key).
    alive = _close({0}, pattern)
    for word in key:
        step: set[int] = set()
        for i in alive:
            if i == len(pattern):
                continue
            part = pattern[i]
            if part == "#":
                step.add(i)  # '#' absorbs this word and stays
            elif part in {"*", word}:
                step.add(i + 1)
        if not step:
            return False
        alive = _close(step, pattern)
    return len(pattern) in alive


def _close(positions: set[int], pattern: tuple[str, ...]) -> set[int]:
    closed = set(positions)
    todo = list(positions)
    while todo:
        i = todo.pop()
        if i < len(pattern) and pattern[i] == "#" and i + 1 not in closed:
            closed.add(i + 1)
            todo.append(i + 1)
    return closed
