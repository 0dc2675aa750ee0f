"""Sign-in: people sign up, confirm their email, log in and out, and reset their password.
These routes take no key; answers never tell whether an email has a user."""

from __future__ import annotations

from tollgate.openapi.operation import Operation
from tollgate.openapi.schema import boolean, const, integer, obj, ref, string, unix_time

TAG = "Sign-in"

_EMAIL = string(fmt="email")
_PASSWORD = string("sent to the identity provider only; at most 256 characters")
_CODE = string("the 6 digits we emailed")

_CODE_SENT = obj(
    {
        "object": const("verification"),
        "status": const("code_sent"),
        "message": string(),
    }
)

_SESSION = obj(
    {
        "object": const("session"),
        "token_type": const("Bearer"),
        "access_token": string("send as `Authorization: Bearer <token>`"),
        "id_token": string(),
        "expires_in": integer("seconds the access token lives"),
        "expires_at": unix_time("the access token expires at this time"),
    },
    {"refresh_token": string("for POST /v1/auth/refresh")},
)

SCHEMAS = {"CodeSent": _CODE_SENT, "Session": _SESSION}

OPERATIONS = {
    ("POST", "/v1/auth/signup"): Operation(
        "Sign up: a 6-digit code is emailed to confirm the address",
        {202: ref("CodeSent")},
        body=obj(
            {"email": _EMAIL, "password": _PASSWORD, "name": string("your name")},
            {"company": string("names the new account; your name does otherwise")},
        ),
    ),
    ("POST", "/v1/auth/confirm"): Operation(
        "Confirm the sign-up with the emailed code: your account is created, you its owner",
        {
            200: obj(
                {
                    "object": const("signup"),
                    "status": const("confirmed"),
                    "person_id": string(),
                    "account_id": string(),
                }
            )
        },
        body=obj({"email": _EMAIL, "code": _CODE}),
    ),
    ("POST", "/v1/auth/login"): Operation(
        "Log in with email and password",
        {200: ref("Session")},
        body=obj({"email": _EMAIL, "password": _PASSWORD}),
    ),
    ("POST", "/v1/auth/refresh"): Operation(
        "Get a new access token with a refresh token",
        {200: ref("Session")},
        body=obj({"refresh_token": string()}),
    ),
    ("POST", "/v1/auth/logout"): Operation(
        "Log out everywhere: every session of the person ends",
        {200: obj({"object": const("logout"), "signed_out": boolean()})},
        # no body: the session to end is the access token sent
        extra={"security": [{"session": []}]},
    ),
    ("POST", "/v1/auth/forgot"): Operation(
        "Ask for a password reset code by email",
        {202: ref("CodeSent")},
        body=obj({"email": _EMAIL}),
    ),
    ("POST", "/v1/auth/reset"): Operation(
        "Set a new password with the emailed code; every session of the person ends",
        {200: obj({"object": const("password_reset"), "status": const("reset")})},
        body=obj({"email": _EMAIL, "code": _CODE, "password": _PASSWORD}),
    ),
}
