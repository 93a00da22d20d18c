"""A stand-in for a deployer's own site: one static page on its own origin that uses connect.js.

``make run`` starts it beside the app: python examples/your-site/serve.py --port 5050 --app http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import mimetypes
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

HERE = Path(__file__).resolve().parent
MUSICAPI_AUTH_URL = "https://app.musicapi.com"
FILES = {"/": "index.html", "/site.js": "site.js", "/site.css": "site.css"}


def site(app_url: str, musicapi_auth_url: str = MUSICAPI_AUTH_URL) -> WsgiApp:
    """The WSGI app serving the page, with the app's address filled in and a CSP that lets it in.

    ``form-action`` names MusicAPI's login pages too: the app answers the login's form post with a
    redirect there, and browsers hold a form's redirects to the page's ``form-action``.
    """
    login = urlsplit(musicapi_auth_url)
    login_origin = f"{login.scheme}://{login.netloc}"
    policy = (
        f"default-src 'self'; script-src 'self' {app_url}; connect-src {app_url}; "
        f"form-action {app_url} {login_origin}; img-src 'self'; frame-ancestors 'none'"
    )

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        name = FILES.get(environ.get("PATH_INFO", ""))
        if name is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        body = (HERE / name).read_bytes().replace(b"{{APP_URL}}", app_url.encode())
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        start_response("200 OK", [("Content-Type", f"{kind}; charset=utf-8"), ("Content-Security-Policy", policy)])
        return [body]

    return serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--app", default="http://127.0.0.1:5000", help="callback_app's address")
    parser.add_argument("--musicapi", default=MUSICAPI_AUTH_URL, help="MUSICAPI_AUTH_URL, where logins continue")
    arguments = parser.parse_args()
    with make_server(arguments.host, arguments.port, site(arguments.app.rstrip("/"), arguments.musicapi)) as server:
        print(f"your site: http://{arguments.host}:{arguments.port} (uses {arguments.app})", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
