"""Each function's IAM names only the tables and actions it uses.

The integration tests prove the other half: every AWS call a handler makes there is checked
against its policy (tests/support/iam.py), so a grant missing here fails them.
"""

from __future__ import annotations

import pytest

from tests.support.environment import NAMES, TEMPLATE
from tests.support.iam import Call, as_list, denied, statements

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-test-{}"
ARCHIVE_BUCKET = "arn:aws:s3:::tollgate-test-archivebucket"
ARCHIVE = ARCHIVE_BUCKET + "/{}"
CHECKPOINT_BUCKET = "arn:aws:s3:::tollgate-test-auditcheckpointbucket"
EXPORT_BUCKET = "arn:aws:s3:::tollgate-test-exportbucket"
TICKET_FILES = "arn:aws:s3:::tollgate-test-ticketattachmentsbucket/tickets/*"
STRIPE_KEY = ("secretsmanager:GetSecretValue", "tollgate/dev/stripe-api-key")
EXPORTS_QUEUE = "arn:aws:sqs:us-east-1:123456789012:tollgate-test-ExportsQueue"
AUDIT_KEY = ("secretsmanager:GetSecretValue", "tollgate/dev/audit-hmac-key")
USER_POOL = NAMES.attributes[("UserPool", "Arn")]
QUEUE_NOTIFICATIONS = (
    "sqs:SendMessage",
    "arn:aws:sqs:us-east-1:123456789012:tollgate-test-NotificationsQueue",
)
SENDER_IDENTITY = "arn:aws:ses:us-east-1:123456789012:identity/{}"

# What each function does with each resource, as a reviewer reads the code.
EXPECTED_GRANTS = {
    "AccountFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # is a key a customer's (403) or not (401)
        ("dynamodb:PutItem", TABLE.format("KeysTable")),  # account, email guard, admin key
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # suspend, reinstate
        ("dynamodb:Query", TABLE.format("KeysTable") + "/index/by_account"),  # account list
        ("dynamodb:BatchGetItem", TABLE.format("WalletTable")),  # the listed accounts' wallets
        ("dynamodb:PutItem", TABLE.format("WalletTable")),  # wallet at zero, adjustment entry
        ("dynamodb:UpdateItem", TABLE.format("WalletTable")),  # adjustment: conditional balance
        ("dynamodb:GetItem", TABLE.format("WalletTable")),  # the wallet, the day's charges
        ("dynamodb:ConditionCheckItem", TABLE.format("WalletTable")),  # day's charges unchanged
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # audit events (conditional)
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the chain's head, to append
        ("secretsmanager:GetSecretValue", "tollgate/dev/operator-key-digest"),
        AUDIT_KEY,  # signs its audit events
        QUEUE_NOTIFICATIONS,  # suspended, reinstated
    },
    "AuditFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the admin key behind a secret
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the account's events
    },
    "BillingFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the admin key behind a secret
        ("dynamodb:GetItem", TABLE.format("WalletTable")),  # wallet, one payment
        ("dynamodb:Query", TABLE.format("WalletTable")),  # ledger pages, payments
        ("dynamodb:PutItem", TABLE.format("WalletTable")),  # the open payment of a checkout
        ("secretsmanager:GetSecretValue", "tollgate/dev/stripe-api-key"),  # Checkout Sessions
    },
    "ProxyFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the key behind a presented secret
        ("dynamodb:BatchGetItem", TABLE.format("KeysTable")),  # key record + account profile
        ("dynamodb:ConditionCheckItem", TABLE.format("KeysTable")),  # hold: key, account active
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # settle: key spend, last used
        ("dynamodb:Query", TABLE.format("KeysTable")),  # preflight: does a key allow an origin
        ("dynamodb:PutItem", TABLE.format("WalletTable")),  # hold record
        ("dynamodb:UpdateItem", TABLE.format("WalletTable")),  # balance, held, daily charges
        ("dynamodb:DeleteItem", TABLE.format("WalletTable")),  # settle releases the hold
        ("dynamodb:PutItem", TABLE.format("MetadataTable")),  # usage record
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # a lost settle's record read back
        ("dynamodb:UpdateItem", TABLE.format("MetadataTable")),  # the day's usage rollup
        ("dynamodb:Query", TABLE.format("MetadataTable")),  # the account's video jobs
        ("secretsmanager:GetSecretValue", "tollgate/dev/provider-keys"),
    },
    "PaymentWebhookFunction": {
        ("dynamodb:GetItem", TABLE.format("WalletTable")),  # event processed?, the payment
        ("dynamodb:PutItem", TABLE.format("WalletTable")),  # event marker, ledger entry
        ("dynamodb:UpdateItem", TABLE.format("WalletTable")),  # balance, payment status
        ("dynamodb:ConditionCheckItem", TABLE.format("WalletTable")),  # day's charges unchanged
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # dispute flag on the account
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # wallet.credited, payment.disputed
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the previous event, for the chain
        AUDIT_KEY,  # signs its audit events
        ("secretsmanager:GetSecretValue", "tollgate/dev/stripe-webhook-secret"),  # signatures
        ("secretsmanager:GetSecretValue", "tollgate/dev/stripe-api-key"),  # receipts, disputes
        QUEUE_NOTIFICATIONS,  # the payment confirmation
    },
    "UsageFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the admin key behind a secret
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # a usage record, an archive batch
        ("dynamodb:Query", TABLE.format("MetadataTable")),  # usage pages, rollups, archives
        ("dynamodb:Query", TABLE.format("MetadataTable") + "/index/by_request_and_day"),
        ("dynamodb:GetItem", TABLE.format("WalletTable")),  # a hold's key: a settle to wait for
        ("s3:GetObject", ARCHIVE.format("archives/*")),  # signs the download links
    },
    "ArchiveFunction": {
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # progress markers
        ("dynamodb:Query", TABLE.format("MetadataTable")),  # a day's usage of an account
        ("dynamodb:Query", TABLE.format("MetadataTable") + "/index/by_request_and_day"),
        ("dynamodb:PutItem", TABLE.format("MetadataTable")),  # batch index, progress markers
        ("s3:PutObject", ARCHIVE.format("archives/*")),
        ("s3:GetObject", ARCHIVE.format("archives/*")),
        ("s3:PutObject", ARCHIVE.format("staging/*")),  # the daily copies
        ("s3:GetObject", ARCHIVE.format("staging/*")),
        ("s3:DeleteObject", ARCHIVE.format("staging/*")),
        ("s3:ListBucket", ARCHIVE_BUCKET),  # a month's daily copies
    },
    "ReaperFunction": {
        ("dynamodb:Query", TABLE.format("WalletTable") + "/index/by_expiry"),  # expired holds
        ("dynamodb:DeleteItem", TABLE.format("WalletTable")),  # the hold (if still there)
        ("dynamodb:UpdateItem", TABLE.format("WalletTable")),  # refund to the balance
        ("dynamodb:PutItem", TABLE.format("MetadataTable")),  # the abandoned usage record
        ("dynamodb:UpdateItem", TABLE.format("MetadataTable")),  # the day's rollup
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # spend cap reservation back
    },
    "VideoJobsFunction": {
        ("dynamodb:Query", TABLE.format("MetadataTable") + "/index/by_request_and_day"),  # running
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # a job; a lost settle's record
        ("dynamodb:UpdateItem", TABLE.format("MetadataTable")),  # the job's status, the rollup
        ("dynamodb:PutItem", TABLE.format("MetadataTable")),  # the usage record
        ("dynamodb:DeleteItem", TABLE.format("WalletTable")),  # the hold, settled or released
        ("dynamodb:UpdateItem", TABLE.format("WalletTable")),  # balance, held, daily charges
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # key spend, last use, cap counter
        ("secretsmanager:GetSecretValue", "tollgate/dev/provider-keys"),  # polls the provider
    },
    "PurgeFunction": {
        ("dynamodb:Query", TABLE.format("KeysTable")),  # the accounts due
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the account's profile
        ("dynamodb:Query", TABLE.format("KeysTable") + "/index/by_account"),  # every key
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # the scrubbed profile
        # keys, members, invitations and their tokens, people's codes, guard, marker
        ("dynamodb:DeleteItem", TABLE.format("KeysTable")),
        # the archive index, export records, tickets with their threads, files and pointers
        ("dynamodb:Query", TABLE.format("MetadataTable")),
        ("dynamodb:DeleteItem", TABLE.format("MetadataTable")),
        ("s3:ListBucketVersions", ARCHIVE_BUCKET),
        ("s3:DeleteObject", ARCHIVE.format("archives/*")),
        ("s3:DeleteObjectVersion", ARCHIVE.format("archives/*")),
        ("s3:ListBucketVersions", EXPORT_BUCKET),
        ("s3:DeleteObject", EXPORT_BUCKET + "/exports/*"),
        ("s3:DeleteObjectVersion", EXPORT_BUCKET + "/exports/*"),
        ("s3:ListBucket", TICKET_FILES[:-10]),  # the account's ticket files
        ("s3:DeleteObject", TICKET_FILES),
        ("cognito-idp:AdminDeleteUser", USER_POOL),  # logins of people in no other account
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # account.purged
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the previous event, for the chain
        AUDIT_KEY,
    },
    "KeysFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),
        ("dynamodb:BatchGetItem", TABLE.format("KeysTable")),  # spend in the cap period
        ("dynamodb:PutItem", TABLE.format("KeysTable")),
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),
        ("dynamodb:DeleteItem", TABLE.format("KeysTable")),  # origin index: a key's origins
        ("dynamodb:Query", TABLE.format("KeysTable") + "/index/by_account"),
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # append-only audit events
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the previous event, for the chain
        AUDIT_KEY,  # signs its audit events
        QUEUE_NOTIFICATIONS,  # key created, rotated, revoked
    },
    "MailerFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the account: name, email, preferences
        ("dynamodb:Query", TABLE.format("KeysTable")),  # the account's owners
        ("ses:SendRawEmail", SENDER_IDENTITY.format("notifications@example.com")),
        ("ses:SendRawEmail", SENDER_IDENTITY.format("example.com")),  # a verified domain
    },
    "BalanceWatchFunction": {
        ("dynamodb:Query", TABLE.format("KeysTable") + "/index/by_account"),  # watched accounts
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # the warning flag on the profile
        ("dynamodb:BatchGetItem", TABLE.format("WalletTable")),  # their wallets
        QUEUE_NOTIFICATIONS,  # the low-balance warning
    },
    "MembersFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # key, member, invitation, account
        ("dynamodb:Query", TABLE.format("KeysTable")),  # an account's members, invitations
        ("dynamodb:Query", TABLE.format("KeysTable") + "/index/by_account"),  # a person's
        ("dynamodb:PutItem", TABLE.format("KeysTable")),  # invitation, its token, new member
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # a role; a removed member's keys
        ("dynamodb:DeleteItem", TABLE.format("KeysTable")),  # member, used/revoked invitation
        ("dynamodb:ConditionCheckItem", TABLE.format("KeysTable")),  # another owner remains
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # member.* events
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the previous event, for the chain
        AUDIT_KEY,  # signs its audit events
        QUEUE_NOTIFICATIONS,  # member invited, removed
    },
    "AccountSelfFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the caller, the account's profile
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # profile, deletion, keys revoked
        ("dynamodb:PutItem", TABLE.format("KeysTable")),  # deletion marker, email-change code
        ("dynamodb:DeleteItem", TABLE.format("KeysTable")),  # marker, invitations, used code
        ("dynamodb:Query", TABLE.format("KeysTable")),  # the pending invitations
        ("dynamodb:Query", TABLE.format("KeysTable") + "/index/by_account"),  # keys; a person's
        QUEUE_NOTIFICATIONS,  # deletion scheduled, the email change's code
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # one export
        ("dynamodb:PutItem", TABLE.format("MetadataTable")),  # a new export, pending
        ("dynamodb:UpdateItem", TABLE.format("MetadataTable")),  # failed when it cannot queue
        ("dynamodb:Query", TABLE.format("MetadataTable")),  # an export under way already?
        ("sqs:SendMessage", EXPORTS_QUEUE),  # the export for ExportFunction
        ("s3:GetObject", EXPORT_BUCKET + "/exports/*"),  # signs the download links
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # export requested, link issued
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the previous event, for the chain
        AUDIT_KEY,  # signs its audit events
    },
    "ExportFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the account's profile
        ("dynamodb:Query", TABLE.format("KeysTable")),  # the account's members
        ("dynamodb:BatchGetItem", TABLE.format("KeysTable")),  # capped keys' period spend
        ("dynamodb:Query", TABLE.format("KeysTable") + "/index/by_account"),  # the keys
        ("dynamodb:GetItem", TABLE.format("WalletTable")),  # the wallet
        ("dynamodb:Query", TABLE.format("WalletTable")),  # ledger, payments
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # the export
        ("dynamodb:Query", TABLE.format("MetadataTable")),  # 90 days of usage
        ("dynamodb:UpdateItem", TABLE.format("MetadataTable")),  # the export's status
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the audit trail
        ("s3:PutObject", EXPORT_BUCKET + "/exports/*"),  # the ZIP
        ("s3:DeleteObject", EXPORT_BUCKET + "/exports/*"),  # a ZIP whose export then failed
    },
    "AuthFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # codes, failed log-ins, sign-outs
        ("dynamodb:PutItem", TABLE.format("KeysTable")),  # those, and account with its owner
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # wrong guesses, failed log-ins
        ("dynamodb:DeleteItem", TABLE.format("KeysTable")),  # a code used up
        ("dynamodb:PutItem", TABLE.format("WalletTable")),  # the new account's wallet at zero
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # account.created, member.added
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the chain's head, to append
        AUDIT_KEY,  # signs its audit events
        ("cognito-idp:AdminGetUser", USER_POOL),  # who an email is, confirmed or not
        ("cognito-idp:AdminDeleteUser", USER_POOL),  # an unconfirmed sign-up starting over
        ("cognito-idp:AdminConfirmSignUp", USER_POOL),  # our code proved the email
        ("cognito-idp:AdminUpdateUserAttributes", USER_POOL),  # email_verified
        ("cognito-idp:AdminSetUserPassword", USER_POOL),  # a reset with our code
        ("cognito-idp:AdminUserGlobalSignOut", USER_POOL),  # after a reset
        QUEUE_NOTIFICATIONS,  # codes, mailed by the mailer
    },
    "TicketsFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the caller's key or membership
        ("dynamodb:Query", TABLE.format("KeysTable")),  # the members to notify
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # a ticket, a usage record
        ("dynamodb:BatchGetItem", TABLE.format("MetadataTable")),  # the operator queue's page
        ("dynamodb:Query", TABLE.format("MetadataTable")),  # tickets, threads, files
        ("dynamodb:PutItem", TABLE.format("MetadataTable")),  # ticket, message, file, pointer
        ("dynamodb:UpdateItem", TABLE.format("MetadataTable")),  # status, count, retention
        ("dynamodb:ConditionCheckItem", TABLE.format("MetadataTable")),  # (transactions)
        ("dynamodb:Query", TABLE.format("MetadataTable") + "/index/by_request_and_day"),
        ("dynamodb:GetItem", TABLE.format("WalletTable")),  # a payment; a pending settle
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # ticket.* events
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the chain's head, to append
        ("secretsmanager:GetSecretValue", "tollgate/dev/operator-key-digest"),  # the operator's key
        AUDIT_KEY,  # signs its audit events
        STRIPE_KEY,  # a payment's state at Stripe, for the operator
        ("s3:PutObject", TICKET_FILES),  # signs upload policies; copies closed tickets' files
        ("s3:PutObjectTagging", TICKET_FILES),  # the copies' ticket=closed / ticket=open tag
        ("s3:GetObject", TICKET_FILES),  # signs downloads; checks an upload
        ("s3:DeleteObject", TICKET_FILES),  # a closed ticket's unclaimed uploads
        ("s3:ListBucket", TICKET_FILES.removesuffix("/tickets/*")),  # a closing ticket's uploads
        QUEUE_NOTIFICATIONS,  # replies to members, new tickets to support
    },
    "DocsFunction": set(),  # serves a document built from the code: no AWS call at all
    "AuditCheckpointFunction": {
        ("dynamodb:Scan", TABLE.format("AuditTable")),  # each account's head
        AUDIT_KEY,  # signs the checkpoints
        ("s3:PutObject", CHECKPOINT_BUCKET + "/checkpoints/*"),  # locked on write
        ("s3:GetObject", CHECKPOINT_BUCKET + "/checkpoints/*"),  # checkpointed already?
        ("s3:ListBucket", CHECKPOINT_BUCKET),  # so that a missing checkpoint is a 404
    },
}

# The console serves, as pages, the routes of these functions: the customer's side (tickets
# included), the audit log (AuditFunction's read of the trail), and, behind the operator's own
# sign-in, the operator area (AccountFunction's routes and TicketsFunction's operator queue,
# which need the operator key's digest). It may do what they do, nothing more.
CONSOLE_SERVES = (
    "AuthFunction",
    "KeysFunction",
    "MembersFunction",
    "BillingFunction",
    "UsageFunction",
    "AccountSelfFunction",
    "TicketsFunction",
    "AuditFunction",
    "AccountFunction",
)
EXPECTED_GRANTS["ConsoleFunction"] = set().union(
    *(EXPECTED_GRANTS[name] for name in CONSOLE_SERVES)
)


def grants(logical_id: str) -> set[tuple[str, str]]:
    found = set()
    for statement in statements(TEMPLATE.functions()[logical_id].policies, NAMES):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                found.add((action, resource))
    return found


@pytest.mark.parametrize("logical_id", sorted(TEMPLATE.functions()))
def test_each_function_is_granted_exactly_what_it_uses(logical_id):
    assert grants(logical_id) == EXPECTED_GRANTS[logical_id]


@pytest.mark.parametrize("logical_id", sorted(TEMPLATE.functions()))
def test_no_grant_uses_a_wildcard(logical_id):
    for action, resource in grants(logical_id):
        # the one exception: the objects under one prefix of a bucket
        buckets = (ARCHIVE_BUCKET, CHECKPOINT_BUCKET, EXPORT_BUCKET, TICKET_FILES[:-10])
        bucket = next((b for b in buckets if resource.startswith(b)), "")
        objects = bool(bucket) and resource.count("*") == 1
        assert "*" not in action and ("*" not in resource or objects), (action, resource)
        if objects:
            assert resource.endswith("/*") and resource != bucket + "/*", resource


def test_no_function_may_change_or_delete_audit_events():
    audit = TABLE.format("AuditTable")
    for logical_id in TEMPLATE.functions():
        actions = {action for action, resource in grants(logical_id) if resource.startswith(audit)}
        assert actions <= {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"}, logical_id


def test_no_function_may_delete_or_relock_an_audit_checkpoint():
    for logical_id in TEMPLATE.functions():
        for action, resource in grants(logical_id):
            if resource.startswith(CHECKPOINT_BUCKET):
                assert action in {"s3:PutObject", "s3:GetObject", "s3:ListBucket"}, logical_id
                assert logical_id == "AuditCheckpointFunction", logical_id


def test_only_the_audit_writers_and_the_checkpoint_job_read_the_audit_key():
    readers = {f for f in TEMPLATE.functions() if AUDIT_KEY in grants(f)}
    assert readers == {
        "AccountFunction",
        "AccountSelfFunction",
        "AuthFunction",
        "KeysFunction",
        "MembersFunction",
        "PaymentWebhookFunction",
        "AuditCheckpointFunction",
        "PurgeFunction",
        "TicketsFunction",
        "ConsoleFunction",  # it writes what the functions it serves write
    }


# ------------------------------------------------------------------------------ trust levels


def leading_keys(logical_id: str, action: str, table: str) -> list[list[str] | None]:
    """The LeadingKeys patterns of each statement granting ``action`` on ``table`` (None: a
    statement without that condition)."""
    found: list[list[str] | None] = []
    for statement in statements(TEMPLATE.functions()[logical_id].policies, NAMES):
        if action in as_list(statement["Action"]) and TABLE.format(table) in as_list(
            statement["Resource"]
        ):
            condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
            patterns = condition.get("dynamodb:LeadingKeys")
            found.append(as_list(patterns) if patterns is not None else None)
    return found


def test_the_audit_trail_is_read_by_a_function_that_can_write_nothing():
    # The trail is append-only, hash-chained and HMAC-signed: no function may update or
    # delete an event (test_no_function_may_change_or_delete_audit_events). The API's reader,
    # AuditFunction, can write nothing at all. The console's audit log page reads the same
    # trail through the same layer function (audit.list_events), so ConsoleFunction holds this
    # Query too: it appends events as the other writers do, and still can change none.
    (route,) = [r for r in TEMPLATE.routes() if r.path == "/v1/audit"]

    assert route.function == "AuditFunction"
    assert grants("AuditFunction") == {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the admin key behind a secret
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the account's events
    }
    whole_trail_readers = {
        logical_id
        for logical_id, function in TEMPLATE.functions().items()
        for statement in statements(function.policies, NAMES)
        if "dynamodb:Query" in as_list(statement["Action"])
        and TABLE.format("AuditTable") in as_list(statement["Resource"])
        and "Condition" not in statement
    }
    # and the data export job, whose archive of the account holds its trail
    assert whole_trail_readers == {"AuditFunction", "ConsoleFunction", "ExportFunction"}


def test_the_auth_function_writes_only_identity_items_and_new_accounts():
    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert leading_keys("AuthFunction", action, "KeysTable") == [
            ["CODE#*", "LOGINFAIL#*", "CODEMAIL#*", "PERSON#*"]
        ]
    assert leading_keys("AuthFunction", "dynamodb:PutItem", "WalletTable") == [["ACCOUNT#*"]]


def test_the_mailer_reads_account_profiles_only_and_sends_as_the_sender_only():
    # Given the template's grants, when the mailer's are read, then its table reads stay on
    # account items and its only SES identity is the configured sender (or its domain)
    assert leading_keys("MailerFunction", "dynamodb:GetItem", "KeysTable") == [["ACCOUNT#*"]]
    assert leading_keys("MailerFunction", "dynamodb:Query", "KeysTable") == [["ACCOUNT#*"]]
    ses = {resource for action, resource in grants("MailerFunction") if action.startswith("ses:")}
    assert ses == {
        SENDER_IDENTITY.format("notifications@example.com"),
        SENDER_IDENTITY.format("example.com"),
    }


def test_only_the_functions_that_notify_may_queue_notifications():
    senders = {f for f in TEMPLATE.functions() if QUEUE_NOTIFICATIONS in grants(f)}
    assert senders == {
        "KeysFunction",
        "PaymentWebhookFunction",
        "BalanceWatchFunction",
        "AccountFunction",
        "MembersFunction",
        "AuthFunction",
        "AccountSelfFunction",
        "TicketsFunction",
        "ConsoleFunction",  # what those do, from the console's pages
    }


def test_the_account_self_function_writes_the_profile_and_email_change_items_only():
    codes = ["CODE#email_change#*", "CODEMAIL#*", "EMAIL#*"]
    deletion = ["ACCOUNT#*", "KEY#*", "DELETIONS", "INVITATION#*"]
    assert leading_keys("AccountSelfFunction", "dynamodb:UpdateItem", "KeysTable") == [
        deletion,
        codes,
        ["ACCOUNT#*"],
    ]
    assert leading_keys("AccountSelfFunction", "dynamodb:PutItem", "KeysTable") == [
        deletion,
        codes,
    ]
    # the revoked keys' entries in the browser origin index go with them
    assert leading_keys("AccountSelfFunction", "dynamodb:DeleteItem", "KeysTable") == [
        ["ORIGIN#*"],
        deletion,
        codes,
    ]
    (query,) = [
        s
        for s in statements(TEMPLATE.functions()["AccountSelfFunction"].policies, NAMES)
        if s["Resource"] == TABLE.format("KeysTable") + "/index/by_account"
    ]
    assert query["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "ACCOUNT#*",
        "PERSON#*",
    ]


def test_the_balance_watch_reads_only_watched_accounts_and_their_wallets():
    keys_index = TABLE.format("KeysTable") + "/index/by_account"
    (query,) = [
        s
        for s in statements(TEMPLATE.functions()["BalanceWatchFunction"].policies, NAMES)
        if s["Resource"] == keys_index
    ]
    assert query["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["ACCOUNTS"]
    assert leading_keys("BalanceWatchFunction", "dynamodb:UpdateItem", "KeysTable") == [
        ["ACCOUNT#*"]
    ]
    assert leading_keys("BalanceWatchFunction", "dynamodb:BatchGetItem", "WalletTable") == [
        ["ACCOUNT#*"]
    ]


def test_the_account_function_serves_operator_routes_only():
    paths = {r.path for r in TEMPLATE.routes() if r.function == "AccountFunction"}

    assert paths and all(path.startswith("/operator/") for path in paths)


def test_the_archive_job_may_delete_its_daily_copies_but_no_archive():
    deletes = {r for action, r in grants("ArchiveFunction") if action == "s3:DeleteObject"}

    assert deletes == {ARCHIVE.format("staging/*")}


def test_the_webhook_may_update_account_profiles_only_in_the_keys_table():
    # the dispute flag; never a key, a secret item or a spend counter
    assert leading_keys("PaymentWebhookFunction", "dynamodb:UpdateItem", "KeysTable") == [
        ["ACCOUNT#*"]
    ]


@pytest.mark.parametrize(
    "action",
    [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ],
)
def test_the_members_function_writes_account_items_and_invitation_tokens_only(action):
    # members and invitations; never a key's secret item or a spend counter, and a key
    # record only to revoke a removed member's keys (and their browser origin index entries)
    revoking = {"dynamodb:UpdateItem": [["KEY#*"]], "dynamodb:DeleteItem": [["ORIGIN#*"]]}
    assert leading_keys("MembersFunction", action, "KeysTable") == [
        ["ACCOUNT#*", "INVITATION#*"],
        *revoking.get(action, []),
    ]


def test_the_reaper_touches_only_account_items_and_key_counters():
    # IAM conditions see the partition key only: "sk begins with HOLD#" is not expressible,
    # so the reaper may delete any ACCOUNT# item of WalletTable (docs/architecture.md)
    assert leading_keys("ReaperFunction", "dynamodb:DeleteItem", "WalletTable") == [["ACCOUNT#*"]]
    assert leading_keys("ReaperFunction", "dynamodb:UpdateItem", "WalletTable") == [["ACCOUNT#*"]]
    assert leading_keys("ReaperFunction", "dynamodb:UpdateItem", "KeysTable") == [["KEY#*"]]
    assert leading_keys("ReaperFunction", "dynamodb:PutItem", "MetadataTable") == [["ACCOUNT#*"]]


def test_the_video_jobs_function_reads_running_jobs_and_touches_only_account_and_key_items():
    # Given the scheduled function that settles jobs nobody polls: it finds them in the
    # index's one partition of running jobs, and moves money as the reaper does
    (query,) = [
        s
        for s in statements(TEMPLATE.functions()["VideoJobsFunction"].policies, NAMES)
        if s["Resource"] == TABLE.format("MetadataTable") + "/index/by_request_and_day"
    ]
    assert query["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "VIDEOS#RUNNING"
    ]
    for action, table in [
        ("dynamodb:GetItem", "MetadataTable"),
        ("dynamodb:PutItem", "MetadataTable"),
        ("dynamodb:UpdateItem", "MetadataTable"),
        ("dynamodb:DeleteItem", "WalletTable"),
        ("dynamodb:UpdateItem", "WalletTable"),
    ]:
        assert leading_keys("VideoJobsFunction", action, table) == [["ACCOUNT#*"]], action
    assert leading_keys("VideoJobsFunction", "dynamodb:UpdateItem", "KeysTable") == [["KEY#*"]]


def test_the_proxy_lists_the_video_jobs_of_accounts_only():
    assert leading_keys("ProxyFunction", "dynamodb:Query", "MetadataTable") == [["ACCOUNT#*"]]


def test_the_proxy_asks_the_browser_origin_index_and_no_other_keys_item():
    assert leading_keys("ProxyFunction", "dynamodb:Query", "KeysTable") == [["ORIGIN#*"]]


def test_the_purge_deletes_account_items_and_ticket_pointers_only():
    assert leading_keys("PurgeFunction", "dynamodb:DeleteItem", "MetadataTable") == [
        ["ACCOUNT#*"],
        ["TICKET#*"],
    ]


# ------------------------------------------------------------------------------ the checker


def a_policy(condition: dict) -> list[dict]:
    statement = {
        "Effect": "Allow",
        "Action": ["dynamodb:UpdateItem"],
        "Resource": TABLE.format("KeysTable"),
        "Condition": condition,
    }
    return [{"Statement": [statement]}]


def test_the_iam_checker_denies_a_call_outside_the_leading_keys():
    policy = a_policy({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ACCOUNT#*"]}})
    inside = Call("dynamodb:UpdateItem", TABLE.format("KeysTable"), ("ACCOUNT#acct_1",))
    outside = Call("dynamodb:UpdateItem", TABLE.format("KeysTable"), ("SECRET#abc",))

    assert denied([inside, outside], policy, NAMES) == [outside]


def test_the_iam_checker_refuses_a_condition_it_does_not_understand():
    policy = a_policy({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    call = Call("dynamodb:UpdateItem", TABLE.format("KeysTable"), ("ACCOUNT#acct_1",))

    with pytest.raises(AssertionError, match="does not understand"):
        denied([call], policy, NAMES)


# ------------------------------------------------------------------------------ logs


def test_every_function_logs_to_its_own_group_with_a_retention():
    groups = TEMPLATE.of_type("AWS::Logs::LogGroup")
    for logical_id, props in TEMPLATE.of_type("AWS::Serverless::Function").items():
        group = f"{logical_id}LogGroup"
        assert props["LoggingConfig"]["LogGroup"] == {"Ref": group}, logical_id
        assert groups[group]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id


def test_the_api_logs_access_without_bodies_to_a_group_with_a_retention():
    api = TEMPLATE.of_type("AWS::Serverless::Api")["TollgateApi"]
    access = api["AccessLogSetting"]
    group = TEMPLATE.of_type("AWS::Logs::LogGroup")["ApiAccessLogGroup"]

    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "$context.requestId" in access["Format"]
    assert "body" not in access["Format"].lower() and "$input" not in access["Format"]
    assert all(setting.get("DataTraceEnabled") is False for setting in api["MethodSettings"])


def test_the_iam_checker_denies_a_read_beyond_the_allowed_attributes():
    policy = a_policy(
        {
            "ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk", "sk", "digest"]},
            "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
        }
    )
    table = TABLE.format("KeysTable")
    head = Call("dynamodb:UpdateItem", table, (), ("pk", "digest"), "SPECIFIC_ATTRIBUTES")
    everything = Call("dynamodb:UpdateItem", table, (), (), None)
    more = Call("dynamodb:UpdateItem", table, (), ("pk", "actor"), "SPECIFIC_ATTRIBUTES")

    assert denied([head, everything, more], policy, NAMES) == [everything, more]


@pytest.mark.parametrize(
    "logical_id",
    [
        "AccountFunction",
        "AccountSelfFunction",
        "KeysFunction",
        "MembersFunction",
        "PaymentWebhookFunction",
        "PurgeFunction",
    ],
)
def test_audit_writers_may_read_only_the_chain_head(logical_id):
    queries = [
        s
        for s in statements(TEMPLATE.functions()[logical_id].policies, NAMES)
        if "dynamodb:Query" in as_list(s["Action"])
        and TABLE.format("AuditTable") in as_list(s["Resource"])
    ]

    assert [q["Condition"] for q in queries] == [
        {
            "ForAllValues:StringEquals": {
                "dynamodb:Attributes": ["pk", "sk", "sequence", "digest", "created_at"]
            },
            "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
        }
    ]


def test_only_the_webhook_function_may_read_the_stripe_signing_secret():
    # the signing secret is what makes a webhook event credit a wallet: a customer-facing
    # function that could read it could forge credits
    signing_secret = "tollgate/dev/stripe-webhook-secret"
    readers = {
        logical_id
        for logical_id in TEMPLATE.functions()
        if any(resource == signing_secret for _, resource in grants(logical_id))
    }

    assert readers == {"PaymentWebhookFunction"}
    assert ("secretsmanager:GetSecretValue", signing_secret) not in grants("BillingFunction")


def test_only_the_functions_that_call_stripe_may_read_its_api_key():
    api_key = "tollgate/dev/stripe-api-key"
    readers = {
        logical_id
        for logical_id in TEMPLATE.functions()
        if any(resource == api_key for _, resource in grants(logical_id))
    }

    # TicketsFunction: a ticket's payment as Stripe has it, for the operator; ConsoleFunction:
    # a top-up's Checkout Session
    assert readers == {
        "BillingFunction",
        "PaymentWebhookFunction",
        "TicketsFunction",
        "ConsoleFunction",
    }
