"""The Team and Account pages in a real browser: an owner invites a viewer, who signs up,
follows the mailed link through sign-in and joins, and then may not invite (403 even posting
the form by hand); an owner exports the account's data and downloads it; an owner schedules
the account's deletion with its name typed back, sees the restore window and restores it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, new_email
from tests.e2e.test_people_story_over_http import INVITATION_LINK, mailed

pytestmark = pytest.mark.browser


def fresh_owner(console, label: str) -> str:
    email = new_email(label)
    console.sign_up(email, "Olga Owner")
    console.sign_in(email)
    return email


def test_an_invited_viewer_joins_through_the_mailed_link_and_may_not_invite(
    console, second_console, devstack
):
    # given an owner who invites a viewer on the Team page
    fresh_owner(console, "team-owner")
    invitee = new_email("viewer")
    page = console.goto("/team")
    expect(page.get_by_text("No pending invitations.")).to_be_visible()
    assert_accessible(page)
    console.screenshot("team")
    page.get_by_label("Email", exact=True).fill(invitee)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"{invitee} is invited as viewer.")).to_be_visible()
    expect(page.get_by_role("cell", name=invitee, exact=True)).to_be_visible()

    # when the invitee signs up, opens the mailed link, signs in and accepts
    link = mailed(devstack, invitee, INVITATION_LINK)
    assert link is not None, f"no invitation mailed to {invitee}"
    second_console.sign_up(invitee, "Vera Viewer")
    tab = second_console.page
    tab.goto(link.group(0))
    assert_accessible(tab)
    console_link = tab.get_by_role("link", name="Sign in to accept")
    console_link.click()
    tab.get_by_label("Email").fill(invitee)
    tab.get_by_label("Password").fill("Correct-horse-9")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Accept an invitation")
    expect(tab.get_by_label("Invitation code")).to_have_value(link.group(2))
    assert_accessible(tab)
    second_console.screenshot("invitation-accept")
    tab.get_by_role("button", name="Accept invitation").click()

    # then they act on the owner's account as a viewer: the Team page offers no invitation
    expect(tab).to_have_url(f"{second_console.base}/overview?joined")
    second_console.goto("/team")
    expect(tab.get_by_role("row", name=invitee)).to_contain_text("viewer")
    expect(tab.get_by_role("button", name="Send invitation")).to_have_count(0)
    # and the form posted by hand, with the page's own CSRF token, is refused
    csrf = tab.locator("input[name=csrf]").first.input_value()
    refused = tab.request.post(
        f"{second_console.base}/team/invitations",
        form={"csrf": csrf, "email": new_email("friend"), "role": "owner"},
    )
    assert refused.status == 403
    assert not second_console.errors


def test_an_owner_exports_the_accounts_data_and_downloads_it(console):
    fresh_owner(console, "export-owner")
    page = console.goto("/account")
    expect(page.get_by_text("No exports yet.")).to_be_visible()
    assert_accessible(page)
    console.screenshot("account")

    page.get_by_role("button", name="Start an export").click()

    download_link = page.get_by_role("link", name="Download ZIP")
    expect(download_link).to_be_visible()  # htmx polls the row until the export is ready
    with page.expect_download() as downloaded:
        download_link.click()
    assert downloaded.value.suggested_filename.endswith(".zip")


def test_an_owner_schedules_the_deletion_sees_the_restore_window_and_restores(console):
    fresh_owner(console, "leaving-owner")
    page = console.goto("/account")
    name = page.get_by_label("Account name", exact=True).input_value()

    page.get_by_label("Type the account name").fill(name + " (typo)")
    console.expect_refusal(400)  # the browser logs it itself
    page.get_by_role("button", name="Delete the account").click()
    expect(page.get_by_role("alert")).to_contain_text("send its name as 'confirm'")

    page.get_by_label("Type the account name").fill(name)
    page.get_by_role("button", name="Delete the account").click()

    warning = page.get_by_role("alert").filter(has_text="scheduled for deletion")
    expect(warning).to_contain_text("Everything it holds is purged on")
    assert_accessible(page)
    console.screenshot("account-deletion-scheduled")
    page.get_by_role("button", name="Restore the account").click()
    expect(page.get_by_text("The account is restored.")).to_be_visible()
    expect(page.get_by_role("button", name="Delete the account")).to_be_visible()
