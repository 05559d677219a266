"""``gmmseg serve``: start the web app on a folder of images, for this computer only unless told otherwise."""

from __future__ import annotations

import sys

from ..core.errors import GmmSegError
from .access import LOOPBACK, page_address, session_token
from .served_folder import ServedFolder

WEB_EXTRA = "pip install 'gmmseg[web]'"


def serve(folder: str, host: str = LOOPBACK, port: int = 8080, token: str | None = None, device: str = "auto") -> int:
    """Serve the images of ``folder`` on ``host``:``port`` until stopped (Ctrl+C); browsers need the token, which
    the address printed carries."""
    served = ServedFolder(folder)
    secret = session_token(host, token)
    try:
        from .app import GmmSegWebApp
    except ImportError as error:
        raise GmmSegError(f"the web app needs trame-slicer ({error.name} is missing): {WEB_EXTRA}") from None
    app = GmmSegWebApp(served, device)
    app.server.cli.set_defaults(authKey=secret)  # wslink's session secret (trame_server.protocol.CoreServer)

    def announce(**_) -> None:
        actual = app.server.port
        print(f"GmmSeg web app on {served.root}: open {page_address(host, actual, secret)}", flush=True)

    app.server.controller.on_server_ready.add(announce)
    arguments, sys.argv = sys.argv, sys.argv[:1]  # trame reads its options from the command line: not ours
    try:
        app.server.start(host=host, port=port, open_browser=False, show_connection_info=False)
    finally:
        sys.argv = arguments
    return 0
