"""The one root of every exception Tripwire raises on purpose, and the tree below it.

Each class lives next to the code that raises it (one concern per module); this module holds the root and the
branches, so that ``except TripwireError`` catches anything Tripwire means to say to a person, and the CLI turns it
into one line on stderr and exit code 2 (tripwire/cli.py), with no traceback. Any other exception is a bug and keeps
its traceback. Every message names what is wrong and what to do (the file, field, value, setting or variable), and
never a secret.

The tree (``tests/test_errors.py`` checks that it is exactly this, and that no project exception is outside it)::

    TripwireError
    ├── ConfigError ...................... shared.errors: the config file or environment cannot be used
    │   ├── MissingVariable .............. shared.config.expand: a ${VAR} without default is not set
    │   ├── ClientError .................. shared.redis_client: the Redis settings cannot make a client
    │   ├── ConfigWriteError ............. tripwire.feed_entries: feeds could not be written to the config file
    │   └── ConfigEditError .............. tripwire.console.config_edit: a console change the config refuses
    ├── UsageError ....................... shared.errors: a command invoked in a way that cannot run
    │   ├── LocalRedisNotFound ........... tripwire.local_redis: no REDIS_URL and no running 'tripwire run'
    │   └── SilenceError ................. shared.silences: a silence that cannot be set or found
    ├── InputError ....................... shared.errors: a file a person gave cannot be read
    │   ├── OpmlError .................... tripwire.opml
    │   ├── ImportedReference ............ shared.config.expand: an imported value carries ${ (it would read a secret)
    │   ├── EvalDataError ................ services.classifier.evaluation
    │   └── GazetteerError ............... services.classifier.places
    ├── SetupError ....................... shared.errors: this machine lacks something (a model, a program)
    │   ├── ModelError ................... services.classifier.embedder
    │   │   └── OnnxModelError ........... services.classifier.onnx_export
    │   ├── WeightsError ................. services.classifier.bert_graph: the model folder's weights cannot be read
    │   ├── RedisServerError ............. shared.redis_server
    │   └── EmbeddedRedisError ........... tripwire.embedded_redis: run's own Redis cannot be started
    ├── RemoteError ...................... shared.errors: a request to the outside was refused or failed
    │   ├── OutboundRefused .............. shared.outbound (also an httpx.TransportError)
    │   ├── ResolverBusy ................. shared.outbound: too many DNS lookups hang; refused, not queued (an OSError)
    │   ├── FeedFetchError ............... services.poller.fetch
    │   ├── FeedParseError ............... services.poller.parse
    │   ├── CappedReadError .............. shared.capped_read: a stranger's answer refused while it was read
    │   │   ├── BodyTooLarge ............. shared.capped_read: over the cap once decompressed
    │   │   └── UndecodableBody .......... shared.capped_read: an encoding not offered, or one that does not decode
    │   ├── TotalTimeout ................. shared.capped_read: no whole answer within the total deadline (also httpx's)
    │   ├── HubError ..................... services.poller.websub_client
    │   └── ArticleError ................. services.classifier.article
    ├── DataError ........................ shared.errors: a document Tripwire reads back is not valid
    │   ├── SchemaError .................. shared.schemas.versioning
    │   └── SignedLinkError .............. shared.signing: a signed link (vote, mute) forged, altered or expired
    │       ├── VoteLinkError ............ shared.votes
    │       └── MuteLinkError ............ shared.mute_links
    └── StoryContention .................. services.classifier.stories: other replicas kept changing a topic's stories

Second bases are kept where callers rely on them: ``OutboundRefused`` is an ``httpx.TransportError`` (so httpx
callers see it and network-only retries skip it), ``ModelError`` a ``RuntimeError``, and the validation errors
(``MissingVariable``, ``SchemaError``, ``VoteLinkError``, ``EvalDataError``, ``GazetteerError``) ``ValueError``.

This module imports nothing, so the command line can catch the root without loading any service.
"""

from __future__ import annotations


class TripwireError(Exception):
    """Anything Tripwire raises on purpose; the message is one sentence for a person, safe to log."""


class ConfigError(TripwireError):
    """The config cannot be used; the message names the file, the field, the value and what to do."""


class UsageError(TripwireError):
    """The command cannot run as invoked; the message says what to do."""


class InputError(TripwireError):
    """A file a person gave (OPML, a labeled set, a gazetteer) cannot be read; the message says where and why."""


class SetupError(TripwireError):
    """This machine lacks something Tripwire needs (a model file, a runtime, redis-server); says what to install."""


class RemoteError(TripwireError):
    """A request to the outside (feed, hub, article, receiver) was refused or failed, or its answer is unusable."""


class DataError(TripwireError):
    """A document Tripwire reads back (a stream entry, a signed link) is not valid; it is never retried."""


def one_line(error: BaseException) -> str:
    """The error's message on one line: a multi-line message (several config problems) joined with "; "."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__
