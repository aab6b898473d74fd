"""One routing key, one set of names (tchu/naming.py): what the generated package calls everything."""

from __future__ import annotations

import keyword
import re
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tchu.errors import SetupError
from tchu.naming import EventNames, check_collisions, names_for


def test_names_for_user_created() -> None:
    assert names_for("user.created") == EventNames(
        routing_key="user.created",
        snake="user_created",
        model="UserCreated",
        publisher="publish_user_created",
        subscriber="on_user_created",
        caller="call_user_created",
        responder="responds_user_created",
        response_model="UserCreatedResponse",
    )


def test_names_for_three_words() -> None:
    n = names_for("order.payment.completed")
    assert (n.snake, n.model) == ("order_payment_completed", "OrderPaymentCompleted")
    assert (n.publisher, n.subscriber) == ("publish_order_payment_completed", "on_order_payment_completed")


def test_rpc_names() -> None:
    n = names_for("order.calculate_total")
    assert n.model == "OrderCalculateTotal"  # '_' inside a word also starts a capital
    assert n.caller == "call_order_calculate_total"
    assert n.responder == "responds_order_calculate_total"
    assert n.response_model == "OrderCalculateTotalResponse"


def test_single_word_and_digits() -> None:
    assert names_for("heartbeat").model == "Heartbeat"
    assert names_for("user.v2.created").model == "UserV2Created"
    assert names_for("user.created_v2").snake == "user_created_v2"


def test_key_starting_with_a_digit_gets_a_class_prefix() -> None:
    n = names_for("2fa.enabled")
    assert n.model == "Event2faEnabled"
    assert n.response_model == "Event2faEnabledResponse"
    assert n.publisher.isidentifier()


def test_keyword_key_gets_a_class_prefix() -> None:
    assert names_for("import").model == "EventImport"


@pytest.mark.parametrize("key", ["2fa.enabled", "0.updated", "import", "class"])
def test_module_name_is_an_identifier(key: str) -> None:
    snake = names_for(key).snake
    assert snake.isidentifier()
    assert not keyword.iskeyword(snake)


@pytest.mark.parametrize(
    "key",
    ["User.created", "user-created", "user..created", "", ".user", "user.", "user.*", "user.#", "usér.created", "a b"],
)
def test_invalid_keys_raise_setup_error(key: str) -> None:
    with pytest.raises(SetupError, match="cannot name an event") as info:
        names_for(key)
    assert repr(key) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("key", ["_", "__", "_._"])
def test_key_of_underscores_only_raises_setup_error(key: str) -> None:
    with pytest.raises(SetupError):
        names_for(key)


def test_collision_names_both_keys() -> None:
    with pytest.raises(SetupError) as info:
        check_collisions(["a.b_c", "user.created", "a_b.c"])
    message = str(info.value)
    assert "'a.b_c' and 'a_b.c' both generate 'a_b_c'" in message
    assert "'a.b_c' and 'a_b.c' both generate 'ABC'" in message
    assert "user.created" not in message
    assert message.endswith("rename one of each pair")


def test_collision_between_a_model_and_another_keys_response_model() -> None:
    with pytest.raises(SetupError, match=r"'a\.b' and 'a\.b\.response' both generate 'ABResponse'"):
        check_collisions(["a.b", "a.b.response"])


def test_collision_of_dotted_and_underscored_key() -> None:
    with pytest.raises(SetupError, match=r"'user\.created' and 'user_created' both generate 'user_created'"):
        check_collisions(["user_created", "user.created"])


def test_no_collision_returns_every_name() -> None:
    names = check_collisions(["user.created", "user.deleted"])
    assert names == {"user.created": names_for("user.created"), "user.deleted": names_for("user.deleted")}


def test_invalid_key_in_collision_check_raises_setup_error() -> None:
    with pytest.raises(SetupError, match=r"'User\.created'"):
        check_collisions(["user.created", "User.created"])


WORD = st.from_regex(r"[a-z][a-z0-9]{0,3}(_[a-z0-9]{1,3})?", fullmatch=True)
KEY = st.lists(WORD, min_size=1, max_size=3).map(".".join)


@given(KEY)
def test_every_name_is_a_python_identifier(key: str) -> None:
    n = names_for(key)
    for name in (n.snake, n.model, n.publisher, n.subscriber, n.caller, n.responder, n.response_model):
        assert name.isidentifier()
        assert not keyword.iskeyword(name)
    assert n.model[0].isupper()
    assert n.snake == key.replace(".", "_")


@given(st.lists(KEY, max_size=6, unique=True))
def test_collisions_match_a_brute_force_reference(keys: list[str]) -> None:
    # reference: two keys clash when they share a module name or a class name, computed independently here
    by_label: dict[str, set[str]] = defaultdict(set)
    for key in keys:
        by_label[key.replace(".", "_")].add(key)
        model = "".join(w.capitalize() for w in re.split(r"[._]", key))
        for label in (model, model + "Response"):
            by_label[label].add(key)
    clashing = {frozenset(group) for group in by_label.values() if len(group) > 1}
    if not clashing:
        assert set(check_collisions(keys)) == set(keys)
        return
    with pytest.raises(SetupError) as info:
        check_collisions(keys)
    for group in clashing:
        first, *others = sorted(group)
        assert all(f"{first!r} and {other!r}" in str(info.value) for other in others)
