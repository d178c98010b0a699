"""The `byok-bot` command: the composition root an operator runs."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NoReturn

from app import http as app_http
from app.envfile import MASTER_KEYS_VARIABLE, master_keys_reader, set_master_keys
from app.settings import (
    DEFAULT_ENV_FILE,
    Settings,
    SettingsError,
    env_file_path,
    load_settings,
)
from bot.audit import AuditEvent, event_as_json, format_event
from bot.domain import Member
from bot.keys import learn_key_patterns
from bot.ports import AdapterConfigError
from bot.redaction import configure_logging, guard_all_handlers
from bot.vault import KeyVault, MasterKeyError, VaultError, generate_master_key
from storage import Database, StorageConfigError, migrate_database, open_store
from storage.copy import CopyReport, copy_database

# Not "byok-bot": slack_bolt names its listener loggers after the app, which is called that.
log = logging.getLogger("app.cli")
ENV_FILE = DEFAULT_ENV_FILE
EXIT_CONFIG = 2


class ConfigError(Exception):
    """A setting is wrong; the message is one line naming it."""


def installed_version() -> str:
    try:
        return importlib.metadata.version("byok-bot")
    except importlib.metadata.PackageNotFoundError:
        # Run from a source tree that was never installed.
        return "unknown (not installed)"


class _OneLineParser(argparse.ArgumentParser):
    """A mistyped command is one line on stderr and exit status 2, like every other
    mistake an operator can make; --help still prints the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="byok-bot", description="A chat bot where every member brings their own OpenAI key."
    )
    parser.add_argument("--version", action="version", version=f"byok-bot {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start every configured adapter (the console when none is)")
    sub.add_parser("console", help="start the console adapter")
    init = sub.add_parser("init", help=f"write a new master key to {ENV_FILE}")
    init.add_argument(
        "--if-missing", action="store_true", help="do nothing when a master key is configured"
    )
    rotate = sub.add_parser(
        "rotate-master-key", help="re-seal every stored key under the first master key"
    )
    rotate.add_argument(
        "--generate",
        action="store_true",
        help=f"first put a new master key in front of the others in {ENV_FILE}",
    )
    sub.add_parser("invite-url", help="print the Discord invite link with the permissions it needs")
    audit = sub.add_parser("audit", help="print the audit trail, newest first")
    audit.add_argument(
        "--user",
        help="only events of this user: a platform's user id, or platform:workspace:user as "
        "the logs print it (workspace `-` when empty)",
    )
    audit.add_argument(
        "--since", type=_parse_since, help="only events from this date on (YYYY-MM-DD, UTC)"
    )
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    reset = sub.add_parser(
        "reset",
        help="delete the SQLite database and every key in it, after you type its file name",
    )
    reset.add_argument(
        "--confirm", metavar="NAME", help="the database's file name, instead of typing it"
    )
    sub.add_parser(
        "migrate",
        help="bring DATABASE_URL's schema up to this byok-bot's, saying what was applied",
    )
    copy = sub.add_parser(
        "copy-db",
        help="copy every row (sealed keys as they are) from one database into another",
        description="Copy every row from one database into another, SQLite or PostgreSQL"
        " either way. Sealed keys are copied as they are: the same BYOK_MASTER_KEYS open them."
        " The target is migrated first and written in one transaction; the source is only read.",
    )
    copy.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="the database to read"
    )
    copy.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="the database to write: migrated first, and it must hold no rows (see --force)",
    )
    copy.add_argument(
        "--force",
        action="store_true",
        help="empty the target's tables first, in the copy's transaction",
    )
    return parser


def _parse_since(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


AUDIT_HEADER = "time (UTC)           platform:workspace  user  event  outcome"


async def cmd_audit(
    settings: Settings, *, user: str | None, since: datetime | None, as_json: bool
) -> int:
    member = Member.parse(user) if user else None
    store = await open_store(settings.storage)
    try:
        if member is not None:
            events = await store.audit_events(member=member, since=since)
        else:
            events = await store.audit_events(user=user, since=since)
    finally:
        await store.close()
    try:
        if not as_json:
            print(AUDIT_HEADER if events else "No audit events match.")
        for event in events:
            print(event_as_json(event) if as_json else format_event(event))
        sys.stdout.flush()
    except BrokenPipeError:
        # `byok-bot audit | head`: the reader has what it wanted. Later writes (and the
        # interpreter's own flush at exit) go nowhere instead of raising.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


async def cmd_init(settings: Settings, *, if_missing: bool) -> int:
    if settings.vault.master_keys:
        if if_missing:
            return 0
        print(
            f"{MASTER_KEYS_VARIABLE} is already set; not replacing it "
            "(use `byok-bot rotate-master-key --generate` to change it)."
        )
        return 1
    sealed = await _sealed_keys_stored(settings)
    if sealed:
        # A new master key cannot open them, and the bot would refuse to start beside them.
        raise ConfigError(
            f"{MASTER_KEYS_VARIABLE}: not set, but the database holds {sealed} sealed "
            f"key{'s' if sealed != 1 else ''}; put back the master key they were sealed with "
            f"(in {ENV_FILE}), or delete the database with `byok-bot reset` and start over"
        )
    set_master_keys(ENV_FILE, [generate_master_key()])
    print(
        f"Wrote a new master key to {ENV_FILE} (mode 0600). Back it up: without it, "
        "stored keys cannot be opened."
    )
    return 0


async def _sealed_keys_stored(settings: Settings) -> int:
    """How many keys the database holds sealed; 0 when there is no usable database yet."""
    database = Database.from_settings(settings.storage)
    if database.is_new():
        return 0
    try:
        store = await open_store(settings.storage)
    except StorageConfigError:
        return 0
    try:
        return await store.count_keys() or len(await store.master_key_fingerprints())
    finally:
        await store.close()


def cmd_reset(settings: Settings, *, confirm: str | None) -> int:
    database = Database.from_settings(settings.storage)
    files = database.sqlite_files()
    if files is None:
        raise ConfigError(
            "DATABASE_URL: `reset` deletes SQLite databases only; for PostgreSQL drop and "
            "create the database yourself (dropdb, createdb), then run `byok-bot migrate`"
        )
    main_file = files[0]
    if not main_file.exists():
        print(f"There is no database at {main_file}; nothing to delete.")
        return 0
    if confirm is None:
        print(
            f"This deletes {main_file} and every key, setting, usage row and audit event in "
            f"it. Type its file name ({main_file.name}) to go on: ",
            end="",
            flush=True,
        )
        confirm = sys.stdin.readline().strip()
    if confirm != main_file.name:
        print("The name did not match; nothing was deleted.")
        return 1
    for file in files:
        file.unlink(missing_ok=True)
    print(f"Deleted {main_file}. `byok-bot init` now writes a new master key.")
    return 0


async def cmd_rotate(settings: Settings, *, generate: bool) -> int:
    keys = settings.vault.master_keys
    if generate:
        if MASTER_KEYS_VARIABLE in os.environ:
            # A new key written to .env would be shadowed by the environment at the next start.
            raise ConfigError(
                f"{MASTER_KEYS_VARIABLE}: set in the environment, so --generate cannot add a key "
                f"to {ENV_FILE}; put a new key (from `byok-bot init` in an empty folder) first "
                "in that variable yourself and run `byok-bot rotate-master-key`"
            )
        keys = [generate_master_key(), *keys]
    vault = KeyVault(master_keys=keys)
    store = await open_store(settings.storage)
    try:
        vault.check_fingerprints(await store.master_key_fingerprints())
        if generate:
            # Saved before any row is sealed with it, and with the old keys kept: a failure
            # from here on leaves every row openable.
            set_master_keys(ENV_FILE, keys)
            print(f"Put a new master key first in {MASTER_KEYS_VARIABLE} in {ENV_FILE}.")
        count = await store.reseal_all(
            vault.reseal,
            fingerprint=vault.sealing_fingerprint,
            audit_event=AuditEvent.KEY_RESEALED.value,
            now=datetime.now(UTC),
        )
    finally:
        await store.close()
    print(
        f"Re-sealed {count} key{'s' if count != 1 else ''} under the first master key. "
        f"You can now remove the other keys from {MASTER_KEYS_VARIABLE}."
    )
    return 0


async def cmd_migrate(settings: Settings) -> int:
    database = Database.from_settings(settings.storage)
    change = await migrate_database(database)
    if not change.applied:
        print(f"{database.describe()}: already at version {change.after}; nothing to do.")
        return 0
    for migration in change.applied:
        print(f"applied version {migration.version} ({migration.name})")
    print(f"{database.describe()}: migrated from version {change.before} to {change.after}.")
    return 0


async def cmd_copy_db(settings: Settings, *, source: str, target: str, force: bool) -> int:
    pool_size = settings.storage.db_pool_size
    report = await copy_database(
        source=Database(url=source, setting="--from", pool_size=pool_size),
        target=Database(url=target, setting="--to", pool_size=pool_size),
        force=force,
    )
    _print_copy(report)
    return 0


def _print_copy(report: CopyReport) -> None:
    schema = report.target_schema
    if schema.applied:
        print(f"--to: migrated the database from version {schema.before} to {schema.after}")
    width = max(len(count.table) for count in report.counts)
    print(f"{'table':<{width}}  {'--from':>8}  {'--to':>8}")
    for count in report.counts:
        print(f"{count.table:<{width}}  {count.source:>8}  {count.target:>8}")
    print(
        f"Copied {report.rows} row{'s' if report.rows != 1 else ''} from {report.source}"
        f" to {report.target}; every table's count matches. The source is unchanged."
    )


async def cmd_invite_url(settings: Settings) -> int:
    from adapters.discord import invite_url

    print(await invite_url(settings.discord))
    return 0


async def cmd_serve(settings: Settings, *, console_only: bool) -> int:
    from app.adapters import adapter_specs
    from app.metrics import CONTENT_TYPE
    from app.services import open_services
    from app.supervisor import Supervisor

    slack_http = not console_only and settings.slack.enabled and settings.slack.app_token is None
    if slack_http and settings.http.port is None:
        raise ConfigError(
            "BYOK_HTTP_PORT: empty, but Slack's HTTP mode needs it (Slack posts its events "
            "there); set a port, or SLACK_APP_TOKEN to use Socket Mode"
        )
    services = await open_services(settings, master_keys_source=master_keys_reader(ENV_FILE))
    server: app_http.HttpServer | None = None
    try:

        async def waiting_for() -> list[str]:
            database = await app_http.database_ready(services.store)
            return ([] if database else ["database"]) + supervisor.waiting_for()

        if settings.http.port is not None:
            server = app_http.HttpServer(
                host=app_http.DEFAULT_HOST,
                port=settings.http.port,
                waiting_for=waiting_for,
                metrics=services.metrics.exposition,
                metrics_content_type=CONTENT_TYPE,
                serves_slack=slack_http,
            )
        specs = adapter_specs(
            services, console_only=console_only, endpoint=server if slack_http else None
        )
        supervisor = Supervisor(specs=specs, grace=settings.runtime.shutdown_grace)
        # Platform libraries may add handlers of their own; they get the key filter too.
        guard_all_handlers()
        # Up once the adapters' settings are known good (a bad one is the only line), and
        # before they connect: a health check sees the process while they do.
        await supervisor.serve(built=server.start if server is not None else None)
    finally:
        try:
            if server is not None:
                await server.close()
        finally:
            await services.close()
    unwritten = services.ledger.unwritten_rows
    if unwritten:
        log.warning("stopped; %d usage rows could not be written", unwritten)
    else:
        log.info("stopped; every usage row is written")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    global ENV_FILE
    # Where the settings live is itself read first (BYOK_ENV_FILE); the rest come from there.
    ENV_FILE = env_file_path()
    arguments = _parser().parse_args(argv)
    try:
        settings = load_settings(ENV_FILE)
        # Before the first log line: the log filter masks every listed provider's keys.
        learn_key_patterns(p.key_pattern for p in settings.providers if p.key_pattern is not None)
        console = arguments.command in ("run", "console") and settings.serves_console(
            console_only=arguments.command == "console"
        )
        # In the console the terminal is the conversation: logs stay at WARNING there unless
        # LOG_LEVEL is set (and library INFO lines never show; see configure_logging).
        chosen = "level" in settings.log.model_fields_set
        configure_logging(
            settings.log.level if chosen or not console else "WARNING",
            json_lines=settings.log.format == "json",
            console=console,
            http_requests=settings.log.http_requests,
        )
        match arguments.command:
            case "init":
                return asyncio.run(cmd_init(settings, if_missing=arguments.if_missing))
            case "reset":
                return cmd_reset(settings, confirm=arguments.confirm)
            case "invite-url":
                return asyncio.run(cmd_invite_url(settings))
            case "audit":
                return asyncio.run(
                    cmd_audit(
                        settings,
                        user=arguments.user,
                        since=arguments.since,
                        as_json=arguments.json,
                    )
                )
            case "rotate-master-key":
                return asyncio.run(cmd_rotate(settings, generate=arguments.generate))
            case "migrate":
                return asyncio.run(cmd_migrate(settings))
            case "copy-db":
                return asyncio.run(
                    cmd_copy_db(
                        settings,
                        source=arguments.source,
                        target=arguments.target,
                        force=arguments.force,
                    )
                )
            case _:
                return asyncio.run(cmd_serve(settings, console_only=arguments.command == "console"))
    except SettingsError as error:
        for problem in error.problems:
            print(f"byok-bot: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except (
        AdapterConfigError,
        ConfigError,
        app_http.HttpPortError,
        MasterKeyError,
        StorageConfigError,
        VaultError,
    ) as error:
        print(f"byok-bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
