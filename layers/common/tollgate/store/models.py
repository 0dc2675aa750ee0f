"""PynamoDB models of the four tables declared in template.yaml.

Each table is a single-table design with generic keys (``pk``, ``sk`` and, where the table has
an index, ``gsi1pk``/``gsi1sk``); every entity below is one item shape in one table. Table
names come from the settings at import, which is why settings must be in the environment
before this module is imported. ``tests/infra`` checks these models against the template.
"""

from __future__ import annotations

from typing import cast

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection, Projection
from pynamodb.models import MetaProtocol, Model

from tollgate.settings import get_settings

_settings = get_settings()


def _meta(table_name: str) -> MetaProtocol:
    # PynamoDB's model metaclass fills in the MetaProtocol settings left out here.
    meta = type("Meta", (), {"table_name": table_name, "region": _settings.region})
    return cast(MetaProtocol, meta)


def _index_meta(index_name: str, projection: Projection | None = None) -> type:
    return type("Meta", (), {"index_name": index_name, "projection": projection or AllProjection()})


class _Item(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


# ------------------------------------------------------------------------------ KeysTable


class KeysByAccount(GlobalSecondaryIndex["ApiKey"]):
    Meta = _index_meta("by_account")
    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class AccountsByCreation(GlobalSecondaryIndex["Account"]):
    """The same index as ``KeysByAccount``: account profiles sit in its partition
    ``ACCOUNTS`` (sorted by creation), which no key shares, so the operator lists accounts
    without reading keys."""

    Meta = _index_meta("by_account")
    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Account(_Item):
    """pk ``ACCOUNT#<id>``, sk ``PROFILE``. ``status``: active, suspended (by the operator:
    its keys are refused inside the hold, its management routes read-only) or
    deletion_scheduled."""

    Meta = _meta(_settings.keys_table)
    account_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    created_at = UTCDateTimeAttribute()
    flagged = UnicodeAttribute(null=True)  # why the operator should look (a payment dispute)
    purge_after = UTCDateTimeAttribute(null=True)  # set while its deletion is scheduled
    company = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)  # BCP 47 tag, e.g. "en" or "de-CH"
    status_reason = UnicodeAttribute(null=True)  # the operator's reason for the last change
    status_changed_at = UTCDateTimeAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)  # ACCOUNTS (absent on accounts made before the list)
    gsi1sk = UnicodeAttribute(null=True)  # <created_at>#<account id>
    by_creation = AccountsByCreation()
    # The notification kinds its owners switched off (tollgate.notifications.preferences):
    # only non-essential ones; absent, every kind is sent.
    notifications_off = UnicodeSetAttribute(null=True)
    # Warn the owners once when the balance falls below this (nano-USD; absent: never), and
    # when it was sent, until the balance is back above (tollgate.notifications.low_balance).
    low_balance_threshold = NumberAttribute(null=True)
    low_balance_warned_at = UTCDateTimeAttribute(null=True)


class ScheduledDeletion(_Item):
    """pk ``DELETIONS``, sk ``<purge after, ISO 8601>#<account id>``: the accounts to purge,
    in the order they fall due (one small partition: deletions are rare)."""

    Meta = _meta(_settings.keys_table)
    account_id = UnicodeAttribute()


class AccountEmail(_Item):
    """pk ``EMAIL#<lower-cased email>``, sk ``EMAIL``: makes an email unique across accounts."""

    Meta = _meta(_settings.keys_table)
    account_id = UnicodeAttribute()


class MembersByPerson(GlobalSecondaryIndex["Member"]):
    # KeysTable's one index (``by_account``), queried by a person's partition.
    Meta = _index_meta("by_account")
    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Member(_Item):
    """pk ``ACCOUNT#<id>``, sk ``MEMBER#<person id>``: a person's role in an account. The
    person is a Cognito user (``person_id`` is its ``sub``); gsi1pk ``PERSON#<person id>``,
    gsi1sk ``ACCOUNT#<id>`` list the accounts a person belongs to."""

    Meta = _meta(_settings.keys_table)
    account_id = UnicodeAttribute()
    person_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    role = UnicodeAttribute()
    joined_at = UTCDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_person = MembersByPerson()


class Invitation(_Item):
    """pk ``ACCOUNT#<id>``, sk ``INVITE#<lower-cased email>``: the one pending invitation of an
    email to an account (a new one replaces it). It holds the SHA-256 digest of its token,
    never the token; accepting or revoking it deletes it, and ``ttl`` removes it once expired."""

    Meta = _meta(_settings.keys_table)
    invitation_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    digest = UnicodeAttribute()
    invited_by = UnicodeAttribute()  # the audit actor who sent it
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    ttl = TTLAttribute()


class InvitationToken(_Item):
    """pk ``INVITATION#<sha256 of the token>``, sk ``INVITATION``: which invitation a presented
    token opens (deleted with it; ``ttl`` as the invitation's)."""

    Meta = _meta(_settings.keys_table)
    account_id = UnicodeAttribute()
    invitation_id = UnicodeAttribute()
    invitation_sk = UnicodeAttribute()
    ttl = TTLAttribute()


class AuthCode(_Item):
    """pk ``CODE#<purpose>#<sha256 of the email>``, sk ``CODE``: the one live emailed code of
    a sign-up (``verify``) or a password reset (``reset``), or ``CODE#email_change#<sha256 of
    the account id>``: an account's email change, holding the new address. Only the code's
    salted digest is kept; a sign-up also keeps the name and company its account will be
    created with."""

    Meta = _meta(_settings.keys_table)
    digest = UnicodeAttribute()
    salt = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute()
    attempts = NumberAttribute(default=0)
    name = UnicodeAttribute(null=True)
    company = UnicodeAttribute(null=True)
    new_email = UnicodeAttribute(null=True)  # an account's email change (``email_change``)
    ttl = TTLAttribute()


class LoginFailures(_Item):
    """pk ``LOGINFAIL#email#<sha256 of the email>`` or ``LOGINFAIL#ip#<address>``, sk
    ``WINDOW#<start, unix seconds>``: failed log-ins in one fixed window; pk
    ``CODEMAIL#<sha256 of the email>``: the codes mailed to an email in one window."""

    Meta = _meta(_settings.keys_table)
    failures = NumberAttribute(default=0)
    ttl = TTLAttribute()


class SignOut(_Item):
    """pk ``PERSON#<person id>``, sk ``SIGNOUT``: when the person last signed out everywhere
    (log-out, password reset); their access tokens issued before then are refused."""

    Meta = _meta(_settings.keys_table)
    signed_out_at = NumberAttribute()  # unix seconds
    ttl = TTLAttribute()


class _KeyPolicyItem(_Item):
    """What a key may do (tollgate.key_policy); only the key record holds it."""

    environment = UnicodeAttribute(default="")
    allowed_models = ListAttribute(of=UnicodeAttribute, null=True)
    allowed_endpoints = ListAttribute(of=UnicodeAttribute, null=True)
    allowed_cidrs = ListAttribute(of=UnicodeAttribute, null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    spend_cap = NumberAttribute(null=True)  # nano-USD per spend_cap_period
    spend_cap_period = UnicodeAttribute(null=True)
    rpm = NumberAttribute(null=True)
    tpm = NumberAttribute(null=True)
    allowed_origins = ListAttribute(of=UnicodeAttribute, null=True)
    require_no_training = BooleanAttribute(null=True)


class ApiKey(_KeyPolicyItem):
    """pk ``KEY#<key id>``, sk ``KEY``: the one record of a key's status, role and policy,
    whichever of its secrets is presented. ``revision`` goes up with every change (PATCH,
    revocation, rotation), so a cached copy can be proven current by a condition on it."""

    Meta = _meta(_settings.keys_table)
    key_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    role = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    status = UnicodeAttribute(default="active")
    prefix = UnicodeAttribute()
    last_four = UnicodeAttribute()
    digest = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)
    last_used_at = UTCDateTimeAttribute(null=True)  # set by the proxy's settle transaction
    spend = NumberAttribute(default=0)  # nano-USD charged through this key
    tags = JSONAttribute(null=True)
    revision = NumberAttribute(default=0)  # absent on keys written before it existed: 0
    rotated_at = UTCDateTimeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)  # the member who made it (none: a key or operator)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_account = KeysByAccount()


class KeySecret(_Item):
    """pk ``SECRET#<sha256 of the secret>``, sk ``SECRET``: how a presented secret finds its key.

    Holds only what is about the secret itself: whose it is and, once rotated out, when it
    stops (``grace_until``; the moment of rotation when there is no grace; ``ttl`` removes it
    a day later). The key's status, role and policy are read from the key record. Items
    written before this also carry a copy of those; nothing reads it any more.
    """

    Meta = _meta(_settings.keys_table)
    key_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    grace_until = UTCDateTimeAttribute(null=True)
    ttl = TTLAttribute(null=True)


class KeyOrigin(_Item):
    """pk ``ORIGIN#<origin>``, sk ``KEY#<key id>``: an active key allows this browser origin.

    Written and deleted with the key's changes (``store.keys``), so a CORS preflight, which
    carries no key, can ask whether any key allows its origin. ``ttl``: the key's expiry.
    """

    Meta = _meta(_settings.keys_table)
    key_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    ttl = TTLAttribute(null=True)


class SpendCounter(_Item):
    """pk ``KEY#<key id>``, sk ``SPEND#<period>``: a capped key's spend in one cap period.

    ``committed`` = charged + still held, so concurrent holds cannot pass the cap together.
    """

    Meta = _meta(_settings.keys_table)
    committed = NumberAttribute(default=0)
    spent = NumberAttribute(default=0)
    ttl = TTLAttribute(null=True)


class RateWindow(_Item):
    """pk ``KEY#<key id>``, sk ``RATE#<unix minute>``: requests and tokens in one minute (the
    tokens billed by settled requests plus those reserved by holds in flight)."""

    Meta = _meta(_settings.keys_table)
    requests = NumberAttribute(default=0)
    tokens = NumberAttribute(default=0)
    ttl = TTLAttribute(null=True)


# ------------------------------------------------------------------------------ WalletTable


class HoldsByExpiry(GlobalSecondaryIndex["Hold"]):
    Meta = _index_meta("by_expiry")
    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Wallet(_Item):
    """pk ``ACCOUNT#<id>``, sk ``WALLET``: in nano-USD, ``balance`` (available to new
    requests), ``held`` (reserved for requests in flight) and ``disputed`` (held back while a
    payment is disputed); the ledger sums to the three together."""

    Meta = _meta(_settings.wallet_table)
    account_id = UnicodeAttribute()
    balance = NumberAttribute(default=0)
    held = NumberAttribute(default=0)
    disputed = NumberAttribute(default=0)
    currency = UnicodeAttribute(default="USD")
    updated_at = UTCDateTimeAttribute()


class LedgerEntry(_Item):
    """pk ``ACCOUNT#<id>``, sk ``LEDGER#<iso time>#<entry id>``: one movement of money."""

    Meta = _meta(_settings.wallet_table)
    entry_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # topup, charge, adjustment, dispute (a dispute lost)
    amount = NumberAttribute()  # signed nano-USD
    reason = UnicodeAttribute(default="")
    reference = UnicodeAttribute(null=True)
    receipt_url = UnicodeAttribute(null=True)  # a Stripe top-up's receipt
    created_at = UTCDateTimeAttribute()
    # On every entry but the daily charge entry: that day's charges so far when this entry was
    # written (tollgate.store.wallet.day_charges_check), so the ledger can show the true
    # balance after it.
    charges_before = NumberAttribute(null=True)


class Payment(_Item):
    """pk ``ACCOUNT#<id>``, sk ``PAYMENT#<checkout session id>``: one top-up through Stripe.

    status: open (session created), paid (credited), failed, expired.
    """

    Meta = _meta(_settings.wallet_table)
    payment_id = UnicodeAttribute()  # the Checkout Session id, cs_...
    account_id = UnicodeAttribute()
    amount = NumberAttribute()  # nano-USD
    currency = UnicodeAttribute(default="usd")
    status = UnicodeAttribute(default="open")
    checkout_url = UnicodeAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)
    receipt_url = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class ProcessedEvent(_Item):
    """pk ``STRIPE_EVENT#<event id>``, sk ``EVENT``: a webhook event already handled."""

    Meta = _meta(_settings.wallet_table)
    event_type = UnicodeAttribute()
    account_id = UnicodeAttribute(null=True)
    processed_at = UTCDateTimeAttribute()
    ttl = TTLAttribute()


class Dispute(_Item):
    """pk ``DISPUTE#<Stripe dispute id>``, sk ``DISPUTE``: a disputed payment, its account and
    the amount held back from the wallet until it closes (status open, won or lost)."""

    Meta = _meta(_settings.wallet_table)
    dispute_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    amount = NumberAttribute()  # nano-USD held back
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class Hold(_Item):
    """pk ``ACCOUNT#<id>``, sk ``HOLD#<request id>``; indexed by expiry for the reaper."""

    Meta = _meta(_settings.wallet_table)
    request_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    model = UnicodeAttribute()
    amount = NumberAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    endpoint = UnicodeAttribute(default="")
    spend_period = UnicodeAttribute(null=True)  # the key's spend counter the hold reserved
    tokens = NumberAttribute(null=True)  # the tokens it reserved in a tpm key's rate window
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_expiry = HoldsByExpiry()
    ttl = TTLAttribute(null=True)


# ------------------------------------------------------------------------------ MetadataTable


class ByRequestAndDay(GlobalSecondaryIndex):
    """Keys only: ``REQUEST#<id> · USAGE`` finds a usage record; ``USAGEDAY#<date> ·
    ACCOUNT#<id>#<key id>`` finds a day's rollups, i.e. the accounts active that day. A rollup's
    index keys never change, so adding to it does not write the index."""

    Meta = _index_meta("by_request_and_day", KeysOnlyProjection())
    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class UsageRecord(_Item):
    """pk ``ACCOUNT#<id>``, sk ``USAGE#<iso time>#<request id>``: metadata only, never content."""

    Meta = _meta(_settings.metadata_table)
    request_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    model = UnicodeAttribute()  # the model that served (or was last tried)
    requested_model = UnicodeAttribute(null=True)  # what the client asked for; absent before
    provider = UnicodeAttribute()
    upstream_model = UnicodeAttribute()
    route = NumberAttribute(default=0)
    endpoint = UnicodeAttribute()
    stream = BooleanAttribute(default=False)
    input_tokens = NumberAttribute(default=0)
    output_tokens = NumberAttribute(default=0)
    cached_tokens = NumberAttribute(default=0)
    cache_write_tokens = NumberAttribute(default=0)
    reasoning_tokens = NumberAttribute(default=0)
    status_code = NumberAttribute()
    error_type = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="settled")
    latency_ms = NumberAttribute(default=0)
    upstream_latency_ms = NumberAttribute(default=0)
    overhead_ms = NumberAttribute(default=0)
    hold = NumberAttribute(default=0)
    charge = NumberAttribute(default=0)
    usage_estimated = BooleanAttribute(default=False)
    video_seconds = NumberAttribute(null=True)  # a video job's seconds delivered
    created_at = UTCDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_request_and_day = ByRequestAndDay()
    ttl = TTLAttribute()


class UsagePointer(_Item):
    """pk ``ACCOUNT#<id>``, sk ``REQUEST#<request id>``: where the request's usage record is,
    written in the same transaction, read consistently by ``GET /v1/usage/{request_id}``."""

    Meta = _meta(_settings.metadata_table)
    usage_sk = UnicodeAttribute()
    ttl = TTLAttribute()


class UsageRollup(_Item):
    """pk ``ACCOUNT#<id>``, sk ``ROLLUP#<date>#<key id>#<model>``: one UTC day of a key's use
    of a model, added to by every settle (and every released hold) in its transaction."""

    Meta = _meta(_settings.metadata_table)
    account_id = UnicodeAttribute()
    day = UnicodeAttribute()  # YYYY-MM-DD, UTC
    key_id = UnicodeAttribute()
    model = UnicodeAttribute()
    requests = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    input_tokens = NumberAttribute(default=0)
    output_tokens = NumberAttribute(default=0)
    charge = NumberAttribute(default=0)  # nano-USD
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_request_and_day = ByRequestAndDay()
    ttl = TTLAttribute()


class ArchiveBatch(_Item):
    """pk ``ACCOUNT#<id>``, sk ``ARCHIVE#<YYYY-MM>``: a complete month's usage in S3."""

    Meta = _meta(_settings.metadata_table)
    account_id = UnicodeAttribute()
    month = UnicodeAttribute()
    object_key = UnicodeAttribute()
    manifest_key = UnicodeAttribute()
    size_bytes = NumberAttribute()
    record_count = NumberAttribute()
    sha256 = UnicodeAttribute()
    schema_version = NumberAttribute()
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute()  # the object's own expiry (the bucket's lifecycle)


class ArchiveProgress(_Item):
    """pk ``ARCHIVE``, sk ``DAY#<date>`` or ``MONTH#<YYYY-MM>``: a day copied to S3 for every
    account, or a month turned into its batches; sk ``START``: the first day to archive."""

    Meta = _meta(_settings.metadata_table)
    accounts = NumberAttribute(default=0)
    records = NumberAttribute(default=0)
    day = UnicodeAttribute(null=True)  # START: the first day the archive job owes
    staging_cleared = BooleanAttribute(null=True)  # MONTH: its daily copies are deleted
    done_at = UTCDateTimeAttribute()


class AccountExport(_Item):
    """pk ``ACCOUNT#<id>``, sk ``EXPORT#<export id>``: one export of everything held about the
    account (``tollgate.exports``): pending, running, then ready (its ZIP in ExportBucket) or
    failed. ``ttl`` is the ZIP's own expiry (the bucket's lifecycle)."""

    Meta = _meta(_settings.metadata_table)
    export_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")
    requested_by = UnicodeAttribute()  # the audit actor, e.g. "key:key_..."
    object_key = UnicodeAttribute(null=True)
    size_bytes = NumberAttribute(null=True)
    record_counts = JSONAttribute(null=True)  # records per file of the ZIP
    failure_code = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute(null=True)
    ttl = TTLAttribute()


class Ticket(_Item):
    """pk ``ACCOUNT#<id>``, sk ``TICKET#<ticket id>``: a support ticket and the metadata of the
    requests and payments it points at, as they were when it was opened (``context``: never a
    prompt or a response, which Tollgate never has). gsi1pk ``TICKETS#active`` or
    ``TICKETS#closed``, gsi1sk ``<opened at>#<ticket id>``: the operator's queue. ``ttl`` is
    set on closing (two years on) and removed on reopening."""

    Meta = _meta(_settings.metadata_table)
    ticket_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    subject = UnicodeAttribute()
    category = UnicodeAttribute()  # billing, access, technical, account, other
    # open, waiting_on_customer, waiting_on_support, closed (tollgate.tickets)
    status = UnicodeAttribute(default="open")
    opened_by = UnicodeAttribute()  # the audit actor, e.g. "person:<id>" or "key:key_..."
    assignee = UnicodeAttribute(null=True)  # the support person working on it (operator's name)
    context = JSONAttribute(default=dict)  # {"requests": [...], "payments": [...]}
    messages = NumberAttribute(default=0)  # how many messages (the next one's sequence)
    uploads = NumberAttribute(default=0)  # files ever asked to upload (store.ticket_files)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    last_customer_at = UTCDateTimeAttribute(null=True)
    last_support_at = UTCDateTimeAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)
    closed_by = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_request_and_day = ByRequestAndDay()
    ttl = TTLAttribute(null=True)


class TicketPointer(_Item):
    """pk ``TICKET#<ticket id>``, sk ``TICKET``: which account a ticket belongs to, for the
    operator's routes (written with the ticket, removed with it)."""

    Meta = _meta(_settings.metadata_table)
    account_id = UnicodeAttribute()
    ttl = TTLAttribute(null=True)


class TicketMessage(_Item):
    """pk ``ACCOUNT#<id>``, sk ``TICKETMSG#<ticket id>#<sequence>``: one message of a ticket's
    thread: what the customer or support typed. ``internal`` notes are support's own, never
    shown to the customer."""

    Meta = _meta(_settings.metadata_table)
    ticket_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    message_id = UnicodeAttribute()
    sequence = NumberAttribute()
    author = UnicodeAttribute()  # customer or support
    actor = UnicodeAttribute()  # the audit actor who wrote it
    author_name = UnicodeAttribute(null=True)  # support's named person, shown to the customer
    body = UnicodeAttribute()
    internal = BooleanAttribute(default=False)
    attachment_ids = ListAttribute(of=UnicodeAttribute, default=list)
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute(null=True)


class TicketAttachment(_Item):
    """pk ``ACCOUNT#<id>``, sk ``TICKETFILE#<ticket id>#<attachment id>``: a file uploaded to a
    ticket through a presigned POST: ``pending`` until a message carries it (``attached``).
    Its object: ``tickets/<account id>/<ticket id>/<attachment id>`` in the attachments
    bucket."""

    Meta = _meta(_settings.metadata_table)
    attachment_id = UnicodeAttribute()
    ticket_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size_bytes = NumberAttribute(null=True)  # known once attached (checked against the object)
    status = UnicodeAttribute(default="pending")  # pending, attached
    uploaded_by = UnicodeAttribute()  # the audit actor
    author = UnicodeAttribute()  # customer or support
    message_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute(null=True)  # pending: a day; attached: as its ticket's


class TicketOpenings(_Item):
    """pk ``ACCOUNT#<id>``, sk ``TICKETRATE#<UTC hour>``: tickets the account opened in that
    hour, counted in the transaction that opens one (the rate limit)."""

    Meta = _meta(_settings.metadata_table)
    opened = NumberAttribute(default=0)
    ttl = TTLAttribute()


# ------------------------------------------------------------------------------ AuditTable


class AuditEvent(_Item):
    """pk ``ACCOUNT#<id>``, sk ``EVENT#<sequence, 12 digits>``: append-only, hash-chained.

    ``previous_digest`` and ``previous_created_at`` describe the account's previous event, so
    a missing event is told apart from one that expired (tollgate.audit documents the digest).
    """

    Meta = _meta(_settings.audit_table)
    account_id = UnicodeAttribute()
    sequence = NumberAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    request_id = UnicodeAttribute(null=True)
    source_ip = UnicodeAttribute(null=True)
    changes = JSONAttribute(null=True)
    previous_digest = UnicodeAttribute()
    previous_created_at = UTCDateTimeAttribute(null=True)  # None for an account's first event
    digest = UnicodeAttribute()
    mac = UnicodeAttribute(null=True)  # HMAC-SHA256 of the canonical JSON, by the audit key
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute()


TABLE_MODELS: tuple[type[Model], ...] = (
    Account,
    AccountEmail,
    Member,
    Invitation,
    InvitationToken,
    ApiKey,
    KeySecret,
    SpendCounter,
    RateWindow,
    Wallet,
    LedgerEntry,
    Payment,
    ProcessedEvent,
    Hold,
    UsageRecord,
    UsageRollup,
    ArchiveBatch,
    ArchiveProgress,
    AccountExport,
    Ticket,
    TicketPointer,
    TicketMessage,
    TicketAttachment,
    TicketOpenings,
    AuditEvent,
)
