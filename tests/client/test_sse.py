"""The client's Server-Sent Events parser follows the event-stream format."""

from __future__ import annotations

from tenant_registry_client.sse import HEARTBEAT, ServerSentEvent, parse


def test_messages_carry_id_event_and_multi_line_data_and_comments_are_heartbeats() -> None:
    lines = [
        ": hello",
        "id: 7",
        "event: change",
        'data: {"a":',
        "data: 1}",
        "",
        ":",
        "id: 9\r",
        "data:plain",
        "",
        "",
        "event: ignored-without-data",
        "",
    ]
    assert list(parse(iter(lines))) == [
        HEARTBEAT,
        ServerSentEvent("7", "change", '{"a":\n1}'),
        HEARTBEAT,
        ServerSentEvent("9", "message", "plain"),
    ]


def test_the_last_id_carries_over_to_messages_without_one() -> None:
    lines = ["id: 3", "data: a", "", "data: b", ""]
    assert [m.id for m in parse(iter(lines)) if isinstance(m, ServerSentEvent)] == ["3", "3"]
