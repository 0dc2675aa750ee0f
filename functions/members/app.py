"""MembersFunction: an account's members and invitations, accepting an invitation, and the
accounts of the signed-in person."""

from tollgate import api, members, team
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


def origin() -> team.Origin:
    return team.Origin(api.request_id(app), api.source_ip(app))


# Static paths first: /v1/members/invitations is not a member's id.
@app.get("/v1/members/invitations")
def list_invitations():
    caller = api.caller(app, settings)
    found = members.pending_invitations(caller.account_id)
    views = [members.invitation_view(invitation) for invitation in found]
    return api.json_response(app, 200, api.page(views, None))


@app.post("/v1/members/invitations/accept")
def accept_invitation():
    person = api.caller(app, settings)
    token, name = members.parse_acceptance(api.json_body(app))
    member = team.accept_invitation(person, token, name=name, origin=origin())
    return api.json_response(app, 201, members.member_view(member))


@app.post("/v1/members/invitations")
def invite():
    caller = api.caller(app, settings)
    new = members.parse_invitation(api.json_body(app))
    sent = team.invite(caller, new, settings=settings, origin=origin())
    view = members.invitation_view(sent.invitation, token=sent.token, link=sent.link)
    return api.json_response(app, 201, view)


@app.delete("/v1/members/invitations/<invitation_id>")
def revoke_invitation(invitation_id: str):
    caller = api.caller(app, settings)
    invitation = team.revoke_invitation(caller, invitation_id, origin=origin())
    return api.json_response(app, 200, members.invitation_view(invitation))


@app.get("/v1/members")
def list_members():
    caller = api.caller(app, settings)
    views = [members.member_view(member) for member in members.list_members(caller.account_id)]
    return api.json_response(app, 200, api.page(views, None))


@app.patch("/v1/members/<person_id>")
def change_role(person_id: str):
    caller = api.caller(app, settings)
    role = members.parse_role(api.json_body(app))
    member = team.change_role(caller, person_id, role, origin=origin())
    return api.json_response(app, 200, members.member_view(member))


@app.delete("/v1/members/<person_id>")
def remove_member(person_id: str):
    caller = api.caller(app, settings)
    member = team.remove_member(caller, person_id, origin=origin())
    return api.json_response(app, 200, members.member_view(member))


@app.post("/v1/members/<person_id>/transfer-ownership")
def transfer_ownership(person_id: str):
    caller = api.caller(app, settings)
    successor = team.transfer_ownership(caller, person_id, origin=origin())
    return api.json_response(app, 200, members.member_view(successor))


@app.get("/v1/me/accounts")
def my_accounts():
    person = api.caller(app, settings)
    found = members.accounts_of_person(person)
    views = [members.account_membership_view(member, account) for member, account in found]
    return api.json_response(app, 200, api.page(views, None))


lambda_handler = instrumented(app.resolve)
