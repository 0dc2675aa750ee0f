"""Email notifications: queued by the action that causes them, sent by MailerFunction.

``send(kind, account_id, to=..., context=...)`` puts one message on the notifications queue
and never fails the caller's action (``outbox``); MailerFunction takes it from the queue,
finds the recipients, honours the account's preferences, renders the kind's templates and
sends it through SES (``mailer``). Which kinds exist, what each may carry and which cannot be
switched off: ``kinds``. Nothing here imports Jinja2 but ``render``, which only the mailer
uses.
"""

from tollgate.notifications.kinds import ESSENTIAL_KINDS, KINDS
from tollgate.notifications.outbox import send

__all__ = ["ESSENTIAL_KINDS", "KINDS", "send"]
