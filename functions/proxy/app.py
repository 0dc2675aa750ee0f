"""ProxyFunction: the inference API, an ASGI app that uvicorn serves under the Web Adapter.

On Lambda, an internal extension registered here (during init, the only time it may be) keeps
the sandbox awake until each request, settled after its answer, is finished.
"""

from tollgate.proxy import lambda_extension
from tollgate.proxy.app import ProxyApp
from tollgate.proxy.runtime import Runtime
from tollgate.settings import get_settings

extension = lambda_extension.start()
app = ProxyApp(
    Runtime.from_settings(get_settings()),
    finished=extension.finished if extension is not None else None,
)
