"""AuthFunction: people sign up, confirm their email, log in and out, refresh their session
and reset their password (Cognito behind tollgate.identity; these routes take no key)."""

from tollgate import api
from tollgate.identity import flows
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


def request() -> flows.Request:
    return flows.Request(request_id=api.request_id(app), source_ip=api.source_ip(app))


@app.post("/v1/auth/signup")
def sign_up():
    return api.json_response(
        app, 202, flows.sign_up(flows.parse_sign_up(api.json_body(app)), settings)
    )


@app.post("/v1/auth/confirm")
def confirm():
    return api.json_response(app, 200, flows.confirm(api.json_body(app), settings, request()))


@app.post("/v1/auth/login")
def login():
    return api.json_response(app, 200, flows.login(api.json_body(app), settings, request()))


@app.post("/v1/auth/refresh")
def refresh():
    return api.json_response(app, 200, flows.refresh(api.json_body(app), settings))


@app.post("/v1/auth/logout")
def logout():
    return api.json_response(app, 200, flows.logout(app.current_event.headers, settings))


@app.post("/v1/auth/forgot")
def forgot():
    return api.json_response(app, 202, flows.forgot(api.json_body(app), settings))


@app.post("/v1/auth/reset")
def reset():
    return api.json_response(app, 200, flows.reset(api.json_body(app), settings))


lambda_handler = instrumented(app.resolve)
