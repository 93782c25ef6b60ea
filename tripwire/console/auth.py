"""Who may use the console: a password login kept in a signed session cookie, and CSRF tokens on every form.

Security notes:
- The session cookie is signed (itsdangerous, via Starlette's SessionMiddleware), HttpOnly and SameSite=Strict, so
  scripts cannot read it and other sites cannot send it; it carries only "logged in" and the CSRF token.
- Every POST must echo the session's CSRF token (compared in constant time); SameSite alone does not cover old
  browsers or same-site subdomains.
- Without a configured password the console only runs on loopback (checked by the CLI) and treats everyone who can
  reach it as logged in, like any other local tool.
"""

from __future__ import annotations

import hmac
import secrets

from pydantic import SecretStr
from starlette.requests import Request

CSRF_FIELD = "csrf"
_LOGGED_IN = "logged_in"
_CSRF = "csrf"


def check_password(configured: SecretStr | None, given: str) -> bool:
    """True when ``given`` is the configured password (constant-time compare); False when none is configured."""
    if configured is None or not configured.get_secret_value():
        return False  # an empty password is no password (the config loader turns it into None already)
    return hmac.compare_digest(configured.get_secret_value().encode(), given.encode())


def is_logged_in(request: Request, password: SecretStr | None) -> bool:
    """True for a session that logged in, or for anyone when no password is configured (loopback only)."""
    return password is None or bool(request.session.get(_LOGGED_IN))


def log_in(request: Request) -> None:
    """Start a fresh session (a new CSRF token too, so a token seen before login is worth nothing after)."""
    request.session.clear()
    request.session[_LOGGED_IN] = True
    request.session[_CSRF] = secrets.token_urlsafe(32)


def log_out(request: Request) -> None:
    """Forget the session."""
    request.session.clear()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


def csrf_valid(request: Request, submitted: object) -> bool:
    """True when a form's token matches the session's."""
    expected = request.session.get(_CSRF)
    if not isinstance(expected, str) or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
