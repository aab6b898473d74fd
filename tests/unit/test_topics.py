"""RabbitMQ topic matching: known cases, validation errors, and properties checked against brute force."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tchu.errors import InvalidPatternError, InvalidRoutingKeyError, TchuError
from tchu.topics import TopicPattern, compile_pattern, topic_matches, validate_routing_key


def reference_match(pattern: tuple[str, ...], key: tuple[str, ...]) -> bool:
    """Brute force from the definition: try every number of words each '#' can absorb.

    Deliberately shares nothing with the implementation's position-set algorithm.
    """
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(reference_match(rest, key[taken:]) for taken in range(len(key) + 1))
    if not key:
        return False
    return head in {"*", key[0]} and reference_match(rest, key[1:])


# (pattern, routing key, RabbitMQ delivers?)
KNOWN_CASES = [
    # '#' matches zero words
    ("user.#", "user", True),
    ("user.#", "user.created", True),
    ("user.#", "user.profile.updated", True),
    ("user.#", "users", False),
    ("user.#", "order.user", False),
    ("#.user", "user", True),
    ("#.user", "a.b.user", True),
    ("#.user", "user.a", False),
    ("#.*.*.test", "1.2.test", True),
    ("#.*.*.test", "0.1.2.test", True),
    ("#.*.*.test", "2.test", False),
    ("#.*.*.test", "1.2.test.x", False),
    ("a.#.b", "a.b", True),
    ("a.#.b", "a.x.b", True),
    ("a.#.b", "a.x.b.y.b", True),
    ("a.#.b", "a.x.b.y", False),
    ("a.#.b", "a", False),
    ("a.#.b", "b", False),
    ("a.#.b.#.c", "a.b.c", True),
    ("a.#.b.#.c", "a.c.b.c", True),
    ("a.#.b.#.c", "a.c.c", False),
    # '#' alone matches everything
    ("#", "a", True),
    ("#", "user", True),
    ("#", "user.profile.updated", True),
    ("#", "a.b.c.d.e.f.g", True),
    ("#.#", "a", True),
    ("#.#", "a.b.c", True),
    ("#.#.#", "a", True),
    # '*' is exactly one word: the tchu-tchu 2.2.3 bug treated it as "one or more"
    ("user.*", "user.created", True),
    ("user.*", "user.profile.updated", False),
    ("user.*", "user", False),
    ("user.*", "order.created", False),
    ("*", "a", True),
    ("*", "a.b", False),
    ("*.*", "a", False),
    ("*.*", "a.b", True),
    ("*.*", "a.b.c", False),
    ("*.created", "user.created", True),
    ("*.created", "user.profile.created", False),
    ("*.#", "a", True),
    ("#.*", "a", True),
    ("#.*", "a.b.c", True),
    ("*.#.*", "a", False),
    ("*.#.*", "a.b", True),
    ("*.#.*", "a.b.c.d", True),
    ("a.*.#", "a", False),
    ("a.*.#", "a.b", True),
    ("a.*.#", "a.b.c.d", True),
    ("a.#.*", "a", False),
    ("a.#.*", "a.b", True),
    ("#.a.#", "a", True),
    ("#.a.#", "x.a.y", True),
    ("#.a.#", "x.y", False),
    # exact patterns
    ("user.created", "user.created", True),
    ("user.created", "user.created.v2", False),
    ("user.created", "user", False),
    ("user.created", "User.created", False),
    ("user", "user", True),
    ("user", "user.created", False),
]


@pytest.mark.parametrize(("pattern", "key", "expected"), KNOWN_CASES)
def test_known_cases(pattern: str, key: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(key) is expected
    assert topic_matches(pattern, key) is expected
    assert reference_match(tuple(pattern.split(".")), tuple(key.split("."))) is expected


@pytest.mark.parametrize(
    ("pattern", "exact"),
    [("user.created", True), ("a", True), ("user.*", False), ("#", False), ("a.#.b", False), ("*", False)],
)
def test_is_exact(pattern: str, exact: bool) -> None:
    compiled = compile_pattern(pattern)
    assert isinstance(compiled, TopicPattern)
    assert compiled.is_exact is exact
    assert compiled.pattern == pattern
    assert compiled.words == tuple(pattern.split("."))


def test_compile_pattern_is_cached_and_frozen() -> None:
    compiled = compile_pattern("order.#")
    assert compile_pattern("order.#") is compiled
    with pytest.raises(AttributeError):
        compiled.pattern = "x"  # type: ignore[misc]


def test_errors_are_value_errors() -> None:
    assert issubclass(InvalidPatternError, ValueError)
    assert issubclass(InvalidPatternError, TchuError)
    assert issubclass(InvalidRoutingKeyError, ValueError)
    assert issubclass(InvalidRoutingKeyError, TchuError)


# (invalid pattern, fragments its message must contain)
INVALID_PATTERNS = [
    ("user*", ["'user*'", "'user.*'"]),
    ("user#", ["'user#'", "'user.#'"]),
    ("a#", ["'a.#'"]),
    ("order.item*", ["'item*'", "'order.item.*'"]),
    ("a.b*.c", ["'b*'", "'a.b.*.c'"]),
    ("a..b", ["empty word", "doubled"]),
    (".a", ["empty word", "leading"]),
    ("a.", ["empty word", "trailing"]),
    ("..", ["empty word"]),
    (".", ["empty word"]),
    ("#..#", ["empty word"]),
    ("user.*.", ["empty word"]),
]


@pytest.mark.parametrize(("pattern", "fragments"), INVALID_PATTERNS)
def test_invalid_pattern_says_the_fix(pattern: str, fragments: list[str]) -> None:
    with pytest.raises(InvalidPatternError) as info:
        compile_pattern(pattern)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    with pytest.raises(InvalidPatternError):
        topic_matches(pattern, "a.b")


@pytest.mark.parametrize("pattern", ["*user", "u*r", "**", "##", "*#", "a.#b", "a.b#.c"])
def test_glued_wildcards_are_rejected(pattern: str) -> None:
    with pytest.raises(InvalidPatternError, match="whole words"):
        compile_pattern(pattern)


@pytest.mark.parametrize("pattern", ["", None, 5, 1.5, b"user.*", ("user", "*")])
def test_pattern_must_be_non_empty_string(pattern: object) -> None:
    with pytest.raises(InvalidPatternError, match="non-empty string"):
        compile_pattern(pattern)


@pytest.mark.parametrize("pattern", [["user", "*"], {"user": "*"}])
def test_unhashable_pattern_raises_invalid_pattern(pattern: object) -> None:
    with pytest.raises(InvalidPatternError, match="non-empty string"):
        compile_pattern(pattern)


def test_pattern_length_limit_is_255_bytes() -> None:
    fits = "a." * 127 + "#"
    assert len(fits.encode()) == 255
    assert compile_pattern(fits).matches("a." * 126 + "a")
    assert compile_pattern("é" * 127 + "a").is_exact  # 255 bytes though only 128 characters
    for too_long in ["a." * 128 + "#", "é" * 128, "x" * 256, "é." * 85 + "#"]:
        assert len(too_long.encode()) > 255
        with pytest.raises(InvalidPatternError, match="255 bytes"):
            compile_pattern(too_long)


@pytest.mark.parametrize(
    "key", ["user", "user.created", "a.b.c.d", "1.2.test", "Ünïcode.key", "x" * 255, "a." * 127 + "a"]
)
def test_valid_routing_keys_are_returned(key: str) -> None:
    assert validate_routing_key(key) == key


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "non-empty string"),
        (None, "non-empty string"),
        (7, "non-empty string"),
        (b"user.created", "non-empty string"),
        (["user", "created"], "non-empty string"),
        ("user.*", "wildcard"),
        ("user.#", "wildcard"),
        ("*", "wildcard"),
        ("#", "wildcard"),
        ("user*", "wildcard"),
        ("a.b#c", "wildcard"),
        ("a..b", "empty word"),
        (".a", "empty word"),
        ("a.", "empty word"),
        (".", "empty word"),
        ("x" * 256, "255 bytes"),
        ("é" * 128, "255 bytes"),
        ("a." * 127 + "ab", "255 bytes"),
    ],
)
def test_invalid_routing_keys(key: object, fragment: str) -> None:
    with pytest.raises(InvalidRoutingKeyError) as info:
        validate_routing_key(key)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------------------------------------------------
# Property test: a small alphabet so that matches (and '#' absorbing 0..n words) are frequent.

KEY_WORDS = st.sampled_from(["a", "b", "c"])
PATTERN_WORDS = st.sampled_from(["a", "b", "c", "*", "#"])
KEYS = st.lists(KEY_WORDS, min_size=1, max_size=6).map(".".join)
PATTERNS = st.lists(PATTERN_WORDS, min_size=1, max_size=6).map(".".join)


@settings(max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=PATTERNS, key=KEYS)
def test_matches_agrees_with_brute_force(pattern: str, key: str) -> None:
    expected = reference_match(tuple(pattern.split(".")), tuple(key.split(".")))
    assert compile_pattern(pattern).matches(key) is expected
    assert topic_matches(pattern, key) is expected


@settings(max_examples=300, deadline=None, database=None)
@given(pattern=PATTERNS)
def test_a_pattern_matches_its_own_instances(pattern: str) -> None:
    # Replacing '*' by a word and '#' by zero, one or two words always yields a key the pattern matches.
    compiled = compile_pattern(pattern)
    for hash_words in ([], ["c"], ["a", "b"]):
        words: list[str] = []
        for part in pattern.split("."):
            if part == "*":
                words.append("b")
            elif part == "#":
                words.extend(hash_words)
            else:
                words.append(part)
        if words:
            assert compiled.matches(".".join(words))


@settings(max_examples=300, deadline=None, database=None)
@given(words=st.lists(KEY_WORDS, min_size=1, max_size=6), other=KEYS)
def test_exact_pattern_matches_only_itself(words: list[str], other: str) -> None:
    key = ".".join(words)
    compiled = compile_pattern(key)
    assert compiled.is_exact
    assert compiled.matches(key)
    assert compiled.matches(other) is (other == key)
    assert validate_routing_key(key) == key


@pytest.mark.parametrize(
    ("pattern", "one", "many"),
    [
        ("user*", "user.*", "user.#"),
        ("*user", "*.user", "#.user"),
        ("u*r.created", "u.*.r.created", "u.#.r.created"),
        ("a.*#", "a.*", "a.#"),
    ],
)
def test_glued_wildcard_message_spells_the_whole_fixed_pattern(pattern: str, one: str, many: str) -> None:
    with pytest.raises(InvalidPatternError) as info:
        compile_pattern(pattern)
    assert f"write {one!r} for exactly one word" in str(info.value)
    assert f"{many!r} for any number of words" in str(info.value)
