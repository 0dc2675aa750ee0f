"""The test session's environment: fake AWS credentials and the functions' variables, resolved
from template.yaml. Imported by the root conftest before any handler or model."""

from __future__ import annotations

import os

from devstack import stack
from devstack.template import LocalNames, Template

TEMPLATE = Template.load()
NAMES = LocalNames.for_template(TEMPLATE, stack="tollgate-test", region=stack.REGION)
OPERATOR_KEY = "tg-op-" + "t" * 43


def install() -> None:
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(stack.BASE_ENVIRONMENT)
    learn_user_pool_ids()
    os.environ.update(stack.functions_environment(TEMPLATE, NAMES))


def learn_user_pool_ids() -> None:
    """The functions read the user pool's and app client's ids once, at import, before any
    test's moto exists; with moto's HASH id strategy every test's pool gets the same ids, so
    one pool made here, as the tests' own provisioning makes it, tells them."""
    import boto3
    from moto import mock_aws

    from devstack.aws import provision_identity

    os.environ["MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY"] = "HASH"
    os.environ["MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY"] = "HASH"
    with mock_aws():
        provision_identity(TEMPLATE, NAMES, boto3.client("cognito-idp", region_name=NAMES.region))
