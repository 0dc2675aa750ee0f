"""The team: the account's members and their roles, pending invitations, inviting, changing a
role, removing a member and handing on ownership; and accepting an invitation from its mailed
link. Every action is the API's (``tollgate.team``), authorized by the route it stands for;
the layer's refusals (the last owner, a role one may not grant) are shown in the page."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from tollgate import members, permissions, team
from tollgate.console import render, session, web
from tollgate.console.routes import page
from tollgate.errors import TollgateError
from tollgate.settings import Settings

ACCEPT = "/console/invitations/accept"
MEMBER_ROUTE = "/v1/members/{person_id}"
INVITATIONS_ROUTE = "/v1/members/invitations"


def team_page(
    request: web.ConsoleRequest,
    settings: Settings,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
    invite: dict[str, str] | None = None,
) -> Response:
    caller = session.member(request, "GET", "/v1/members", settings)
    context: dict[str, Any] = {
        "members": [members.member_view(m) for m in members.list_members(caller.account_id)],
        "invitations": [
            members.invitation_view(i) for i in members.pending_invitations(caller.account_id)
        ],
        "me": caller.person_id,
        "roles": permissions.ROLES,
        "error": error,
        "notice": notice,
        "invite": invite or {"email": "", "role": "developer"},
    }
    return web.html(
        request, render.render(request, settings, "team.html", **context), status=status
    )


@page("/console/team")
def team_overview(request: web.ConsoleRequest, settings: Settings) -> Response:
    return team_page(request, settings)


@page("/console/team/invitations", method="POST")
def invite(request: web.ConsoleRequest, settings: Settings) -> Response:
    caller = session.member(request, "POST", INVITATIONS_ROUTE, settings)
    entered = {"email": request.field("email").strip(), "role": request.field("role")}
    try:
        new = members.parse_invitation(entered)
        sent = team.invite(caller, new, settings=settings, origin=request.origin)
    except TollgateError as refused:
        return _refused(request, settings, refused, invite=entered)
    notice = f"{sent.invitation.email} is invited as {sent.invitation.role}."
    return team_page(request, settings, notice=notice)


@page("/console/team/invitations/<invitation_id>/revoke", method="POST")
def revoke(request: web.ConsoleRequest, settings: Settings, invitation_id: str) -> Response:
    caller = session.member(request, "DELETE", f"{INVITATIONS_ROUTE}/{{invitation_id}}", settings)
    try:
        revoked = team.revoke_invitation(caller, invitation_id, origin=request.origin)
    except TollgateError as refused:
        return _refused(request, settings, refused)
    return team_page(request, settings, notice=f"The invitation of {revoked.email} is revoked.")


@page("/console/team/members/<person_id>/role", method="POST")
def change_role(request: web.ConsoleRequest, settings: Settings, person_id: str) -> Response:
    caller = session.member(request, "PATCH", MEMBER_ROUTE, settings)
    try:
        role = members.parse_role({"role": request.field("role")})
        member = team.change_role(caller, person_id, role, origin=request.origin)
    except TollgateError as refused:
        return _refused(request, settings, refused)
    return team_page(request, settings, notice=f"{member.email} is now {member.role}.")


# Removing a member and handing on ownership are confirmed on a page of their own first.
CONFIRMED_ACTIONS = {
    "remove": ("DELETE", MEMBER_ROUTE),
    "transfer": ("POST", f"{MEMBER_ROUTE}/transfer-ownership"),
}


@page("/console/team/members/<person_id>/<action>")
def confirm(
    request: web.ConsoleRequest, settings: Settings, person_id: str, action: str
) -> Response:
    if action not in CONFIRMED_ACTIONS:
        return web.redirect(request, "/console/team")
    caller = session.member(request, *CONFIRMED_ACTIONS[action], settings)
    member = members.member_view(members.get_member(caller.account_id, person_id))
    body = render.render(request, settings, "team_confirm.html", member=member, action=action)
    return web.html(request, body)


@page("/console/team/members/<person_id>/remove", method="POST")
def remove(request: web.ConsoleRequest, settings: Settings, person_id: str) -> Response:
    caller = session.member(request, "DELETE", MEMBER_ROUTE, settings)
    try:
        member = team.remove_member(caller, person_id, origin=request.origin)
    except TollgateError as refused:
        return _refused(request, settings, refused)
    if person_id == caller.person_id:
        return web.redirect(request, "/console/overview")
    return team_page(request, settings, notice=f"{member.email} is removed from the account.")


@page("/console/team/members/<person_id>/transfer", method="POST")
def transfer(request: web.ConsoleRequest, settings: Settings, person_id: str) -> Response:
    caller = session.member(request, "POST", f"{MEMBER_ROUTE}/transfer-ownership", settings)
    try:
        successor = team.transfer_ownership(caller, person_id, origin=request.origin)
    except TollgateError as refused:
        return _refused(request, settings, refused)
    notice = f"{successor.email} now owns the account; you are an admin."
    return team_page(request, settings, notice=notice)


def _refused(
    request: web.ConsoleRequest,
    settings: Settings,
    refused: TollgateError,
    invite: dict[str, str] | None = None,
) -> Response:
    """The team page again, with the API's message and status code."""
    return team_page(request, settings, status=refused.status, error=refused.message, invite=invite)


# ------------------------------------------------------------------------------ accepting


@page(ACCEPT, public=True)
def acceptance_form(request: web.ConsoleRequest, settings: Settings) -> Response:
    """The mailed link's page. Its token is in the URL fragment, which reaches only the
    browser: console.js puts it in the form, and keeps it for the way back from sign-in."""
    signed_in = session.current(request, settings) is not None
    return _acceptance_page(request, settings, signed_in=signed_in)


@page(ACCEPT, method="POST")
def accept(request: web.ConsoleRequest, settings: Settings) -> Response:
    person = session.person(request, settings)
    body = {"token": request.field("token"), "name": request.field("name")}
    try:
        token, name = members.parse_acceptance(body)
        member = team.accept_invitation(person, token, name=name, origin=request.origin)
    except TollgateError as refused:
        return _acceptance_page(
            request, settings, signed_in=True, status=refused.status, error=refused.message
        )
    session.choose_account(request, session.signed_in(request, settings), member.account_id)
    return web.redirect(request, "/console/overview?joined")


def _acceptance_page(
    request: web.ConsoleRequest,
    settings: Settings,
    *,
    signed_in: bool,
    status: int = 200,
    error: str = "",
) -> Response:
    body = render.render(
        request, settings, "invitation_accept.html", signed_in=signed_in, error=error, next=ACCEPT
    )
    return web.html(request, body, status=status)
