"""Who may reach ``gmmseg serve``: this computer only unless told otherwise, and then only with a token.

A patient's images are on the page, so the server listens on the loopback address by default; to listen on another
address (a ward's network, a study's server) the user must give a token, which the server then requires of every
browser before it shows anything (wslink's session secret: the page's URL carries it as ``?secret=TOKEN``).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket

from ..core.errors import InputError

LOOPBACK = "127.0.0.1"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is this computer's loopback, which no other computer can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except (socket.gaierror, ValueError):
            return False


def session_token(host: str, token: str | None) -> str:
    """The token browsers must show: the user's, required (and at least 16 characters) on an address other
    computers can reach; on the loopback a fresh random one unless the user gave one."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise InputError(f"--token: give at least {MIN_TOKEN_LENGTH} characters (a random one, not a password)")
    if token is None and not is_loopback(host):
        raise InputError(
            f"--host {host}: other computers could reach the patient's images there; give --token "
            "(at least 16 random characters), or leave --host out to serve this computer only"
        )
    return token or secrets.token_urlsafe(24)


def page_address(host: str, port: int, token: str) -> str:
    """The address to open in a browser (the token in it)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?secret={token}"
