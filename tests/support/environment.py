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
    os.environ.update(stack.functions_environment(TEMPLATE, NAMES))
