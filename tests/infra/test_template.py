"""template.yaml is the single source of truth; these tests hold the code to it."""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import pytest
from cfnlint.api import lint_file
from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from samtranslator.translator.transform import transform

from devstack.emulator import ApiEmulator, FunctionPool
from devstack.stack import functions_environment
from devstack.template import ROOT, TEMPLATE_PATH, LocalNames, Template
from tests.support.environment import NAMES, TEMPLATE
from tollgate.settings import Settings
from tollgate.store.models import TABLE_MODELS

ATTRIBUTE_TYPES = {UnicodeAttribute: "S", NumberAttribute: "N"}


def test_the_template_passes_cfn_lint():
    assert lint_file(Path(TEMPLATE_PATH)) == []


def test_every_function_runs_python313_on_arm64_with_the_layer():
    function_globals = TEMPLATE.document["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Layers"] == [{"Ref": "CommonLayer"}]
    layer = TEMPLATE.resources["CommonLayer"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"  # its Makefile builds for python3.13
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert (ROOT / "layers/common/requirements.txt").exists()


def tables_with_models() -> list:
    return [
        pytest.param(
            props,
            [m for m in TABLE_MODELS if m.Meta.table_name == NAMES.refs[logical_id]],
            id=logical_id,
        )
        for logical_id, props in TEMPLATE.tables().items()
    ]


def has_ttl(model) -> bool:
    return any(isinstance(a, TTLAttribute) for a in model.get_attributes().values())


@pytest.mark.parametrize(("table", "models"), tables_with_models())
def test_every_table_has_models_with_its_keys(table, models):
    assert models, "a table without a PynamoDB model"
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    schema = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
    for model in models:
        assert (model._hash_keyname, model._range_keyname) == (schema["HASH"], schema["RANGE"])
        attributes = model.get_attributes()
        for name in schema.values():
            assert ATTRIBUTE_TYPES[type(attributes[name])] == types[name], (model, name)


@pytest.mark.parametrize(("table", "models"), tables_with_models())
def test_every_index_matches_between_models_and_template(table, models):
    declared = {
        gsi["IndexName"]: {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
        for gsi in table.get("GlobalSecondaryIndexes", [])
    }
    modelled = {}
    for model in models:
        for name, index in model._indexes.items():
            schema = index._get_schema()
            modelled[schema["index_name"]] = {
                k["KeyType"]: k["AttributeName"] for k in schema["key_schema"]
            }
            projected = next(
                gsi["Projection"]["ProjectionType"]
                for gsi in table.get("GlobalSecondaryIndexes", [])
                if gsi["IndexName"] == schema["index_name"]
            )
            assert index.Meta.projection.projection_type == projected, name
    assert modelled == declared


@pytest.mark.parametrize(("table", "models"), tables_with_models())
def test_every_ttl_attribute_matches_the_template(table, models):
    ttl_name = table["TimeToLiveSpecification"]["AttributeName"]
    with_ttl = [
        m for m in models if any(isinstance(a, TTLAttribute) for a in m.get_attributes().values())
    ]
    assert with_ttl, "the table has TTL but no model sets it"
    for model in with_ttl:
        assert model._ttl_attribute().attr_name == ttl_name


@pytest.mark.parametrize("table", TEMPLATE.tables().values(), ids=list(TEMPLATE.tables()))
def test_every_table_is_on_demand_encrypted_and_recoverable(table):
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"]["Enabled"] is True


def test_the_archive_bucket_is_private_encrypted_and_expires_after_two_years():
    bucket = TEMPLATE.of_type("AWS::S3::Bucket")["ArchiveBucket"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    archives, staging = bucket["LifecycleConfiguration"]["Rules"]
    assert archives["Prefix"] == "archives/"
    assert archives["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": 30}]
    assert archives["ExpirationInDays"] == 730
    assert (staging["Prefix"], staging["ExpirationInDays"]) == ("staging/", 90)


def test_no_secret_value_is_in_the_template():
    for logical_id, props in TEMPLATE.of_type("AWS::SecretsManager::Secret").items():
        assert "SecretString" not in props
        # the audit HMAC key is the one secret nobody needs to know: generated at deploy
        assert ("GenerateSecretString" in props) == (logical_id == "AuditKeySecret")


def test_audit_checkpoints_are_locked_longer_than_the_events_they_vouch_for():
    bucket = TEMPLATE.of_type("AWS::S3::Bucket")["AuditCheckpointBucket"]
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    retention = bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention["Mode"] == {"Ref": "AuditCheckpointLockMode"}
    days = TEMPLATE.document["Parameters"]["AuditCheckpointRetentionDays"]
    assert days["MinValue"] > 90 and days["Default"] > 90
    assert all(bucket["PublicAccessBlockConfiguration"].values())


@pytest.mark.parametrize("route", TEMPLATE.routes(), ids=lambda r: f"{r.method} {r.path}")
def test_every_route_has_a_function_and_its_handler(route):
    function = TEMPLATE.functions()[route.function]
    if function.web_adapter:
        script = ROOT / function.code_uri / function.handler
        assert os.access(script, os.X_OK), f"{script} must be executable"
        assert "serve.py" in script.read_text()  # uvicorn's server, without its command line
        assert 'APP = "app:app"' in script.with_name("serve.py").read_text()
        assert route.transfer_mode == "RESPONSE_STREAM"
    else:
        assert (ROOT / function.code_uri / (function.handler.split(".")[0] + ".py")).exists()
    module = importlib.import_module(function.module)
    assert callable(getattr(module, function.attribute))


def test_the_web_adapter_function_carries_uvicorn_and_the_adapter_layer():
    (proxy,) = [f for f in TEMPLATE.functions().values() if f.web_adapter]
    props = TEMPLATE.resources[proxy.logical_id]["Properties"]
    assert props["Layers"] == [{"Ref": "WebAdapterLayerArn"}]
    assert proxy.environment["AWS_LWA_INVOKE_MODE"] == "response_stream"
    requirements = (ROOT / proxy.code_uri / "requirements.txt").read_text()
    assert "uvicorn" in requirements


def scheduled_functions() -> dict[str, list[str]]:
    """Functions run by an EventBridge schedule, with their schedule expressions."""
    found: dict[str, list[str]] = {}
    for logical_id, props in TEMPLATE.of_type("AWS::Serverless::Function").items():
        for event in props.get("Events", {}).values():
            if event["Type"] == "Schedule":
                found.setdefault(logical_id, []).append(event["Properties"]["Schedule"])
    return found


def queue_functions() -> dict[str, list[dict]]:
    """Functions run by an SQS event source, with its properties."""
    found: dict[str, list[dict]] = {}
    for logical_id, props in TEMPLATE.of_type("AWS::Serverless::Function").items():
        for event in props.get("Events", {}).values():
            if event["Type"] == "SQS":
                found.setdefault(logical_id, []).append(event["Properties"])
    return found


def test_exports_run_one_at_a_time_from_a_queue_that_parks_what_keeps_failing():
    assert queue_functions() == {
        "ExportFunction": [
            {
                "Queue": {"Fn::GetAtt": ["ExportsQueue", "Arn"]},
                "BatchSize": 1,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            }
        ],
        "MailerFunction": [
            {
                "Queue": {"Fn::GetAtt": ["NotificationsQueue", "Arn"]},
                "BatchSize": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": 2},
            }
        ],
    }
    queues = TEMPLATE.of_type("AWS::SQS::Queue")
    redrive = queues["ExportsQueue"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["ExportsDeadLetterQueue", "Arn"]}
    timeout = TEMPLATE.resources["ExportFunction"]["Properties"]["Timeout"]
    # a message must stay hidden while a run may still be going on
    assert queues["ExportsQueue"]["VisibilityTimeout"] >= 6 * timeout
    assert all(queue["SqsManagedSseEnabled"] for queue in queues.values())


def test_the_export_bucket_is_private_encrypted_and_expires_exports_after_a_week():
    bucket = TEMPLATE.of_type("AWS::S3::Bucket")["ExportBucket"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert (rule["Prefix"], rule["ExpirationInDays"], rule["Status"]) == ("exports/", 7, "Enabled")


def test_ticket_files_expire_two_days_unclaimed_or_two_years_after_their_ticket_closed():
    bucket = TEMPLATE.of_type("AWS::S3::Bucket")["TicketAttachmentsBucket"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rules = {
        (rule["TagFilters"][0]["Key"], rule["TagFilters"][0]["Value"]): rule["ExpirationInDays"]
        for rule in bucket["LifecycleConfiguration"]["Rules"]
        if rule["Status"] == "Enabled" and rule["Prefix"] == "tickets/"
    }
    assert rules == {("upload", "pending"): 2, ("ticket", "closed"): 731}


def test_a_browser_may_post_ticket_files_to_the_bucket_and_do_nothing_else_cross_origin():
    bucket = TEMPLATE.of_type("AWS::S3::Bucket")["TicketAttachmentsBucket"]
    (rule,) = bucket["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]


def test_every_function_has_a_route_a_schedule_or_a_queue():
    routed = {route.function for route in TEMPLATE.routes()}
    queued = {subscription.function for subscription in TEMPLATE.queue_subscriptions()}
    assert routed | set(scheduled_functions()) | queued == set(TEMPLATE.functions())


def test_a_queue_retries_a_failed_message_then_keeps_it_in_a_dead_letter_queue():
    # Given each function that a queue feeds
    for subscription in TEMPLATE.queue_subscriptions():
        queue = TEMPLATE.resources[subscription.queue]["Properties"]
        function = TEMPLATE.resources[subscription.function]["Properties"]
        # Then a failed message is retried alone (partial batch), a few times, then kept
        assert subscription.reports_item_failures, subscription
        redrive = queue["RedrivePolicy"]
        assert 1 < redrive["maxReceiveCount"] <= 5, subscription
        dead_letters = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        kept = TEMPLATE.resources[dead_letters]["Properties"]["MessageRetentionPeriod"]
        assert kept >= 14 * 24 * 3600, subscription
        # and a message is not handed out again while a function still works on it
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"], subscription
        assert queue["SqsManagedSseEnabled"] and dead_letters != subscription.queue


def test_the_archive_runs_daily_the_audit_checkpoints_hourly_the_reaper_every_five_minutes():
    assert scheduled_functions() == {
        "ArchiveFunction": ["cron(30 3 * * ? *)"],
        "AuditCheckpointFunction": ["rate(1 hour)"],
        "PurgeFunction": ["cron(0 4 * * ? *)"],
        "ReaperFunction": ["rate(5 minutes)"],
        "BalanceWatchFunction": ["rate(5 minutes)"],
        "VideoJobsFunction": ["rate(1 minute)"],
    }


def emitted_metrics() -> set[str]:
    """The metric names the layer and the handlers emit (``add_metric(name="...")``)."""
    sources = [
        *(ROOT / "layers/common/tollgate").rglob("*.py"),
        *(ROOT / "functions").rglob("*.py"),
    ]
    found: set[str] = set()
    for source in sources:
        found |= set(re.findall(r'add_metric\(\s*name="(\w+)"', source.read_text()))
    return found


def test_every_alarm_watches_a_metric_the_code_emits_under_its_service():
    alarms = TEMPLATE.of_type("AWS::CloudWatch::Alarm")
    assert {
        "ArchiveFailuresAlarm",
        "ArchiveBacklogAlarm",
        "OrphanedHoldsAlarm",
        "WebhookFailuresAlarm",
        "UnknownSessionPaymentsAlarm",
        "SettleFailuresAlarm",
        "NotificationsNotQueuedAlarm",
        "NotificationsFailingAlarm",
    } <= set(alarms)
    emitted = emitted_metrics()
    environment = TEMPLATE.document["Globals"]["Function"]["Environment"]["Variables"]
    for name, alarm in alarms.items():
        assert alarm["MetricName"] in emitted, name
        assert alarm["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"], name
        assert alarm["Dimensions"] == [
            {"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}
        ], name


def test_the_api_passes_a_model_id_with_its_slash_to_the_proxy():
    api = ApiEmulator(TEMPLATE, FunctionPool({}, "eu-west-1"), stage="dev")

    found = api.match("GET", "/v1/models/openai/gpt-4o-mini")

    assert found is not None
    route, parameters = found
    assert TEMPLATE.functions()[route.function].web_adapter
    assert parameters == {"model_id": "openai/gpt-4o-mini"}


def translated_api_paths() -> dict:
    """The REST API's paths as SAM deploys them (the transform, offline: no policy lookups,
    code as S3 locations since nothing is built)."""
    document = Template.load().document
    for resource in document["Resources"].values():
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://bucket/code.zip"

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    translated = transform(document, {}, NoManagedPolicies())
    (api,) = (
        r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"
    )
    return api["Properties"]["Body"]["paths"]


def test_api_gateway_answers_management_preflights_and_the_proxy_its_own(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")

    paths = translated_api_paths()

    for route in TEMPLATE.routes():
        integration = paths[route.path]["options"]["x-amazon-apigateway-integration"]
        if route.function == "ProxyFunction":  # per key's allowed_origins: the proxy decides
            assert integration["type"] == "aws_proxy", route
            assert "ProxyFunction.Arn" in str(integration["uri"]), route
            continue
        assert integration["type"] == "mock", route  # no function, no key, no cost
        answer = integration["responses"]["default"]["responseParameters"]
        methods = answer["method.response.header.Access-Control-Allow-Methods"]
        assert route.method.replace("ANY", "GET") in methods.strip("'").split(","), route
        assert (
            answer["method.response.header.Access-Control-Allow-Origin"]
            == TEMPLATE.resources["TollgateApi"]["Properties"]["Cors"]["AllowOrigin"]
        )


@pytest.mark.parametrize(
    "console_url",
    ["", "https://console.example.org/tollgate/console", "http://127.0.0.1:8080/console"],
)
def test_the_preflights_name_the_origin_the_functions_answer_cross_origin_requests_for(
    console_url,
):
    names = LocalNames.for_template(
        TEMPLATE, stack="t", region="eu-west-1", parameters={"ConsoleUrl": console_url}
    )
    # the functions' environment as deployed from the same parameter
    settings = Settings.from_env(
        {**functions_environment(TEMPLATE, names), "AWS_REGION": "eu-west-1"}
    )

    cors = TEMPLATE.api_cors(names)

    assert cors is not None
    assert cors.allow_origin == settings.console_origin
    assert set(cors.allow_headers.lower().split(",")) == {
        "authorization",
        "content-type",
        "x-tollgate-account",
    }
