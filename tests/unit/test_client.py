"""TchuClient: tchu-tchu 2.2.3's publish/call signature over any transport."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from doubles import RecordingTransport
from pydantic import BaseModel

from tchu._celery import CeleryTransport
from tchu.catalog import Catalog, EventSchema
from tchu.client import TchuClient
from tchu.envelope import Envelope
from tchu.errors import PayloadError, PayloadValidationError


@dataclasses.dataclass
class LegacyUser:
    user_id: int
    email: str


class LegacySerializer:
    """A tchu-tchu 2.x style serializer: ``serialize(data) -> JSON str``."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def serialize(self, data: Any) -> str:
        self.seen.append(data)
        return json.dumps(dataclasses.asdict(data))


class UserModel(BaseModel):
    user_id: int
    email: str


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport(reply=lambda env: {"echo": env.payload})


@pytest.fixture
def client(transport: RecordingTransport) -> TchuClient:
    return TchuClient(transport=transport, catalog=Catalog())


def test_publish_returns_the_event_id(client: TchuClient, transport: RecordingTransport) -> None:
    event_id = client.publish("user.created", {"user_id": 1, "email": "a@example.com"})
    (env,) = transport.sent
    assert env.event_id == event_id
    assert (env.routing_key, env.payload) == ("user.created", {"user_id": 1, "email": "a@example.com"})


def test_publish_accepts_the_2x_keyword_arguments(client: TchuClient, transport: RecordingTransport) -> None:
    client.publish("user.created", {"a": 1}, content_type="application/json")
    client.publish("user.created", {"a": 2}, delivery_mode=2)
    client.publish("user.created", {"a": 3}, content_type="application/json", delivery_mode=1)
    assert [env.payload["a"] for env in transport.sent] == [1, 2, 3]


def test_call_accepts_the_2x_keyword_arguments(client: TchuClient, transport: RecordingTransport) -> None:
    reply = client.call("user.lookup", {"id": 1}, 5, content_type="application/json", delivery_mode=2)
    assert reply == {"echo": {"id": 1}}
    assert transport.calls[0][1] == 5


@pytest.mark.parametrize("content_type", ["application/x-python-serialize", "text/plain", "application/yaml"])
def test_other_content_types_are_rejected(client: TchuClient, transport: RecordingTransport, content_type: str) -> None:
    with pytest.raises(ValueError, match=content_type):
        client.publish("user.created", {}, content_type=content_type)
    with pytest.raises(ValueError, match=content_type):
        client.call("user.lookup", {}, content_type=content_type)
    assert transport.sent == []
    assert transport.calls == []


def test_unknown_keyword_arguments_are_a_type_error_naming_them(
    client: TchuClient, transport: RecordingTransport
) -> None:
    with pytest.raises(TypeError) as info:
        client.publish("user.created", {}, priority=5, exchange="x", delivery_mode=2)
    assert "'exchange'" in str(info.value)
    assert "'priority'" in str(info.value)
    assert "delivery_mode" not in str(info.value)
    with pytest.raises(TypeError, match="'retry'"):
        client.call("user.lookup", {}, retry=True)
    assert transport.sent == []
    assert transport.calls == []


def test_correlation_id_keyword(client: TchuClient, transport: RecordingTransport) -> None:
    client.publish("user.created", {}, correlation_id="corr-1")
    client.call("user.lookup", {}, correlation_id=1234)
    assert transport.sent[0].correlation_id == "corr-1"
    assert transport.calls[0][0].correlation_id == "1234"


def test_call_returns_the_reply_and_passes_the_timeout(client: TchuClient, transport: RecordingTransport) -> None:
    assert client.call("user.lookup", {"id": 7}, timeout=2.5) == {"echo": {"id": 7}}
    ((env, timeout),) = transport.calls
    assert (env.routing_key, timeout) == ("user.lookup", 2.5)
    assert client.call("user.lookup", {"id": 8}) == {"echo": {"id": 8}}
    assert transport.calls[1][1] == 30.0


def test_serializer_is_used_for_non_dict_data(transport: RecordingTransport) -> None:
    serializer = LegacySerializer()
    client = TchuClient(serializer=serializer, transport=transport, catalog=Catalog())
    user = LegacyUser(1, "a@example.com")
    client.publish("user.created", user)
    client.call("user.lookup", LegacyUser(2, "b@example.com"))
    assert serializer.seen == [user, LegacyUser(2, "b@example.com")]
    assert transport.sent[0].payload == {"user_id": 1, "email": "a@example.com"}
    assert transport.calls[0][0].payload == {"user_id": 2, "email": "b@example.com"}


def test_serializer_is_not_used_for_dicts_json_text_or_models(transport: RecordingTransport) -> None:
    serializer = LegacySerializer()
    client = TchuClient(serializer=serializer, transport=transport, catalog=Catalog())
    client.publish("user.created", {"user_id": 1})
    client.publish("user.created", '{"user_id": 2}')
    client.publish("user.created", b'{"user_id": 3}')
    client.publish("user.created", UserModel(user_id=4, email="d@x"))
    assert serializer.seen == []
    assert [env.payload["user_id"] for env in transport.sent] == [1, 2, 3, 4]


def test_without_a_serializer_other_objects_are_rejected(client: TchuClient, transport: RecordingTransport) -> None:
    with pytest.raises(PayloadError, match=r"'user\.created'"):
        client.publish("user.created", LegacyUser(1, "a@b"))
    assert transport.sent == []


def test_client_validates_against_its_catalog(transport: RecordingTransport) -> None:
    catalog = Catalog()
    catalog.register(EventSchema("user.created", {"type": "object", "required": ["user_id"]}, version=2))
    client = TchuClient(transport=transport, catalog=catalog)
    with pytest.raises(PayloadValidationError, match=r"\$\.user_id: is required"):
        client.publish("user.created", {})
    assert transport.sent == []
    client.publish("user.created", {"user_id": 1})
    assert transport.sent[0].schema_version == 2


def test_close_and_context_manager_close_the_transport(transport: RecordingTransport) -> None:
    with TchuClient(transport=transport, catalog=Catalog()) as client:
        client.publish("user.created", {})
        assert transport.closed == 0
    assert transport.closed == 1
    client.close()
    assert transport.closed == 2


def test_close_is_fine_for_a_transport_without_close() -> None:
    class SendOnly:
        def send(self, envelope: Envelope) -> None:
            self.last = envelope

        def call(self, envelope: Envelope, timeout: float) -> Any:
            return (envelope, timeout)

    TchuClient(transport=SendOnly()).close()


def test_given_transport_is_used(transport: RecordingTransport) -> None:
    assert TchuClient(transport=transport).transport is transport
    assert TchuClient(transport=transport).publisher.transport is transport


def test_default_transport_is_celery_and_connects_lazily() -> None:
    client = TchuClient(confirm=False)
    assert isinstance(client.transport, CeleryTransport)
    assert client.transport.confirm is False
    client.close()  # nothing was opened, nothing to close


class CountingTransport(RecordingTransport):
    """A transport that reports how many events it holds, as in-memory queues do."""

    def __len__(self) -> int:
        return len(self.sent)


def test_an_empty_in_memory_transport_is_still_used() -> None:
    transport = CountingTransport()
    client = TchuClient(transport=transport, catalog=Catalog())
    assert client.transport is transport


# --- batches ------------------------------------------------------------------------------------------------


class BatchingTransport(RecordingTransport):
    """Records each ``send_many`` call as one list."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Envelope]] = []

    def send_many(self, envelopes: list[Envelope]) -> None:
        self.batches.append(list(envelopes))


def test_publish_many_validates_everything_before_sending_anything() -> None:
    transport = BatchingTransport()
    catalog = Catalog()
    catalog.register(
        EventSchema("user.created", {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}})
    )
    client = TchuClient(transport=transport, catalog=catalog)
    good = ("user.created", {"user_id": 1, "email": "a@example.com"})
    with pytest.raises(PayloadValidationError, match=r"\$\.email") as info:
        client.publish_many([good, good, ("user.created", {"user_id": 3, "email": "nope"}), good])
    assert "event 2 of the batch ('user.created'); nothing of the batch was sent" in info.value.__notes__
    assert transport.batches == []
    assert transport.sent == []


def test_publish_many_sends_one_batch_and_returns_the_ids_in_order(client: TchuClient) -> None:
    transport = BatchingTransport()
    client = TchuClient(transport=transport, catalog=client.publisher.catalog)
    ids = client.publish_many([("user.created", {"user_id": i, "email": "a@example.com"}) for i in range(3)])
    (batch,) = transport.batches
    assert [env.event_id for env in batch] == ids
    assert [env.payload["user_id"] for env in batch] == [0, 1, 2]


def test_nested_batches_send_once_when_the_outermost_ends(client: TchuClient) -> None:
    transport = BatchingTransport()
    client = TchuClient(transport=transport)
    with client.batch():
        client.publish("a.b", {})
        with client.batch():
            client.publish("a.c", {})
        assert transport.batches == []
    assert [[env.routing_key for env in batch] for batch in transport.batches] == [["a.b", "a.c"]]


def test_a_transport_without_send_many_gets_the_batch_one_by_one(
    client: TchuClient, transport: RecordingTransport
) -> None:
    with client.batch():
        client.publish("a.b", {})
        client.publish("a.c", {})
        assert transport.sent == []
    assert [env.routing_key for env in transport.sent] == ["a.b", "a.c"]


def test_an_empty_batch_sends_nothing() -> None:
    transport = BatchingTransport()
    with TchuClient(transport=transport).batch():
        pass
    assert transport.batches == []


def test_a_batch_belongs_to_its_thread(client: TchuClient, transport: RecordingTransport) -> None:
    import threading  # noqa: PLC0415

    with client.batch():
        worker = threading.Thread(target=client.publish, args=("other.thread", {}))
        worker.start()
        worker.join()
        assert [env.routing_key for env in transport.sent] == ["other.thread"]  # not held by this thread's batch
        client.publish("this.thread", {})
    assert [env.routing_key for env in transport.sent] == ["other.thread", "this.thread"]
