"""Router: subscriptions and responders owned by an instance, matched with RabbitMQ's topic semantics."""

from __future__ import annotations

from typing import Any

import pytest

from tchu.errors import InvalidPatternError, SetupError
from tchu.router import Router, default_router, patterns_of


def on_created(data: dict[str, Any]) -> None:
    pass


def on_any_user(data: dict[str, Any]) -> None:
    pass


def on_everything(data: dict[str, Any]) -> None:
    pass


# ------------------------------------------------------------------------------------------- subscribe


@pytest.mark.parametrize("pattern", ["user*", "user..created", "*user", ".user", "", "a.b#"])
def test_subscribe_rejects_bad_patterns_at_decoration_time(pattern: str) -> None:
    router = Router()
    with pytest.raises(InvalidPatternError):
        router.subscribe(pattern)  # no function needed: the pattern is checked before decorating
    assert router.subscriptions() == ()


def test_subscribe_error_says_the_fix() -> None:
    with pytest.raises(InvalidPatternError, match=r"'user\.\*'"):
        Router().subscribe("user*")


def test_decorator_returns_the_function_unchanged() -> None:
    router = Router()

    def handler(data: dict[str, Any]) -> str:
        return "ran"

    decorated = router.subscribe("user.created")(handler)
    assert decorated is handler
    assert decorated({}) == "ran"


def test_subscription_records_id_name_and_metadata() -> None:
    router = Router()
    router.subscribe("user.created", name="welcome", metadata={"team": "growth"})(on_created)
    (sub,) = router.subscriptions()
    assert sub.handler is on_created
    assert sub.handler_id == f"{__name__}.on_created"
    assert sub.name == "welcome"
    assert dict(sub.metadata) == {"team": "growth"}
    assert sub.pattern.pattern == "user.created"


def test_name_defaults_to_the_function_name() -> None:
    router = Router()
    router.subscribe("user.created", handler_id="custom-id")(on_created)
    (sub,) = router.subscriptions()
    assert (sub.handler_id, sub.name) == ("custom-id", "on_created")


def test_registering_the_same_function_twice_keeps_one_subscription() -> None:
    router = Router()
    router.subscribe("user.created")(on_created)
    router.subscribe("user.created")(on_created)
    assert [s.handler for s in router.subscriptions()] == [on_created]
    assert router.handlers_for("user.created") == router.subscriptions()


def test_same_handler_id_for_the_same_pattern_keeps_one_subscription() -> None:
    # a module imported twice (e.g. under two names) defines new function objects with the same id
    router = Router()

    def first(data: dict[str, Any]) -> None:
        pass

    def second(data: dict[str, Any]) -> None:
        pass

    router.subscribe("user.created", handler_id="svc.on_created")(first)
    router.subscribe("user.created", handler_id="svc.on_created")(second)
    (sub,) = router.subscriptions()
    assert sub.handler is second  # the re-import replaces
    assert sub.handler_id == "svc.on_created"


def test_replacement_keeps_the_registration_position() -> None:
    router = Router()
    router.subscribe("user.#", handler_id="a")(on_any_user)
    router.subscribe("user.#", handler_id="b")(on_everything)
    router.subscribe("user.#", handler_id="a")(on_created)
    assert [s.handler_id for s in router.handlers_for("user.created")] == ["a", "b"]
    assert router.handlers_for("user.created")[0].handler is on_created


def test_the_same_function_on_two_patterns_gives_two_subscriptions_but_runs_once() -> None:
    router = Router()
    router.subscribe("user.created")(on_created)
    router.subscribe("user.*")(on_created)
    assert [s.pattern.pattern for s in router.subscriptions()] == ["user.created", "user.*"]
    assert [s.pattern.pattern for s in router.handlers_for("user.created")] == ["user.created"]  # once per event
    assert [s.pattern.pattern for s in router.handlers_for("user.deleted")] == ["user.*"]


def test_explicit_handler_ids_keep_overlapping_registrations_apart() -> None:
    router = Router()
    router.add("user.created", on_created, handler_id="audit")
    router.add("user.*", on_created, handler_id="metrics")
    assert [s.handler_id for s in router.handlers_for("user.created")] == ["audit", "metrics"]


def test_add_is_the_non_decorator_form_and_rejects_non_callables() -> None:
    router = Router()
    sub = router.add("order.*", on_created, handler_id="x")
    assert router.subscriptions() == (sub,)
    with pytest.raises(SetupError, match="callable"):
        router.add("order.*", "not a function")  # type: ignore[arg-type]
    with pytest.raises(InvalidPatternError):
        router.add("order*", on_created)


# ----------------------------------------------------------------------------------------- handlers_for

# (routing key, handler ids expected, in registration order) for the router built below.
ROUTING = [
    ("user.created", ["exact", "star", "hash", "created", "all"]),
    ("user.deleted", ["star", "hash", "all"]),
    ("user", ["hash", "all"]),
    ("user.profile.updated", ["hash", "all"]),
    ("order.created", ["created", "all"]),
    ("order.item.created", ["all"]),
    ("users.created", ["created", "all"]),
]


def routing_router() -> Router:
    router = Router()
    router.add("user.created", on_created, handler_id="exact")
    router.add("user.*", on_any_user, handler_id="star")
    router.add("user.#", on_any_user, handler_id="hash")
    router.add("*.created", on_created, handler_id="created")
    router.add("#", on_everything, handler_id="all")
    return router


@pytest.mark.parametrize(("key", "expected"), ROUTING)
def test_handlers_for_follows_rabbitmq_semantics_and_registration_order(key: str, expected: list[str]) -> None:
    router = routing_router()
    assert [s.handler_id for s in router.handlers_for(key)] == expected
    assert [s.handler_id for s in router.handlers_for(key)] == expected  # cached answer is the same


def test_handlers_for_cache_is_invalidated_by_later_subscribe() -> None:
    router = Router()
    router.add("user.*", on_any_user, handler_id="first")
    assert [s.handler_id for s in router.handlers_for("user.created")] == ["first"]
    assert router.handlers_for("order.created") == ()
    router.add("#.created", on_created, handler_id="second")
    assert [s.handler_id for s in router.handlers_for("user.created")] == ["first", "second"]
    assert [s.handler_id for s in router.handlers_for("order.created")] == ["second"]


def test_handlers_for_cache_is_invalidated_by_replacement_and_clear() -> None:
    router = Router()
    router.add("user.*", on_any_user, handler_id="h")
    assert router.handlers_for("user.created")[0].handler is on_any_user
    router.add("user.*", on_created, handler_id="h")
    assert router.handlers_for("user.created")[0].handler is on_created
    router.clear()
    assert router.handlers_for("user.created") == ()


def test_patterns_are_sorted_and_distinct() -> None:
    router = Router()
    router.add("user.*", on_any_user)
    router.add("order.#", on_everything)
    router.add("user.*", on_created)
    router.add("#", on_everything)
    assert router.patterns() == ["#", "order.#", "user.*"]
    other = Router()
    other.add("audit.#", on_everything)
    other.add("user.*", on_everything)
    assert patterns_of([router, other]) == ["#", "audit.#", "order.#", "user.*"]


# ---------------------------------------------------------------------------------------------- respond


@pytest.mark.parametrize("key", ["order.*", "order.#", "#", "order*", "", "order..total"])
def test_respond_rejects_wildcards_and_bad_keys(key: str) -> None:
    router = Router()
    with pytest.raises(InvalidPatternError):
        router.respond(key)
    assert router.responders() == ()


def test_respond_registers_one_responder_and_returns_the_function() -> None:
    router = Router()

    def total(data: dict[str, Any]) -> dict[str, Any]:
        return {"total": 1}

    assert router.respond("order.calculate_total")(total) is total
    responder = router.responder_for("order.calculate_total")
    assert responder is not None
    assert responder.handler is total
    assert responder.handler_id.endswith(".total")
    assert router.responder_for("order.other") is None
    assert router.handlers_for("order.calculate_total") == ()  # a responder is not a subscription


def test_a_second_different_responder_raises_naming_both() -> None:
    router = Router()

    def first(data: dict[str, Any]) -> None:
        pass

    def second(data: dict[str, Any]) -> None:
        pass

    router.respond("order.total", handler_id="svc.first")(first)
    with pytest.raises(SetupError) as info:
        router.respond("order.total", handler_id="svc.second")(second)
    assert "svc.first" in str(info.value)
    assert "svc.second" in str(info.value)
    assert "'order.total'" in str(info.value)
    responder = router.responder_for("order.total")
    assert responder is not None
    assert responder.handler is first


def test_re_registering_the_same_responder_is_fine() -> None:
    router = Router()
    router.respond("order.total")(on_created)
    router.respond("order.total")(on_created)
    router.respond("order.total", handler_id=f"{__name__}.on_created")(on_everything)  # a re-import
    assert [r.routing_key for r in router.responders()] == ["order.total"]
    responder = router.responder_for("order.total")
    assert responder is not None
    assert responder.handler is on_everything


def test_responders_are_sorted_by_routing_key() -> None:
    router = Router()
    router.respond("b.x", handler_id="b")(on_created)
    router.respond("a.x", handler_id="a")(on_created)
    assert [r.routing_key for r in router.responders()] == ["a.x", "b.x"]


# ----------------------------------------------------------------------------------------------- include


def test_include_router_copies_subscriptions_and_responders() -> None:
    inner = Router()
    inner.subscribe("user.*", name="n", handler_id="inner.user", metadata={"m": 1})(on_any_user)
    inner.respond("user.lookup", handler_id="inner.lookup")(on_created)
    outer = Router()
    outer.subscribe("order.created")(on_created)
    outer.include_router(inner)

    assert [s.handler_id for s in outer.subscriptions()] == [f"{__name__}.on_created", "inner.user"]
    copied = outer.subscriptions()[1]
    assert (copied.name, dict(copied.metadata), copied.handler) == ("n", {"m": 1}, on_any_user)
    responder = outer.responder_for("user.lookup")
    assert responder is not None
    assert (responder.handler, responder.handler_id) == (on_created, "inner.lookup")
    assert outer.patterns() == ["order.created", "user.*"]
    assert [s.handler_id for s in outer.handlers_for("user.created")] == ["inner.user"]


def test_include_router_twice_does_not_duplicate() -> None:
    inner = Router()
    inner.add("user.*", on_any_user)
    inner.respond("user.lookup")(on_created)
    outer = Router()
    outer.include_router(inner)
    outer.include_router(inner)
    assert len(outer.subscriptions()) == 1
    assert len(outer.responders()) == 1


def test_include_router_with_a_conflicting_responder_raises() -> None:
    inner = Router()
    inner.respond("user.lookup", handler_id="inner")(on_created)
    outer = Router()
    outer.respond("user.lookup", handler_id="outer")(on_everything)
    with pytest.raises(SetupError, match="inner"):
        outer.include_router(inner)


def test_a_fresh_router_is_independent_of_default_router() -> None:
    before = default_router.subscriptions()
    router = Router()
    router.add("independence.test", on_created)
    router.respond("independence.call")(on_created)
    assert default_router.subscriptions() == before
    assert default_router.handlers_for("independence.test") == ()
    assert default_router.responder_for("independence.call") is None
    assert Router().subscriptions() == ()


def test_of_modules_keeps_only_the_handlers_defined_in_those_modules() -> None:
    router = Router()
    router.add("user.*", lambda _: None, handler_id="shop.users.subscribers.track")
    router.add("#", lambda _: None, handler_id="shop.analytics.subscribers.count", retry=None)
    router.add("user.created", lambda _: None, handler_id="shop.users.subscribers_extra.other")
    router.respond("user.validate", handler_id="shop.users.subscribers.validate")(lambda _: {})
    router.respond("order.total", handler_id="shop.orders.subscribers.total")(lambda _: {})
    users = router.of_modules(["shop.users.subscribers"])
    assert [s.handler_id for s in users.subscriptions()] == ["shop.users.subscribers.track"]
    assert [r.routing_key for r in users.responders()] == ["user.validate"]
    assert users.patterns() == ["user.*"]
    assert router.of_modules([]).subscriptions() == ()
