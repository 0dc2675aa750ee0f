"""Read template.yaml as the single source of truth: resources, functions, routes, environment.

CloudFormation's short intrinsic tags (``!Ref``, ``!GetAtt``, ``!Sub``...) load as their long
forms, and ``resolve`` evaluates the ones a local stack needs against local physical names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's intrinsic function tags."""


def _construct_intrinsic(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    transfer_mode: str = "BUFFERED"


ANY_METHODS = {"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"}


@dataclass(frozen=True)
class ApiCors:
    """The API's own preflight answer (SAM's ``Cors``): API Gateway answers OPTIONS with these
    headers, whatever the request's Origin, on every path that has no OPTIONS route."""

    allow_origin: str
    allow_headers: str
    max_age: str

    def headers(self, methods: set[str]) -> dict[str, str]:
        if "ANY" in methods:
            methods = methods - {"ANY"} | ANY_METHODS
        return {
            "access-control-allow-origin": self.allow_origin,
            "access-control-allow-headers": self.allow_headers,
            "access-control-allow-methods": ",".join(sorted(methods | {"OPTIONS"})),
            "access-control-max-age": self.max_age,
        }


@dataclass(frozen=True)
class QueueSubscription:
    """A function's SQS event: the queue Lambda polls for it and how it hands the messages
    over (an event source mapping)."""

    function: str
    queue: str  # the queue's logical id
    batch_size: int = 10
    reports_item_failures: bool = False


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)
    policies: list[Any] = field(default_factory=list)

    @property
    def web_adapter(self) -> bool:
        """Run by the Lambda Web Adapter: its handler script starts uvicorn on ``app:app``."""
        return self.environment.get("AWS_LAMBDA_EXEC_WRAPPER") == "/opt/bootstrap"

    @property
    def module(self) -> str:
        """The handler's module as the tests and devstack import it: functions.<name>.app."""
        package = ".".join(Path(self.code_uri).parts)
        if self.web_adapter:
            return f"{package}.app"
        return f"{package}.{self.handler.rsplit('.', 1)[0]}"

    @property
    def attribute(self) -> str:
        """The entry point: ``lambda_handler`` for event functions, the ASGI ``app`` otherwise."""
        return "app" if self.web_adapter else self.handler.rsplit(".", 1)[1]


class Template:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH) -> Template:
        return cls(yaml.load(path.read_text(), Loader=_CfnLoader))

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def tables(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::DynamoDB::Table")

    def functions(self) -> dict[str, Function]:
        globals_ = self.document.get("Globals", {}).get("Function", {})
        global_env = globals_.get("Environment", {}).get("Variables", {})
        found = {}
        for logical_id, props in self.of_type("AWS::Serverless::Function").items():
            env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
            found[logical_id] = Function(
                logical_id=logical_id,
                code_uri=props["CodeUri"].rstrip("/"),
                handler=props["Handler"],
                environment=env,
                policies=props.get("Policies", []),
            )
        return found

    def routes(self) -> list[Route]:
        routes = []
        for logical_id, props in self.of_type("AWS::Serverless::Function").items():
            for event in props.get("Events", {}).values():
                if event["Type"] == "Api":
                    spec = event["Properties"]
                    mode = spec.get("ResponseTransferMode", "BUFFERED")
                    routes.append(Route(spec["Method"].upper(), spec["Path"], logical_id, mode))
        return routes

    def api_cors(self, names: LocalNames) -> ApiCors | None:
        """The REST API's ``Cors`` property, resolved (its values are quoted header values)."""
        for props in self.of_type("AWS::Serverless::Api").values():
            if "Cors" in props:
                cors = resolve(props["Cors"], names)
                return ApiCors(
                    allow_origin=_unquoted(cors["AllowOrigin"]),
                    allow_headers=_unquoted(cors.get("AllowHeaders", "''")),
                    max_age=_unquoted(cors.get("MaxAge", "''")),
                )
        return None

    def queue_subscriptions(self) -> list[QueueSubscription]:
        found = []
        for logical_id, props in self.of_type("AWS::Serverless::Function").items():
            for event in props.get("Events", {}).values():
                if event["Type"] == "SQS":
                    spec = event["Properties"]
                    queue = spec["Queue"]["Fn::GetAtt"][0]
                    reports = "ReportBatchItemFailures" in spec.get("FunctionResponseTypes", [])
                    batch = int(spec.get("BatchSize", 10))
                    found.append(QueueSubscription(logical_id, queue, batch, reports))
        return found

    def parameter_defaults(self) -> dict[str, str]:
        return {
            name: str(spec["Default"])
            for name, spec in self.document.get("Parameters", {}).items()
            if "Default" in spec
        }


def _unquoted(header_value: str) -> str:
    """API Gateway's static header values are quoted: "'https://example.com'"."""
    return header_value.removeprefix("'").removesuffix("'")


@dataclass
class LocalNames:
    """Physical names and attributes of the template's resources in a local stack."""

    stack: str
    region: str
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)  # the template's, unevaluated

    @classmethod
    def for_template(
        cls,
        template: Template,
        *,
        stack: str,
        region: str,
        parameters: dict[str, str] | None = None,
    ) -> LocalNames:
        names = cls(stack, region, {**template.parameter_defaults(), **(parameters or {})})
        names.conditions = template.document.get("Conditions", {})
        for logical_id, resource in template.resources.items():
            names._name(logical_id, resource["Type"], resource.get("Properties", {}))
        return names

    def _name(self, logical_id: str, resource_type: str, props: dict[str, Any]) -> None:
        if resource_type == "AWS::DynamoDB::Table":
            name = f"{self.stack}-{logical_id}"
            arn = f"arn:aws:dynamodb:{self.region}:{ACCOUNT_ID}:table/{name}"
        elif resource_type == "AWS::S3::Bucket":
            name = f"{self.stack}-{logical_id}".lower()
            arn = f"arn:aws:s3:::{name}"
        elif resource_type == "AWS::SQS::Queue":
            # Ref gives the queue's URL; SQS finds a queue by the URL's last part, whichever
            # endpoint serves it (moto included)
            name = f"{self.stack}-{logical_id}"
            arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{name}"
            self.attributes[(logical_id, "QueueName")] = name
            name = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{name}"
        elif resource_type == "AWS::SecretsManager::Secret":
            # Ref gives the ARN in AWS; locally the name, which every client accepts too.
            name = resolve(props["Name"], self)
            arn = f"arn:aws:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:{name}"
        elif resource_type == "AWS::SQS::Queue":
            # Ref gives the queue's URL; any SQS endpoint (moto's too) finds it by its path.
            queue = f"{self.stack}-{logical_id}"
            name = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{queue}"
            arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{queue}"
            self.attributes[(logical_id, "QueueName")] = queue
        else:
            name = arn = f"{self.stack}-{logical_id}"
        self.refs[logical_id] = name
        self.attributes[(logical_id, "Arn")] = arn

    def pseudo(self) -> dict[str, str]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> str:
        for table in (self.parameters, self.pseudo(), self.refs):
            if name in table:
                return table[name]
        raise KeyError(f"template refers to unknown name {name!r}")


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def resolve(value: Any, names: LocalNames) -> Any:
    """Evaluate the intrinsic functions a local stack meets: Ref, GetAtt, Sub, Join, Select,
    Split."""
    if isinstance(value, list):
        return [resolve(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return names.ref(arg)
        if key == "Fn::GetAtt":
            return names.attributes[(arg[0], arg[1])]
        if key == "Fn::Sub":
            return _sub(arg, names)
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(part) for part in resolve(parts, names))
        if key == "Fn::If":
            condition, when_true, when_false = arg
            chosen = when_true if _condition(names.conditions[condition], names) else when_false
            return resolve(chosen, names)
        if key == "Fn::Split":
            separator, text = arg
            return str(resolve(text, names)).split(separator)
        if key == "Fn::Select":
            index, items = arg
            return resolve(items, names)[int(index)]
    return {key: resolve(item, names) for key, item in value.items()}


def _condition(spec: Any, names: LocalNames) -> bool:
    """A template condition made of Fn::Equals, Fn::Not and Ref (all this template uses)."""
    ((key, arg),) = spec.items()
    if key == "Fn::Equals":
        left, right = (resolve(part, names) for part in arg)
        return bool(str(left) == str(right))
    if key == "Fn::Not":
        return not _condition(arg[0], names)
    if key == "Condition":
        return _condition(names.conditions[arg], names)
    raise ValueError(f"devstack cannot evaluate the condition {key}")


def _sub(arg: Any, names: LocalNames) -> str:
    text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(resolve(variables[name], names))
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return names.attributes[(logical_id, attribute)]
        return names.ref(name)

    return _SUB_VARIABLE.sub(substitute, text)
