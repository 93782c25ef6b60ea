"""What every console page gets: the Console (config, Redis, store, clock, templates, scoring pool, login limit).

Its own module so the page modules and app.py both import it downward: app.py imports the pages, the pages import
this, and nothing here imports a page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from services.notifier.store import DeliveryStore
from shared.clock import Clock
from shared.config import TripwireConfig
from shared.streams import StreamNames
from tripwire.console import auth
from tripwire.console.throttle import LoginThrottle
from tripwire.console.tuning import ScoringPool


@dataclass
class Console:
    """What every page needs: the config, Redis, the key names, the notifier's store, the clock and the login limit.

    ``config`` is replaced when the Manage page rewrites ``config_path`` (the console runs the new file, like the
    services after their reload); every other field stays as built.
    """

    config: TripwireConfig
    redis: Redis
    names: StreamNames
    store: DeliveryStore
    clock: Clock
    templates: Jinja2Templates
    pool: ScoringPool
    throttle: LoginThrottle
    config_path: Path | None = None

    def render(self, request: Request, name: str, *, status_code: int = 200, **context: Any) -> Response:
        """A page from templates/ (autoescaped), with the CSRF token and login state every page uses."""
        context.update(
            csrf=auth.csrf_token(request),
            login_required=self.config.console.password is not None,
            now=self.clock.now(),  # for relative times ("12 min ago", the ``when`` filter)
        )
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


Handler = Callable[[Console, Request], Awaitable[Response]]
