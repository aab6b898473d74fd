"""The wildcard patterns the generated ``on()`` is typed for: each with exactly the events RabbitMQ would deliver."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.plan import _patterns
from tchu.catalog_files import CatalogEntry
from tchu.naming import names_for
from tchu.topics import topic_matches

WORDS = st.sampled_from(["user", "order", "created", "deleted", "a", "b", "x1"])
KEYS = st.lists(WORDS, min_size=1, max_size=4).map(".".join)


def entry(key: str) -> CatalogEntry:
    return CatalogEntry(routing_key=key, source=f"schemas/{key}.json", schema={"type": "object"})


def every_candidate(keys: list[str]) -> set[str]:
    candidates = {"#", *keys}
    for key in keys:
        words = key.split(".")
        for i in range(1, len(words)):
            prefix, suffix = ".".join(words[:i]), ".".join(words[i:])
            candidates |= {f"{prefix}.*", f"{prefix}.#", f"*.{suffix}", f"#.{suffix}"}
    return candidates


@settings(max_examples=300)
@given(st.lists(KEYS, min_size=1, max_size=12, unique=True))
def test_each_pattern_lists_every_event_it_matches_in_catalog_order(keys: list[str]) -> None:
    found = {p.pattern: p.models for p in _patterns([entry(k) for k in keys])}
    expected = {
        pattern: tuple(names_for(k).model for k in keys if topic_matches(pattern, k))
        for pattern in sorted(every_candidate(keys))
    }
    assert found == {pattern: models for pattern, models in expected.items() if models}
    assert list(found) == sorted(found)


def test_a_hash_suffix_matches_the_key_with_no_word_more() -> None:
    found = {p.pattern: p.models for p in _patterns([entry("user"), entry("user.created")])}
    assert found["user.#"] == (names_for("user").model, names_for("user.created").model)
    assert found["#.created"] == (names_for("user.created").model,)
