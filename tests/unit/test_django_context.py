"""The request context in events: captured from request-like objects, rebuilt without a database.

Neither needs Django's settings, so these run in this process; everything that does runs in
``test_django_contrib.py``'s subprocesses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest

import tchu.contrib.django as contrib
from tchu.contrib.django import (
    AnonymousEventUser,
    ContextRecord,
    EventRequest,
    EventUser,
    capture_context,
    rebuild_request,
    rebuild_request_context,
)
from tchu.errors import PayloadError
from tchu.events import TchuEvent


class Meta:
    pk = "id"


class FakeModel:
    """As far as capture_context looks: a model instance has ``_meta.pk`` and ``pk``."""

    _meta = Meta()

    def __init__(self, pk, **fields):
        self.pk = pk
        self.id = pk
        self.__dict__.update(fields)


def member_request(**request_attrs):
    company = FakeModel(3, name="Acme")
    user_company = FakeModel(11, company=company, role="buyer")
    user = FakeModel(
        7, email="ada@example.com", first_name="Ada", last_name="Lovelace", is_authenticated=True,
        user_company=user_company,
    )  # fmt: skip
    return SimpleNamespace(user=user, **request_attrs)


CARRIED = {
    "order_id": 1,
    "user": {"id": 7, "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
    "company": {"id": 3, "name": "Acme"},
    "user_company": {"id": 11},
}


def test_capture_reads_user_and_finds_the_company_through_the_membership():
    assert capture_context(member_request()) == {
        "user": {"id": 7, "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        "company": {"id": 3, "name": "Acme"},
        "user_company": {"id": 11},
    }


def test_capture_prefers_the_request_company_and_user_company():
    request = member_request(company=FakeModel(4, name="Tenant"), user_company=FakeModel(12))
    context = capture_context(request)
    assert context["company"] == {"id": 4, "name": "Tenant"}
    assert context["user_company"] == {"id": 12}


def test_capture_uses_the_users_own_company_attribute():
    request = member_request()
    request.user.user_company = None
    request.user.company = FakeModel(5, name="Own")
    assert capture_context(request) == {
        "user": CARRIED["user"],
        "company": {"id": 5, "name": "Own"},
        "user_company": None,
    }


def test_capture_without_an_authenticated_user_is_all_none():
    anonymous = SimpleNamespace(user=SimpleNamespace(is_authenticated=False, company=FakeModel(1, name="x")))
    empty = {"user": None, "company": None, "user_company": None}
    assert capture_context(anonymous) == empty
    assert capture_context(SimpleNamespace()) == empty


def test_capture_converts_values_to_json_and_related_models_to_their_key():
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    request = member_request()
    request.user.joined = dt.date(2024, 5, 1)
    request.user.key = key
    context = capture_context(request, user_fields=("id", "joined", "key", "user_company", "missing"))
    assert context["user"] == {
        "id": 7,
        "joined": "2024-05-01",
        "key": str(key),
        "user_company": 11,
        "missing": None,
    }


def test_capture_refuses_values_json_cannot_carry():
    request = member_request()
    request.user.avatar = object()
    with pytest.raises(PayloadError, match="request context field 'avatar'"):
        capture_context(request, user_fields=("avatar",))


def test_rebuild_gives_a_lightweight_user_with_company_and_membership():
    request = rebuild_request(CARRIED)
    assert isinstance(request, EventRequest)
    user = request.user
    assert isinstance(user, EventUser)
    assert (user.id, user.pk, user.email, user.first_name, user.last_name) == (
        7, 7, "ada@example.com", "Ada", "Lovelace",
    )  # fmt: skip
    assert user.is_authenticated is True
    assert user.is_anonymous is False
    assert user.company == ContextRecord({"id": 3, "name": "Acme"})
    assert (user.company.name, user.company.pk) == ("Acme", 3)
    assert user.user_company.id == 11
    assert request.company is user.company
    assert request.user_company is user.user_company


def test_a_field_the_event_did_not_carry_is_an_attribute_error():
    user = rebuild_request(CARRIED).user
    with pytest.raises(AttributeError, match="'username'"):
        _ = user.username
    assert getattr(user, "username", "default") == "default"


def test_rebuild_without_a_user_is_anonymous_but_keeps_the_company():
    request = rebuild_request({"company": {"id": 3, "name": "Acme"}, "user": None})
    assert isinstance(request.user, AnonymousEventUser)
    assert request.user.is_authenticated is False
    assert request.user.pk is None
    assert request.user.company.name == "Acme"
    assert request.user.user_company is None


@pytest.mark.parametrize("user", [None, {}, {"id": None}, "7", [7]])
def test_rebuild_treats_missing_or_malformed_users_as_anonymous(user):
    assert isinstance(rebuild_request({"user": user}).user, AnonymousEventUser)


def test_rebuild_request_context_is_a_tchu_event_context_helper():
    event = TchuEvent(topic="order.placed", context_helper=rebuild_request_context)
    event.serialize_request(CARRIED)
    context = event.request_context
    assert context is not None
    assert set(context) == {"request"}
    assert context["request"].user.email == "ada@example.com"


def test_records_compare_by_type_and_fields():
    assert ContextRecord({"id": 1}) == ContextRecord({"id": 1})
    assert ContextRecord({"id": 1}) != ContextRecord({"id": 2})
    assert EventUser({"id": 1}) != ContextRecord({"id": 1})
    assert ContextRecord({"id": 1}).as_dict() == {"id": 1}
    assert repr(ContextRecord({"id": 1})) == "ContextRecord({'id': 1})"


def test_public_names_are_sorted_and_importable():
    assert contrib.__all__ == sorted(contrib.__all__)
    assert all(hasattr(contrib, name) for name in contrib.__all__)
