"""ConsoleFunction: the web console under /console/ (pages in tollgate.console.pages)."""

from tollgate.console.app import console_app
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
app = console_app(settings)
lambda_handler = instrumented(app.resolve)
