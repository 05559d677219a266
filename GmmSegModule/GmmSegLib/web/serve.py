"""``gmmseg serve``: the web app on a folder of images, one scene per browser session.

The address ``gmmseg serve`` prints leads to a small launcher. Each browser that opens it with the token gets a
web app process of its own (a *session*: its own MRML scene, so that two readers never see each other's patient),
started for it on a free port and left to it through a redirect with the session's own token. A session whose page
has been closed for :data:`IDLE_S` seconds ends by itself; the launcher ends its sessions when it stops.

Each session writes its temporary files (the job's copy of the patient's images) in a folder of its own, inside one
folder of the launcher's; a session's folder is removed when the session ends, however it ended (a crash included),
and the launcher's when it stops; a launcher that was killed has its folder removed by the next one.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from ..core.errors import GmmSegError
from ..core.processes import process_runs
from .access import LOOPBACK, page_address, session_token
from .served_folder import ServedFolder

WEB_EXTRA = "pip install 'gmmseg[web]'"
MAX_SESSIONS = 4  # each holds a scene and a model's worth of memory while it segments
IDLE_S = 60  # a session with no page connected for this long ends
START_S = 120  # how long a session may take to start
SESSIONS_PREFIX = "gmmseg-sessions-"  # <tmp>/gmmseg-sessions-<launcher pid>-*/session-*: the sessions' own folders


def serve(folder: str, host: str = LOOPBACK, port: int = 8080, token: str | None = None, device: str = "auto") -> int:
    """Run the launcher on ``host``:``port`` until stopped (Ctrl+C); browsers need the token, which the address
    printed carries."""
    served = ServedFolder(folder)
    secret = session_token(host, token)
    try:
        import trame_slicer  # noqa: F401  (the sessions need it: said here, before a browser comes)
        from aiohttp import web
    except ImportError as error:
        raise GmmSegError(f"the web app needs trame-slicer ({error.name} is missing): {WEB_EXTRA}") from None
    remove_abandoned_session_folders()
    work = Path(tempfile.mkdtemp(prefix=f"{SESSIONS_PREFIX}{os.getpid()}-"))
    sessions: dict[asyncio.subprocess.Process, Path] = {}

    def forget_ended_sessions() -> None:
        for session, folder in list(sessions.items()):
            if session.returncode is not None:
                shutil.rmtree(folder, ignore_errors=True)  # its copies of a patient's images, whatever ended it
                del sessions[session]

    async def open_session(request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.query.get("secret", ""), secret):
            return web.Response(status=403, text="GmmSeg: open the address gmmseg serve printed, with its token.")
        forget_ended_sessions()
        if len(sessions) >= MAX_SESSIONS:
            return web.Response(status=503, text=f"GmmSeg: all {MAX_SESSIONS} sessions are in use; close one.")
        session_secret = secrets.token_urlsafe(24)
        folder = Path(tempfile.mkdtemp(prefix="session-", dir=work))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "GmmSegLib.cli", "serve", str(served.root), "--session", "--host", host,
            "--port", "0", "--token", session_secret, "--device", device,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": str(folder)},
        )  # fmt: skip
        sessions[process] = folder
        process_ended = asyncio.ensure_future(process.wait())
        process_ended.add_done_callback(lambda _: forget_ended_sessions())
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_S)
        except asyncio.TimeoutError:
            line = b""
        found = re.search(rb":(\d+)/\?secret=", line)
        if found is None:
            process.kill()
            return web.Response(status=500, text="GmmSeg: the session could not be started.")
        session_port = int(found.group(1))
        raise web.HTTPFound(f"{request.scheme}://{request.url.host}:{session_port}/?secret={session_secret}")

    async def end_sessions(_app) -> None:
        for session in sessions:
            if session.returncode is None:
                session.terminate()
        for session in list(sessions):
            await session.wait()
        shutil.rmtree(work, ignore_errors=True)

    app = web.Application()
    app.router.add_get("/", open_session)
    app.on_shutdown.append(end_sessions)
    try:
        listening = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as error:
        raise GmmSegError(f"cannot listen on {host}:{port} ({error.strerror}); give another --port") from None
    actual_port = listening.getsockname()[1]
    print(f"GmmSeg web app on {served.root}: open {page_address(host, actual_port, secret)}", flush=True)
    try:
        web.run_app(app, sock=listening, print=None, handle_signals=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def remove_abandoned_session_folders() -> None:
    """Remove the session folders of launchers on this computer that no longer run (killed, or the power cut)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SESSIONS_PREFIX}*"):
        pid = folder.name[len(SESSIONS_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not process_runs(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def serve_session(folder: str, host: str, token: str, device: str, idle_s: int = IDLE_S) -> int:
    """One session's web app on a free port of ``host``; prints its address (with ``token``), ends when no page has
    been connected for ``idle_s`` seconds."""
    from .app import GmmSegWebApp

    app = GmmSegWebApp(ServedFolder(folder), device)
    app.server.cli.set_defaults(authKey=token)  # wslink's session secret (trame_server.protocol.CoreServer)

    def announce(**_) -> None:
        print(f"session: open {page_address(host, app.server.port, token)}", flush=True)

    app.server.controller.on_server_ready.add(announce)
    arguments, sys.argv = sys.argv, sys.argv[:1]  # trame reads its options from the command line: not ours
    try:
        app.server.start(host=host, port=0, open_browser=False, show_connection_info=False, timeout=idle_s)
    finally:
        sys.argv = arguments
    return 0
