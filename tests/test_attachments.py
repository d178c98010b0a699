"""Files attached to a question, through the real core and the real openai SDK: images reach
the provider as data URLs of their real type, text files inlined with their names, and every
file left out is named privately while the rest of the turn still answers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.services import Services
from bot import texts
from bot.attachments import sniff_image
from bot.domain import WorkspaceConfig
from bot.model_fit import vision_model
from bot.ports import FailureKind
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, make_key, member, with_key
from tests.fakes.files import GIF, JPEG, PNG, WEBP, data_url, in_memory
from tests.fakes.openai_server import FakeOpenAI, image_parts, text_of

ALICE = member("alice")


def last_question(fake: FakeOpenAI) -> list[dict[str, Any]]:
    body = fake.chat_requests()[-1].body
    assert body is not None
    messages: list[dict[str, Any]] = body["messages"]
    return messages


async def test_each_image_type_is_sent_as_a_data_url_of_its_real_type(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    files = (
        in_memory("a.png", "image/png", PNG),
        in_memory("b.jpg", "image/jpeg", JPEG),
        in_memory("c.gif", "image/gif", GIF),
        in_memory("d.webp", "image/webp", WEBP),
    )
    sink = RecordingSink()
    turn = await services.core.handle_message(
        replace(ask(ALICE, "what is in these?"), attachments=files), sink
    )
    assert turn is not None and turn.failure is None
    messages = last_question(fake_openai)
    assert image_parts(messages) == [
        data_url("image/png", PNG),
        data_url("image/jpeg", JPEG),
        data_url("image/gif", GIF),
        data_url("image/webp", WEBP),
    ]
    assert text_of(messages[-1]["content"]) == "what is in these?"
    assert sink.text == "You asked: what is in these?"
    assert sink.privates == []


async def test_an_image_alone_without_text_is_still_a_question(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    sink = RecordingSink()
    message = replace(ask(ALICE, ""), attachments=(in_memory("a.png", "image/png", PNG),))
    turn = await services.core.handle_message(message, sink)
    assert turn is not None
    assert image_parts(last_question(fake_openai)) == [data_url("image/png", PNG)]


async def test_mislabelled_images_go_by_their_bytes_and_text_posing_as_png_is_refused(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    sink = RecordingSink()
    files = (
        in_memory("photo.png", "image/png", JPEG),
        in_memory("notes.png", "image/png", b"just some text, not an image"),
        in_memory("noise.jpg", "image/jpeg", b"\x00\x01\x02garbage" * 10),
    )
    turn = await services.core.handle_message(replace(ask(ALICE, "look"), attachments=files), sink)
    assert turn is not None and turn.failure is None
    assert image_parts(last_question(fake_openai)) == [data_url("image/jpeg", JPEG)]
    [note] = sink.privates
    assert note == texts.attachments_left_out(
        [texts.attachment_not_an_image("notes.png"), texts.attachment_not_an_image("noise.jpg")]
    )
    assert sink.text == "You asked: look"


async def test_oversized_refused_and_surplus_images_are_named_and_the_turn_answers(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    limits = services.settings.limits
    big = PNG + b"\x00" * limits.max_image_bytes
    files = (
        in_memory("big.png", "image/png", big),
        in_memory("big-undeclared.png", "image/png", big, declared_size=False),
        in_memory("secret.png", "image/png", PNG, refused=True),
        *(in_memory(f"p{i}.png", "image/png", PNG) for i in range(10)),
    )
    sink = RecordingSink()
    turn = await services.core.handle_message(
        replace(ask(ALICE, "ten pictures"), attachments=files), sink
    )
    assert turn is not None and turn.failure is None
    assert len(image_parts(last_question(fake_openai))) == limits.max_images == 4
    [note] = sink.privates
    assert note == texts.attachments_left_out(
        [
            texts.attachment_too_large("big.png", limits.max_image_bytes),
            texts.attachment_too_large("big-undeclared.png", limits.max_image_bytes),
            texts.attachment_unreadable("secret.png"),
            texts.too_many_images(6, 4),
        ]
    )
    assert "5 MB" in note
    assert sink.text == "You asked: ten pictures"


async def test_text_files_are_inlined_with_their_names_and_keys_masked(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    leaked = make_key()
    files = (
        in_memory("notes.md", "text/markdown", b"# Plan\n- ship it\n"),
        in_memory("data.csv", "text/csv", b"a,b\n1,2\n"),
        in_memory("config.json", "application/octet-stream", f'{{"key": "{leaked}"}}'.encode()),
        in_memory("main.py", "", b"print('hi')\n"),
    )
    sink = RecordingSink()
    await services.core.handle_message(replace(ask(ALICE, "review"), attachments=files), sink)
    question = text_of(last_question(fake_openai)[-1]["content"])
    assert question.startswith("review\n\nFile `notes.md`:\n```\n# Plan\n- ship it\n\n```")
    assert "File `data.csv`:\n```\na,b\n1,2\n\n```" in question
    assert "File `main.py`:\n```\nprint('hi')\n\n```" in question
    assert "File `config.json`" in question
    assert leaked not in fake_openai.chat_requests()[-1].body.__repr__()
    assert sink.privates == []


async def test_binary_text_oversized_text_and_other_types_are_named_and_left_out(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    limit = services.settings.limits.max_file_bytes
    files = (
        in_memory("report.txt", "text/plain", b"\xff\xfe\x00binary\x00"),
        in_memory("zeros.txt", "text/plain", b"\x00" * 64),
        in_memory("huge.log", "text/plain", b"x" * (limit + 1)),
        in_memory("slides.pdf", "application/pdf", b"%PDF-1.7"),
        in_memory("ok.txt", "text/plain", b"fine"),
    )
    sink = RecordingSink()
    turn = await services.core.handle_message(replace(ask(ALICE, "read"), attachments=files), sink)
    assert turn is not None and turn.failure is None
    question = text_of(last_question(fake_openai)[-1]["content"])
    assert question == "read\n\nFile `ok.txt`:\n```\nfine\n```"
    [note] = sink.privates
    assert note == texts.attachments_left_out(
        [
            texts.attachment_not_text("report.txt"),
            texts.attachment_not_text("zeros.txt"),
            texts.attachment_too_large("huge.log", limit),
            texts.attachment_unsupported("slides.pdf"),
        ]
    )


async def test_a_long_text_file_is_cut_to_the_context_budget_and_the_member_told(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    budget = services.settings.limits.max_context_tokens
    body = ("word " * 40_000).encode()  # 200 kB, far more than the context
    sink = RecordingSink()
    await services.core.handle_message(
        replace(ask(ALICE, "summarise"), attachments=(in_memory("long.txt", "text/plain", body),)),
        sink,
    )
    question = text_of(last_question(fake_openai)[-1]["content"])
    assert question.startswith("summarise\n\nFile `long.txt`:")
    assert texts.FILE_CUT_MARK in question
    assert len(question) <= budget * 4
    assert sink.privates == [texts.attachments_left_out([texts.attachment_cut("long.txt")])]


async def test_a_model_that_refuses_images_gets_a_note_naming_one_from_the_members_list(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.models = ("gpt-3.5-turbo", "gpt-4o-mini", "whisper-1")
    fake_openai.text_only_models = frozenset({"gpt-3.5-turbo"})
    key = await with_key(services, fake_openai, ALICE)
    reply = await services.commands.run(ALICE, "model", "gpt-3.5-turbo")
    assert reply.ok, reply.text
    sink = RecordingSink()
    turn = await services.core.handle_message(
        replace(ask(ALICE, "see"), attachments=(in_memory("a.png", "image/png", PNG),)), sink
    )
    assert turn is not None and turn.failure is not None
    assert turn.failure.value == "images_unsupported"
    assert sink.privates == [texts.images_unsupported("gpt-3.5-turbo", "gpt-4o-mini")]
    assert "image_url is only supported" not in "".join(sink.privates)
    assert fake_openai.authorizations("/models")[-1] == f"Bearer {key}"
    assert sink.text == ""


@pytest.mark.parametrize(
    ("models", "current", "expected"),
    [
        (["gpt-4o", "gpt-4o-mini"], "gpt-3.5-turbo", "gpt-4o-mini"),
        (["gpt-4.1-2025-04-14", "whisper-1"], "x", "gpt-4.1-2025-04-14"),
        (["gpt-4o-audio-preview", "gpt-3.5-turbo"], "x", None),
        (["gpt-4o-mini"], "gpt-4o-mini", None),
    ],
)
def test_vision_model_prefers_known_image_readers(
    models: list[str], current: str, expected: str | None
) -> None:
    assert vision_model(models, exclude=current) == expected


def test_sniffing_ignores_what_a_file_claims() -> None:
    assert sniff_image(PNG) == "image/png"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert sniff_image(b"") is None


async def test_a_key_in_a_file_name_is_masked_in_the_note_and_in_the_question(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    leaked = make_key()
    files = (
        in_memory(f"{leaked}.txt", "text/plain", b"hello"),
        in_memory(f"{leaked}.pdf", "application/pdf", b"%PDF"),
    )
    sink = RecordingSink()
    await services.core.handle_message(replace(ask(ALICE, "read"), attachments=files), sink)
    body = fake_openai.chat_requests()[-1].body
    assert "File `" in str(body)
    assert leaked not in str(body)
    [note] = sink.privates
    assert leaked not in note and "(I read only images and text files)" in note


async def test_an_image_the_provider_cannot_decode_is_a_refused_request_not_a_blind_model(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE, behaviour=openai_server.BAD_IMAGE)
    sink = RecordingSink()
    turn = await services.core.handle_message(
        replace(ask(ALICE, "see"), attachments=(in_memory("a.png", "image/png", PNG),)), sink
    )
    assert turn is not None and turn.failure is FailureKind.BAD_REQUEST
    assert sink.privates == [texts.provider_failure(FailureKind.BAD_REQUEST)]


async def test_the_question_survives_long_prompts_and_a_big_file(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    """Files fit in what the system prompt (here a server prompt and the member's own
    instructions, near 4,000 characters each) leaves: the file is cut, never the question."""
    await with_key(services, fake_openai, ALICE)
    await services.store.save_workspace_config(
        WorkspaceConfig("console", "server-1", system_prompt="Be kind and brief. " * 200)
    )
    assert (await services.commands.instructions(ALICE, "Be thorough. " * 300)).ok
    log_file = in_memory("app.log", "text/plain", b"x" * 150_000)
    sink = RecordingSink()
    question = "QUESTION-MARKER: what went wrong?"
    await services.core.handle_message(replace(ask(ALICE, question), attachments=(log_file,)), sink)
    sent = text_of(last_question(fake_openai)[-1]["content"])
    assert sent.startswith(question)
    assert "app.log" in sink.privates[-1]
