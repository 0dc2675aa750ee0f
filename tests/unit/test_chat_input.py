"""What a chat request bills as input, as the hold counts it: the whole body's text, its
images by count (not by the bytes of their data), anything else as unbounded media."""

from __future__ import annotations

import json

from tollgate.proxy.chat import chat_input

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000}}


def test_tools_tool_choice_and_response_format_count_as_text():
    tools = [{"type": "function", "function": {"name": "f", "description": "d" * 5_000}}]
    schema = {"type": "json_schema", "json_schema": {"name": "s", "schema": {"x": "y" * 3_000}}}
    body = {
        "model": "openai/gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": schema,
    }

    counted = chat_input(body)

    assert counted.text_bytes >= len(json.dumps(tools)) + len(json.dumps(schema))
    assert (counted.images, counted.other_media) == (0, 0)


def test_images_are_counted_not_measured_by_their_data():
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "What?"}, IMAGE]}]}

    counted = chat_input(body)

    assert counted.images == 1
    assert counted.text_bytes < 200


def test_documents_and_audio_are_other_media():
    file_part = {"type": "file", "file": {"file_data": "data:application/pdf;base64,AAAA"}}
    audio_part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    body = {"messages": [{"role": "user", "content": [file_part, audio_part]}]}

    assert chat_input(body).other_media == 2
