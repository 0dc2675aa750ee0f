"""The web console (ConsoleFunction, under /console/ on the API): server-rendered pages that
call the same layer services as the API's handlers, authorized by the same permission table.

``web`` is the request and its responses (security headers, cookies), ``session`` the signed-in
person's cookie session and its CSRF token, ``render`` the Jinja2 templates, ``routes`` the one
registry of pages, ``app`` the resolver that serves them; ``pages/`` holds one module per area.
"""
