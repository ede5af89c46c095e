"""The web page at ``/ui``: static files from ``serving/ui/``, mounted on the service.

Every answer carries a Content-Security-Policy that allows this origin only (no CDN, no inline
script or style), so the page loads nothing from the internet. Only plain file names of the
folder are served: no sub-folders, no ``..``. The page calls the ``/api`` routes with the
bearer token it got from the login; the files themselves need no token.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

ASSETS = Path(__file__).with_name("ui")
INDEX = "index.html"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*\.(?:html|js|css|svg)$")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
# A drift report is Evidently's self-contained page (inline scripts and styles): it may run them,
# but in a sandbox (an opaque origin: no access to this service's pages or storage) and it may
# reach nothing else.
REPORT_SECURITY_HEADERS = {
    "Content-Security-Policy": "; ".join(
        (
            "sandbox allow-scripts",
            "default-src 'none'",
            "script-src 'unsafe-inline' 'unsafe-eval'",
            "style-src 'unsafe-inline'",
            "img-src data:",
            "font-src data:",
        )
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def asset_path(name: str, folder: Path = ASSETS) -> Path | None:
    """The file of an asset name, or None: only a plain name of a file in ``folder``."""
    if not _ASSET_NAME.fullmatch(name):
        return None
    path = folder / name
    return path if path.is_file() else None


def report_file(reports_dir: Path, stored: str) -> Path | None:
    """The report file at ``stored`` (as written in ``drift_reports``) if it is a file inside
    ``reports_dir`` once every link is followed, else None."""
    root = Path(reports_dir).resolve()
    path = Path(stored)
    if not path.is_absolute():
        path = root / path
    path = path.resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _not_found() -> Response:
    return PlainTextResponse("not found", status_code=404, headers=SECURITY_HEADERS)


def _file(path: Path) -> Response:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


async def _page(_: Request) -> Response:
    path = asset_path(INDEX)
    return _file(path) if path else _not_found()


async def _asset(request: Request) -> Response:
    path = asset_path(request.path_params["name"])
    return _file(path) if path else _not_found()


app = Starlette(
    routes=[
        Route("/", _page, methods=["GET", "HEAD"]),
        Route("/{name}", _asset, methods=["GET", "HEAD"]),
    ]
)
