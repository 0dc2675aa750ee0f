"""A newcomer's first minutes: the printed admin key manages keys over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.stack import HTTP_TIMEOUT_S

pytestmark = pytest.mark.e2e


def client(devstack, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=devstack["TOLLGATE_URL"], headers=headers, timeout=HTTP_TIMEOUT_S)


def test_devstack_prints_its_whole_contract(devstack):
    for name in (
        "TOLLGATE_URL",
        "OPENAI_BASE_URL",
        "TOLLGATE_API_KEY",
        "TOLLGATE_ADMIN_KEY",
        "TOLLGATE_OPERATOR_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_BASE",
        "TOLLGATE_ACCOUNT_ID",
    ):
        assert devstack[name], name
    assert devstack["OPENAI_BASE_URL"] == devstack["TOLLGATE_URL"] + "/v1"
    with client(devstack, devstack["TOLLGATE_ADMIN_KEY"]) as admin:
        assert admin.get("/v1/wallet").json()["account_id"] == devstack["TOLLGATE_ACCOUNT_ID"]


def test_the_admin_key_creates_lists_and_revokes_an_inference_key(devstack):
    with client(devstack, devstack["TOLLGATE_ADMIN_KEY"]) as admin:
        created = admin.post("/v1/keys", json={"name": "e2e", "role": "inference"})
        assert created.status_code == 201
        key = created.json()
        assert key["secret"].startswith("tg-")
        assert created.headers["x-request-id"]

        listed = admin.get("/v1/keys").json()["data"]
        assert key["id"] in {k["id"] for k in listed}
        assert key["secret"] not in str(listed)

        revoked = admin.delete(f"/v1/keys/{key['id']}")
        assert revoked.status_code == 200
        assert revoked.json()["status"] == "revoked"

        after = {k["id"]: k for k in admin.get("/v1/keys").json()["data"]}
        assert after[key["id"]]["status"] == "revoked"


def test_the_operator_creates_an_account_whose_admin_key_works(devstack):
    with client(devstack, devstack["TOLLGATE_OPERATOR_KEY"]) as operator:
        answer = operator.post(
            "/operator/accounts", json={"email": "e2e@example.com", "name": "E2E Ltd"}
        )
    assert answer.status_code == 201
    with client(devstack, answer.json()["admin_key"]["secret"]) as admin:
        assert admin.get("/v1/keys").status_code == 200


@pytest.mark.parametrize(
    ("key_name", "method", "path", "body", "status", "code"),
    [
        ("TOLLGATE_ADMIN_KEY", "POST", "/v1/keys", b'{"name": ', 400, "invalid_json"),
        (None, "GET", "/v1/keys", None, 401, "missing_api_key"),
        ("unknown", "GET", "/v1/keys", None, 401, "invalid_api_key"),
        ("TOLLGATE_API_KEY", "GET", "/v1/keys", None, 403, "admin_key_required"),
        ("TOLLGATE_ADMIN_KEY", "POST", "/operator/accounts", b"{}", 403, "operator_only"),
    ],
)
def test_bad_requests_get_a_clear_json_error(devstack, key_name, method, path, body, status, code):
    key = {None: None, "unknown": "tg-unknown"}.get(key_name, devstack.get(key_name or ""))
    with client(devstack, key) as http:
        answer = http.request(method, path, content=body)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


def test_an_unknown_route_is_a_json_404(devstack):
    with client(devstack, devstack["TOLLGATE_ADMIN_KEY"]) as http:
        answer = http.get("/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "route_not_found"


def test_only_the_consoles_origin_may_manage_keys_from_a_browser(devstack):
    console_url = httpx.URL(devstack["TOLLGATE_CONSOLE_URL"])
    console = f"{console_url.scheme}://{console_url.host}:{console_url.port}"
    asked = {
        "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "authorization,content-type,x-tollgate-account",
    }
    with (
        client(devstack, None) as browser,
        client(devstack, devstack["TOLLGATE_ADMIN_KEY"]) as admin,
    ):
        # When a browser asks before it revokes a key, from the console's origin and another
        preflights = {
            origin: browser.options("/v1/keys/key_any", headers={"Origin": origin, **asked})
            for origin in (console, "https://evil.example.net")
        }
        # Then API Gateway answers both alike, naming the console's origin only: the browser
        # sends the console's request and refuses the other origin's
        for answer in preflights.values():
            assert answer.status_code == 200
            assert answer.headers["access-control-allow-origin"] == console
            assert "DELETE" in answer.headers["access-control-allow-methods"].split(",")
            allowed = answer.headers["access-control-allow-headers"].lower().split(",")
            assert {"authorization", "content-type", "x-tollgate-account"} <= set(allowed)
        # And the management function's answers carry the same origin for the console only
        listed = admin.get("/v1/keys", headers={"Origin": console})
        assert listed.headers["access-control-allow-origin"] == console
        assert "x-request-id" in listed.headers["access-control-expose-headers"].lower()
        elsewhere = admin.get("/v1/keys", headers={"Origin": "https://evil.example.net"})
        assert "access-control-allow-origin" not in elsewhere.headers
