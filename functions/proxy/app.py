"""ProxyFunction: the inference API, an ASGI app that uvicorn serves under the Web Adapter."""

from tollgate.proxy.app import ProxyApp
from tollgate.proxy.runtime import Runtime
from tollgate.settings import get_settings

app = ProxyApp(Runtime.from_settings(get_settings()))
