"""The Cognito user pool, as the identity flows use it: one client per container, and
Cognito's errors turned into ours. Passwords pass through here to Cognito and nowhere else."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tollgate.errors import BadRequest, InternalError, RateLimited
from tollgate.observability import logger
from tollgate.settings import Settings

CONFIRMED = "CONFIRMED"
UNCONFIRMED = "UNCONFIRMED"


class Refused(Exception):
    """Cognito said no to the caller (wrong password, unknown or unconfirmed user, a revoked
    or unknown token); ``code`` is Cognito's error code, for logs and tests only."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class User:
    person_id: str  # the user's ``sub``
    status: str  # CONFIRMED, UNCONFIRMED, FORCE_CHANGE_PASSWORD, ...


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in: int


_REFUSALS = frozenset(
    {
        "NotAuthorizedException",
        "UserNotFoundException",
        "UserNotConfirmedException",
        "UsernameExistsException",
        "PasswordResetRequiredException",
    }
)


class UserPool:
    def __init__(self, client: Any, settings: Settings) -> None:
        self.client = client
        self.pool_id = settings.cognito_user_pool_id
        self.client_id = settings.cognito_client_id

    def sign_up(self, email: str, password: str, name: str) -> str:
        """A new unconfirmed user; its ``sub``. Refused (UsernameExistsException) if taken."""
        attributes = [{"Name": "email", "Value": email}, {"Name": "name", "Value": name}]
        with cognito_errors("SignUp"):
            answer = self.client.sign_up(
                ClientId=self.client_id,
                Username=email,
                Password=password,
                UserAttributes=attributes,
            )
        return str(answer["UserSub"])

    def user(self, email: str) -> User | None:
        try:
            with cognito_errors("AdminGetUser"):
                answer = self.client.admin_get_user(UserPoolId=self.pool_id, Username=email)
        except Refused:
            return None
        attributes = {a["Name"]: a["Value"] for a in answer.get("UserAttributes", [])}
        return User(person_id=attributes["sub"], status=answer["UserStatus"])

    def delete(self, email: str) -> None:
        with cognito_errors("AdminDeleteUser"):
            self.client.admin_delete_user(UserPoolId=self.pool_id, Username=email)

    def confirm(self, email: str) -> None:
        """Confirm the user and mark the email verified (our code proved it)."""
        with cognito_errors("AdminConfirmSignUp"):
            self.client.admin_confirm_sign_up(UserPoolId=self.pool_id, Username=email)
        verified = [{"Name": "email_verified", "Value": "true"}]
        with cognito_errors("AdminUpdateUserAttributes"):
            self.client.admin_update_user_attributes(
                UserPoolId=self.pool_id, Username=email, UserAttributes=verified
            )

    def set_password(self, email: str, password: str) -> None:
        with cognito_errors("AdminSetUserPassword"):
            self.client.admin_set_user_password(
                UserPoolId=self.pool_id, Username=email, Password=password, Permanent=True
            )

    def sign_out_everywhere(self, email: str) -> None:
        with cognito_errors("AdminUserGlobalSignOut"):
            self.client.admin_user_global_sign_out(UserPoolId=self.pool_id, Username=email)

    def password_login(self, email: str, password: str) -> Tokens:
        parameters = {"USERNAME": email, "PASSWORD": password}
        with cognito_errors("InitiateAuth"):
            answer = self.client.initiate_auth(
                ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=parameters
            )
        return _tokens(answer)

    def refresh(self, refresh_token: str) -> Tokens:
        parameters = {"REFRESH_TOKEN": refresh_token}
        with cognito_errors("InitiateAuth"):
            answer = self.client.initiate_auth(
                ClientId=self.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters=parameters
            )
        return _tokens(answer)

    def global_sign_out(self, access_token: str) -> None:
        with cognito_errors("GlobalSignOut"):
            self.client.global_sign_out(AccessToken=access_token)

    def verified_email(self, access_token: str) -> str | None:
        """The email of the token's person, if Cognito holds it verified (None otherwise)."""
        try:
            with cognito_errors("GetUser"):
                answer = self.client.get_user(AccessToken=access_token)
        except Refused:
            return None
        attributes = {a["Name"]: a["Value"] for a in answer.get("UserAttributes", [])}
        return attributes.get("email") if attributes.get("email_verified") == "true" else None

    def token_active(self, access_token: str) -> bool:
        """Cognito's own word on an access token (revoked by a global sign-out or not)."""
        try:
            with cognito_errors("GetUser"):
                self.client.get_user(AccessToken=access_token)
        except Refused:
            return False
        return True


def _tokens(answer: dict[str, Any]) -> Tokens:
    result = answer.get("AuthenticationResult")
    if not result:  # a challenge (e.g. NEW_PASSWORD_REQUIRED for an invited person)
        raise Refused(str(answer.get("ChallengeName", "challenge")))
    return Tokens(
        access_token=result["AccessToken"],
        id_token=result["IdToken"],
        refresh_token=result.get("RefreshToken"),
        expires_in=int(result["ExpiresIn"]),
    )


@contextmanager
def cognito_errors(operation: str) -> Iterator[None]:
    """Cognito's refusals as ``Refused``, a weak password as a 400, throttling as a 429,
    anything else as a 500 logged without the request (it holds passwords and tokens)."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _REFUSALS:
            raise Refused(code) from None
        if code == "InvalidPasswordException":
            raise BadRequest(
                "The password does not meet the password policy: at least 10 characters, with"
                " upper and lower case letters, a digit and a symbol.",
                code="weak_password",
                param="password",
            ) from None
        if code in ("TooManyRequestsException", "LimitExceededException"):
            raise RateLimited(
                "Too many requests; try again later.", retry_after_seconds=60
            ) from None
        logger.error("cognito call failed", extra={"operation": operation, "code": code})
        raise InternalError("The request could not be completed; try again.") from None
    except BotoCoreError as error:
        logger.error(
            "cognito unreachable", extra={"operation": operation, "error": type(error).__name__}
        )
        raise InternalError("The request could not be completed; try again.") from None


@functools.cache
def user_pool(settings: Settings) -> UserPool:
    """One client per container; ``aws_endpoint_url`` points it at devstack's moto."""
    client = boto3.client(
        "cognito-idp",
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(retries={"mode": "standard"}),
    )
    return UserPool(client, settings)
