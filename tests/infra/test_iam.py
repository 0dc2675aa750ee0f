"""Each function's IAM names only the tables and actions it uses.

The integration tests prove the other half: every AWS call a handler makes there is checked
against its policy (tests/support/iam.py), so a grant missing here fails them.
"""

from __future__ import annotations

import pytest

from tests.support.environment import NAMES, TEMPLATE
from tests.support.iam import as_list, statements

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/tollgate-test-{}"
ARCHIVE_BUCKET = "arn:aws:s3:::tollgate-test-archivebucket"
ARCHIVE = ARCHIVE_BUCKET + "/{}"

# What each function does with each resource, as a reviewer reads the code.
EXPECTED_GRANTS = {
    "AccountFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # is a key a customer's (403) or not (401)
        ("dynamodb:PutItem", TABLE.format("KeysTable")),  # account, email guard, admin key
        ("dynamodb:PutItem", TABLE.format("WalletTable")),  # wallet at zero, adjustment entry
        ("dynamodb:UpdateItem", TABLE.format("WalletTable")),  # adjustment: conditional balance
        ("dynamodb:GetItem", TABLE.format("WalletTable")),  # the wallet, the day's charges
        ("dynamodb:ConditionCheckItem", TABLE.format("WalletTable")),  # day's charges unchanged
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # audit events (conditional)
        ("dynamodb:Query", TABLE.format("AuditTable")),  # chain head, audit list
        ("secretsmanager:GetSecretValue", "tollgate/dev/operator-key-digest"),
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
        ("dynamodb:ConditionCheckItem", TABLE.format("KeysTable")),  # hold: key still active
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),  # settle: key spend, last used
        ("dynamodb:PutItem", TABLE.format("WalletTable")),  # hold record
        ("dynamodb:UpdateItem", TABLE.format("WalletTable")),  # balance, held, daily charges
        ("dynamodb:DeleteItem", TABLE.format("WalletTable")),  # settle releases the hold
        ("dynamodb:PutItem", TABLE.format("MetadataTable")),  # usage record
        ("dynamodb:UpdateItem", TABLE.format("MetadataTable")),  # the day's usage rollup
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
        ("secretsmanager:GetSecretValue", "tollgate/dev/stripe-webhook-secret"),  # signatures
        ("secretsmanager:GetSecretValue", "tollgate/dev/stripe-api-key"),  # receipts, disputes
    },
    "UsageFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),  # the admin key behind a secret
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # a usage record, an archive batch
        ("dynamodb:Query", TABLE.format("MetadataTable")),  # usage pages, rollups, archives
        ("dynamodb:Query", TABLE.format("MetadataTable") + "/index/by_request_and_day"),
        ("s3:GetObject", ARCHIVE.format("archives/*")),  # signs the download links
    },
    "ArchiveFunction": {
        ("dynamodb:GetItem", TABLE.format("MetadataTable")),  # progress markers
        ("dynamodb:Query", TABLE.format("MetadataTable")),  # a day's usage of an account
        ("dynamodb:Query", TABLE.format("MetadataTable") + "/index/by_request_and_day"),
        ("dynamodb:PutItem", TABLE.format("MetadataTable")),  # batch index, progress markers
        ("s3:PutObject", ARCHIVE.format("archives/*")),
        ("s3:GetObject", ARCHIVE.format("archives/*")),
        ("s3:DeleteObject", ARCHIVE.format("archives/*")),
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
    "KeysFunction": {
        ("dynamodb:GetItem", TABLE.format("KeysTable")),
        ("dynamodb:BatchGetItem", TABLE.format("KeysTable")),  # spend in the cap period
        ("dynamodb:PutItem", TABLE.format("KeysTable")),
        ("dynamodb:UpdateItem", TABLE.format("KeysTable")),
        ("dynamodb:Query", TABLE.format("KeysTable") + "/index/by_account"),
        ("dynamodb:PutItem", TABLE.format("AuditTable")),  # append-only audit events
        ("dynamodb:Query", TABLE.format("AuditTable")),  # the previous event, for the chain
    },
}


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
        # the one exception: the objects under one prefix of the archive bucket
        objects = resource.startswith(ARCHIVE.format("")) and resource.count("*") == 1
        assert "*" not in action and ("*" not in resource or objects), (action, resource)
        if objects:
            assert resource.endswith("/*") and resource != ARCHIVE.format("*"), resource


def test_no_function_may_change_or_delete_audit_events():
    audit = TABLE.format("AuditTable")
    for logical_id in TEMPLATE.functions():
        actions = {action for action, resource in grants(logical_id) if resource.startswith(audit)}
        assert actions <= {"dynamodb:PutItem", "dynamodb:Query"}, logical_id


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

    assert readers == {"BillingFunction", "PaymentWebhookFunction"}
