"""The one place the identity flows send mail: a verification or a password-reset code.

The code goes out as a notification (``tollgate.notifications``): queued here, rendered from
the kind's templates and sent through SES by MailerFunction, so a slow or failing mail
service never slows or fails a sign-up or a reset (the person asks for a new code). The
account id is empty: the person may have no account yet.
"""

from __future__ import annotations

from tollgate import notifications

EMAIL_VERIFICATION = "email_verification"
PASSWORD_RESET = "password_reset"


def send_code(kind: str, email: str, code: str) -> None:
    """Queue the mail of ``code`` to ``email``; never raises into the flow."""
    notifications.send(kind, "", to=[email], context={"code": code})
