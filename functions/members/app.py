"""MembersFunction: an account's members and invitations, accepting an invitation, and the
accounts of the signed-in person."""

from tollgate import api, audit, members
from tollgate.auth import Principal
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


def record(caller: Principal, account_id: str, action: str, target: str, changes=None) -> None:
    # people are named by id, never by email or name: the trail outlives a deleted account
    audit.record(
        account_id,
        actor=caller.actor,
        action=action,
        target=target,
        request_id=api.request_id(app),
        source_ip=api.source_ip(app),
        changes=changes,
    )


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
    member = members.accept_invitation(person, token, name=name)
    changes = {"role": (None, member.role)}
    record(person, member.account_id, "member.joined", f"person:{member.person_id}", changes)
    return api.json_response(app, 201, members.member_view(member))


@app.post("/v1/members/invitations")
def invite():
    caller = api.caller(app, settings)
    new = members.parse_invitation(api.json_body(app))
    sent = members.invite(caller, new, settings=settings)
    invitation = sent.invitation
    if sent.replaced is not None:
        replaced = f"invitation:{sent.replaced.invitation_id}"
        record(
            caller,
            caller.account_id,
            "invitation.revoked",
            replaced,
            {"replaced_by": (None, invitation.invitation_id)},
        )
    changes = {"role": (None, invitation.role)}
    record(
        caller,
        caller.account_id,
        "member.invited",
        f"invitation:{invitation.invitation_id}",
        changes,
    )
    view = members.invitation_view(invitation, token=sent.token, link=sent.link)
    return api.json_response(app, 201, view)


@app.delete("/v1/members/invitations/<invitation_id>")
def revoke_invitation(invitation_id: str):
    caller = api.caller(app, settings)
    invitation = members.revoke_invitation(caller, invitation_id)
    changes = {"role": (invitation.role, None)}
    record(caller, caller.account_id, "invitation.revoked", f"invitation:{invitation_id}", changes)
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
    member, before = members.change_role(caller, person_id, role)
    if before != member.role:
        changes = {"role": (before, member.role)}
        record(caller, caller.account_id, "member.role_changed", f"person:{person_id}", changes)
    return api.json_response(app, 200, members.member_view(member))


@app.delete("/v1/members/<person_id>")
def remove_member(person_id: str):
    caller = api.caller(app, settings)
    member = members.remove_member(caller, person_id)
    changes = {"role": (member.role, None)}
    record(caller, caller.account_id, "member.removed", f"person:{person_id}", changes)
    for key in members.revoke_keys_created_by(member):
        revoked = {"status": ("active", "revoked"), "reason": (None, "member_removed")}
        record(caller, caller.account_id, "key.revoked", f"key:{key.key_id}", revoked)
    members.notify_removed(caller, member)
    return api.json_response(app, 200, members.member_view(member))


@app.post("/v1/members/<person_id>/transfer-ownership")
def transfer_ownership(person_id: str):
    caller = api.caller(app, settings)
    changed = members.transfer_ownership(caller, person_id)
    for member, before in changed:
        changes = {"role": (before, member.role)}
        target = f"person:{member.person_id}"
        record(caller, caller.account_id, "member.role_changed", target, changes)
    successor = changed[0][0]
    return api.json_response(app, 200, members.member_view(successor))


@app.get("/v1/me/accounts")
def my_accounts():
    person = api.caller(app, settings)
    found = members.accounts_of_person(person)
    views = [members.account_membership_view(member, account) for member, account in found]
    return api.json_response(app, 200, api.page(views, None))


lambda_handler = instrumented(app.resolve)
