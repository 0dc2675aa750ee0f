"""Notification kinds, what their context may carry, and how their mails render."""

from __future__ import annotations

import pytest
from markupsafe import escape

from tollgate.notifications.kinds import (
    CATEGORIES,
    ESSENTIAL_KINDS,
    FORBIDDEN_FIELD,
    KIND_FIELDS,
    KINDS,
    OPTIONAL_KINDS,
    REQUIRED_FIELDS,
    NotificationRefused,
    check_context,
    check_recipients,
)
from tollgate.notifications.render import TEMPLATES, render
from tollgate.secret_keys import generate_secret

ACCOUNT = {"id": "acct_1", "name": "Acme"}


def sample_context(kind: str) -> dict[str, str]:
    """Every field a kind may carry, each with a recognisable value (with markup in it)."""
    return {
        field: f"https://x.com/{field}?a=1&b=2" if field.endswith("_url") else f"<{field}-value>"
        for field in KIND_FIELDS[kind]
    }


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_subject_a_text_and_an_html_template(kind):
    for suffix in (".subject.txt", ".txt", ".html"):
        assert (TEMPLATES / f"{kind}{suffix}").is_file(), kind + suffix


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_each_of_its_fields_in_text_and_escaped_in_html(kind):
    # Given every field of the kind, each a value with markup in it
    context = sample_context(kind)

    # When its mail is rendered
    mail = render(kind, context, account=ACCOUNT)

    # Then the subject is one line, the text shows the values as they are and the HTML
    # escapes them: a value can never become markup
    assert mail.subject and "\n" not in mail.subject
    assert "Acme" in mail.text and "acct_1" in mail.text
    for value in context.values():
        assert "<" + value[1:] not in mail.html
    shown = [v for v in context.values() if v in mail.text]
    assert shown, "the text shows at least one of the kind's fields"
    assert all(str(escape(v)) in mail.html for v in shown)


@pytest.mark.parametrize("kind", REQUIRED_FIELDS)
def test_a_kind_without_its_required_fields_is_refused(kind):
    with pytest.raises(NotificationRefused):
        check_context(kind, {})


def test_an_account_name_with_markup_is_escaped_in_html_only():
    mail = render(
        "key_revoked", {"key_id": "key_1"}, account={"id": "a", "name": "<script>x</script>"}
    )

    assert "<script>x</script>" in mail.text
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html


def test_no_kind_may_carry_a_field_named_like_a_secret_or_content():
    # Given the fields each kind may carry, then none is named like a secret, a password,
    # a request or its answer
    for kind, fields in KIND_FIELDS.items():
        for field in fields:
            assert not FORBIDDEN_FIELD.search(field), (kind, field)


@pytest.mark.parametrize(
    "field", ["secret", "key_secret", "password", "prompt", "messages", "response", "api_key"]
)
def test_a_context_field_named_like_a_secret_or_content_is_refused(field):
    with pytest.raises(NotificationRefused) as refused:
        check_context("key_created", {"key_id": "key_1", field: "x"})

    assert field in refused.value.why


@pytest.mark.parametrize("kind", KINDS)
def test_a_key_secret_is_never_rendered_whatever_field_carries_it(kind):
    # Given a real key secret put in each field a kind may carry
    secret = generate_secret()
    for field in KIND_FIELDS[kind]:
        context = {**sample_context(kind), field: f"see {secret}"}

        # Then neither the queue's check nor the renderer lets it through, and the refusal
        # names the field, never the value
        with pytest.raises(NotificationRefused) as refused:
            check_context(kind, context)
        assert secret not in refused.value.why
        with pytest.raises(NotificationRefused):
            render(kind, context, account=ACCOUNT)


@pytest.mark.parametrize(
    "value", [{"nested": "x"}, ["a", "b"], "x" * 501, "sk_live_abc123", "whsec_abc"]
)
def test_structures_long_texts_and_other_secrets_are_refused(value):
    with pytest.raises(NotificationRefused):
        check_context("account_suspended", {"reason": value})


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "data:text/html,x", "https://x.com/a b", "//x.com", 7]
)
def test_a_link_field_takes_only_an_http_link(link):
    with pytest.raises(NotificationRefused):
        check_context("member_invited", {"invitation_url": link})

    assert check_context("member_invited", {"invitation_url": "https://x.com/i?t=1"})


def test_an_unknown_kind_is_refused():
    with pytest.raises(NotificationRefused):
        check_context("newsletter", {})


@pytest.mark.parametrize("to", [[], ["not-an-address"], "a@example.com", ["a@x.com"] * 51])
def test_recipients_must_be_a_short_list_of_addresses(to):
    with pytest.raises(NotificationRefused):
        check_recipients(to)


def test_security_billing_and_account_notices_are_essential_and_only_notices_are_optional():
    assert {CATEGORIES[kind] for kind in ESSENTIAL_KINDS} == {"security", "billing", "account"}
    assert {CATEGORIES[kind] for kind in OPTIONAL_KINDS} == {"notice"}
    assert {"payment_confirmed", "key_created", "key_revoked", "password_reset"} <= ESSENTIAL_KINDS
    assert set(CATEGORIES) == set(KINDS)
