"""The console's ASGI app: routes, sessions, security headers. Pages live in *_pages.py and pages.py, Redis reads
in data.py; what every page gets is context.Console (imported downward by the pages, never from here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from services.classifier.routing import multilingual_embedder
from services.notifier.store import DeliveryStore
from shared.clock import Clock
from shared.config import TripwireConfig
from shared.language import language_name
from shared.streams import StreamNames
from tripwire.console import auth, glance_pages, manage_pages, pages, silence_pages, teach_pages, timefmt, tune_pages
from tripwire.console.context import Console, Handler
from tripwire.console.throttle import LoginThrottle
from tripwire.console.tuning import EmbedderFactory, ScoringPool

HERE = Path(__file__).parent
SESSION_COOKIE = "tripwire_console"
# Same-origin everything, no inline script or style, no framing: a feed title that slips past escaping still
# cannot run, and the console cannot be clickjacked.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


async def _csrf_ok(request: Request) -> bool:
    form = await request.form()
    return auth.csrf_valid(request, form.get(auth.CSRF_FIELD))


def _templates() -> Jinja2Templates:
    # Jinja2Templates turns autoescape on for .html; said explicitly because every page shows feed text.
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True
    templates.env.filters["language_name"] = language_name
    templates.env.filters["when"] = timefmt.when_filter
    templates.env.filters["relative"] = timefmt.relative
    return templates


def create_app(
    config: TripwireConfig,
    redis: Redis,
    clock: Clock,
    session_secret: str,
    embedder_factory: EmbedderFactory,
    *,
    config_path: Path | None = None,
) -> Starlette:
    """The console app over ``redis``; ``session_secret`` signs the session cookies; the model loads on first use;
    ``config_path`` is the config file the Manage page writes (none: it only says how to enable it)."""
    names = StreamNames.of(config.redis)
    store = DeliveryStore(redis, names, config.redis.maxlen)
    pool = ScoringPool(config.topics, embedder_factory, redis, names, lambda: multilingual_embedder(config.classifier))
    throttle = LoginThrottle(redis, names, clock)
    console = Console(config, redis, names, store, clock, _templates(), pool, throttle, config_path)

    def page(handler: Handler, *, public: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not public and not auth.is_logged_in(request, config.console.password):
                return RedirectResponse("/login?" + urlencode({"next": request.url.path}), 303)
            try:
                if request.method == "POST" and not public and not await _csrf_ok(request):
                    response = console.render(
                        request, "error.html", status_code=403, message="The form expired: reload the page."
                    )
                else:
                    response = await handler(console, request)
            finally:
                await request.close()  # uploaded files spooled to disk (pages render fully before this)
            response.headers.update(SECURITY_HEADERS)
            return response

        return endpoint

    routes = [
        Route("/", page(glance_pages.overview_page), name="overview"),
        Route("/stories/{story_id}", page(glance_pages.story_page), name="story"),
        Route("/healthz", page(pages.healthz, public=True)),
        Route("/login", page(pages.login_form, public=True), name="login"),
        Route("/login", page(pages.login_submit, public=True), methods=["POST"]),
        Route("/logout", page(pages.logout), methods=["POST"], name="logout"),
        Route("/feeds", page(pages.feeds_page), name="feeds"),
        Route("/items", page(pages.items_page), name="items"),
        Route("/alerts", page(pages.alerts_page), name="alerts"),
        Route("/dlq", page(pages.dlq_page), name="dlq"),
        Route("/dlq/replay", page(pages.dlq_replay), methods=["POST"], name="dlq_replay"),
        Route("/dlq/drop", page(pages.dlq_drop), methods=["POST"], name="dlq_drop"),
        Route("/tune", page(tune_pages.tune_page), name="tune"),
        Route("/tune/text", page(tune_pages.tune_text), methods=["POST"]),
        Route("/tune/labeled", page(tune_pages.tune_labeled), methods=["POST"]),
        Route("/tune/save", page(tune_pages.tune_save), methods=["POST"]),
        Route("/tune/clear", page(tune_pages.tune_clear), methods=["POST"]),
        Route("/tune/min_score/save", page(tune_pages.min_score_save), methods=["POST"]),
        Route("/tune/min_score/clear", page(tune_pages.min_score_clear), methods=["POST"]),
        Route("/vote", page(teach_pages.vote), methods=["POST"]),
        Route("/vote/link", page(teach_pages.vote_link, public=True), name="vote_link"),
        Route("/vote/link", page(teach_pages.vote_link_submit, public=True), methods=["POST"]),
        Route("/silences", page(silence_pages.silences_page), name="silences"),
        Route("/silences", page(silence_pages.silence_add), methods=["POST"]),
        Route("/silences/expire", page(silence_pages.silence_expire), methods=["POST"]),
        Route("/mute/link", page(silence_pages.mute_link, public=True), name="mute_link"),
        Route("/mute/link", page(silence_pages.mute_link_submit, public=True), methods=["POST"]),
        Route("/manage", page(manage_pages.manage_page), name="manage"),
        Route("/manage/feeds/discover", page(manage_pages.feed_discover), methods=["POST"]),
        Route("/manage/feeds/add", page(manage_pages.feed_add), methods=["POST"]),
        Route("/manage/feeds/state", page(manage_pages.feed_state), methods=["POST"]),
        Route("/manage/subscriptions/save", page(manage_pages.sub_save), methods=["POST"]),
        Route("/manage/subscriptions/state", page(manage_pages.sub_state), methods=["POST"]),
        Route("/manage/subscriptions/test", page(manage_pages.sub_test), methods=["POST"]),
        Route("/learned", page(teach_pages.learned_page), name="learned"),
        Route("/learned/remove", page(teach_pages.learned_remove), methods=["POST"]),
        Route("/learned.yaml", page(teach_pages.learned_export)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        # First, before any page or session: a request whose Host header is not the console's own is refused (400).
        # DNS rebinding points a name the attacker owns at 127.0.0.1, so an analyst's browser, on a page of theirs,
        # reaches a console without a password with "Host: rebind.example.net": the name is what gives it away.
        Middleware(TrustedHostMiddleware, allowed_hosts=config.console.trusted_hosts, www_redirect=False),
        Middleware(
            SessionMiddleware,
            secret_key=session_secret,
            session_cookie=SESSION_COOKIE,
            max_age=int(config.console.session_max_age),
            same_site="strict",
            # Secure cookies need HTTPS; a console on loopback is plain HTTP. Behind a TLS proxy the browser keeps
            # the cookie to that origin anyway; HttpOnly is always set by SessionMiddleware.
            https_only=False,
        ),
    ]
    return Starlette(routes=routes, middleware=middleware)
