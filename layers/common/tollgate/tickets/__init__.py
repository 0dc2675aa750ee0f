"""Support tickets: threads between an account's members and the operator's support, with
the metadata of the requests and payments they are about (never a prompt or a response).

``service`` opens, lists, reads, answers, closes and reopens them; ``context`` takes the
snapshots of the referenced requests and payments; ``attachments`` their files (presigned
uploads, claiming, downloads, retention); ``views`` shapes them for the API.
"""

CATEGORIES = ("billing", "access", "technical", "account", "other")
OPEN = "open"  # opened, no answer from support yet
WAITING_ON_CUSTOMER = "waiting_on_customer"
WAITING_ON_SUPPORT = "waiting_on_support"
CLOSED = "closed"
STATUSES = (OPEN, WAITING_ON_CUSTOMER, WAITING_ON_SUPPORT, CLOSED)
CUSTOMER = "customer"  # a message's author: the account's member or key
SUPPORT = "support"  # the operator's support

MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 20_000
MAX_MESSAGES = 200  # per ticket: a thread that long wants a new ticket
MAX_REQUEST_IDS = 20
MAX_PAYMENT_IDS = 5
MAX_ID_CHARS = 128
