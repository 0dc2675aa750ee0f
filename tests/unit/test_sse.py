"""Server-sent events, decoded incrementally and encoded for clients."""

from __future__ import annotations

from tollgate.sse import Event, SSEDecoder, encode


def test_events_split_across_chunks_are_reassembled():
    decoder = SSEDecoder()
    stream = b'event: message_start\ndata: {"a": 1}\n\ndata: [DONE]\n\n'

    events = [event for i in range(len(stream)) for event in decoder.feed(stream[i : i + 1])]

    assert events == [Event('{"a": 1}', "message_start"), Event("[DONE]")]


def test_crlf_and_cr_line_endings_both_end_lines():
    decoder = SSEDecoder()

    events = decoder.feed(b"data: one\r\n\r\ndata: two\r\r") + decoder.feed(b"data: three\n\n")

    assert [e.data for e in events] == ["one", "two", "three"]


def test_a_crlf_split_between_chunks_is_one_line_end():
    decoder = SSEDecoder()

    events = decoder.feed(b"data: one\r") + decoder.feed(b"\n\r\n")

    assert [e.data for e in events] == ["one"]


def test_comments_are_skipped_and_multiline_data_is_joined():
    decoder = SSEDecoder()

    events = decoder.feed(b": keep-alive\ndata: a\ndata: b\n\n")

    assert events == [Event("a\nb")]


def test_a_multibyte_character_split_between_chunks_survives():
    decoder = SSEDecoder()
    raw = 'data: "héllo"\n\n'.encode()
    cut = raw.index(b"\xc3") + 1

    events = decoder.feed(raw[:cut]) + decoder.feed(raw[cut:])

    assert events[0].json() == "héllo"


def test_an_unterminated_last_event_is_returned_on_close():
    decoder = SSEDecoder()
    decoder.feed(b"data: last")

    assert decoder.close() == [Event("last")]


def test_encoding_round_trips_through_the_decoder():
    raw = encode({"type": "ping"}, event="ping") + encode("[DONE]")

    assert SSEDecoder().feed(raw) == [Event('{"type":"ping"}', "ping"), Event("[DONE]")]
