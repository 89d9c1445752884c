"""``python -m poller``: the polling daemon and the feed-list commands.

python -m poller                      poll until SIGTERM/SIGINT
python -m poller --once               poll every due feed once, then exit
python -m poller feeds add URL [--interval MIN]
python -m poller feeds list
python -m poller feeds remove ID_OR_URL
python -m poller feeds import FILE.opml
python -m poller feeds export [--out FILE.opml]
python -m poller retag [--since DATE] [--batch N]
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import settings as settings_module
from common import cli, logs
from common.clock import utcnow
from common.opml import render_opml
from common.urls import UnsafeURL
from model import ModelError, load
from poller import feeds as feed_list
from poller.errors import OPMLError
from poller.maintenance import RETAG_BATCH, retag
from poller.poll import STOP_SIGNALS, Outcome, Poller
from poller.webhooks import Deliverer
from settings import Settings, SettingsError
from store import FeedExists, Store, StoreError, open_store

log = logging.getLogger("wiretag.poller")
MAX_RETAG_BATCH = 10_000


DESCRIPTION = """\
The polling daemon: reads the subscribed RSS/Atom feeds when they are due, tags every new
entry with the model and stores it (settings: the WIRETAG_ environment variables, see
the README).  Without a command it polls until SIGTERM or Ctrl-C, finishing the feeds in
hand; the "feeds" command manages the feed list."""

EXAMPLES = """\
examples:
  python -m poller                      poll until stopped
  python -m poller --once               poll every due feed once, then exit (cron)
  python -m poller feeds add https://example.org/rss --interval 30
  python -m poller feeds list
  python -m poller feeds remove 12
  python -m poller feeds import feeds.opml
  python -m poller feeds export --out feeds.opml
  python -m poller retag --since 2026-01-01"""


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m poller", DESCRIPTION, EXAMPLES)
    parser.add_argument("--once", action="store_true", help="poll every due feed once and exit")
    commands = cli.commands(parser, dest="command")
    feeds = cli.command(
        commands,
        "feeds",
        "manage the feed list",
        "Add, list, remove or import the feeds the poller reads.",
    )
    _feed_actions(cli.commands(feeds, dest="action", required=True))
    retag = cli.command(
        commands,
        "retag",
        "re-tag stored items with the model in WIRETAG_MODEL_DIR",
        "Score again, in batches by id, every stored item that another model version "
        "tagged (short transactions: a running poller keeps polling). Analysts' "
        "corrections are never touched. Stopped (Ctrl-C, SIGTERM, even SIGKILL), it "
        "resumes where it was when run again.",
    )
    retag.add_argument(
        "--since",
        type=_date,
        metavar="DATE",
        help="only items published (else fetched) from this date or RFC 3339 time on (UTC)",
    )
    retag.add_argument(
        "--batch", type=_batch, default=RETAG_BATCH, metavar="N", help="items per transaction"
    )
    return parser


def _feed_actions(actions: Any) -> None:
    add = cli.command(actions, "add", "subscribe to a feed URL (checked: http(s), public host)")
    add.add_argument("url", help="the feed's http(s) URL")
    add.add_argument(
        "--interval",
        type=int,
        metavar="MIN",
        help="minutes between checks (default: WIRETAG_DEFAULT_INTERVAL_MINUTES)",
    )
    cli.command(actions, "list", "show every feed: status, error streak, items in 24 h, next check")
    remove = cli.command(actions, "remove", "unsubscribe from a feed (its items go too)")
    remove.add_argument("feed", metavar="ID_OR_URL", help="the feed's id (feeds list) or URL")
    imp = cli.command(actions, "import", "subscribe to every feed of an OPML file")
    imp.add_argument("file", type=Path, help="an OPML file, as feed readers export")
    exp = cli.command(actions, "export", "write the feed list as OPML 2.0 (feeds import reads it)")
    exp.add_argument(
        "--out", type=Path, metavar="FILE", help="the file to write (default: standard output)"
    )


def _date(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or RFC 3339 time: {value!r} (e.g. 2026-01-31)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _batch(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_RETAG_BATCH:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_RETAG_BATCH}")
    return number


def _feeds_command(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    if args.action == "add":
        if args.interval is not None and args.interval < 1:
            print("error: --interval must be at least 1 minute", file=sys.stderr)
            return 2
        feed = feed_list.add_feed(
            store, args.url, args.interval, allow_private=settings.allow_private_networks
        )
        print(f"added feed {feed.id}: {feed.url}")
    elif args.action == "list":
        _print_feeds(store)
    elif args.action == "export":
        return _export_feeds(store, args.out)
    elif args.action == "remove":
        found = feed_list.find(store, args.feed)
        if found is None or not store.remove_feed(found.id):
            print(f"error: no feed {args.feed}", file=sys.stderr)
            return 1
        print(f"removed feed {found.id}: {found.url}")
    else:
        report = feed_list.import_opml(
            store, args.file, allow_private=settings.allow_private_networks
        )
        for url, reason in report.refused:
            print(f"refused {url}: {reason}", file=sys.stderr)
        for url in report.unresolved:
            print(f"warning: {url} does not resolve now; added, and checked at every fetch")
        print(
            f"imported {len(report.added)} feeds, {len(report.present)} already present, "
            f"{len(report.refused)} refused"
        )
    return 0


def _export_feeds(store: Store, out: Path | None) -> int:
    feeds = store.list_feeds()
    document = render_opml(((f.url, f.title) for f in feeds), utcnow())
    if out is None:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return 0
    temporary = out.with_name(out.name + ".tmp")
    try:
        temporary.write_bytes(document)
        temporary.replace(out)  # never a half-written list where the old one was
    except OSError as exc:
        temporary.unlink(missing_ok=True)  # nothing left behind but what was there
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"exported {len(feeds)} feeds to {out}", file=sys.stderr)
    return 0


def _retag(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    model = load(settings.model_dir)
    stop = threading.Event()

    def finish(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping after the batch in hand", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    retag(
        store,
        model,
        max_chars=settings.max_text_chars,
        since=args.since,
        batch=args.batch,
        stop=stop,
    )
    return 0


def _print_feeds(store: Store) -> None:
    print(f"{'ID':>5}  {'STATUS':>6}  {'ERRORS':>6}  {'24H':>4}  {'NEXT CHECK (UTC)':<19}  URL")
    for h in store.feeds_health():
        status = str(h.last_status) if h.last_status is not None else "-"
        when = h.next_check_at.strftime("%Y-%m-%d %H:%M:%S")
        when = "paused" if h.paused else when
        print(f"{h.id:>5}  {status:>6}  {h.error_count:>6}  {h.items_24h:>4}  {when:<19}  {h.url}")
        if h.last_error:
            print(f"{'':>7}last error: {h.last_error}")


def _poll(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    model = load(settings.model_dir)
    # The libraries and the model live as long as the process: the collector need not
    # rescan them on every full collection (bench/bench_model.py: a third of the time of
    # a batch of RSS items with evidence).
    gc.freeze()
    feed_list.seed_from_file(
        store, settings.feeds_file, allow_private=settings.allow_private_networks
    )
    poller = Poller(store, model, settings)
    deliverer = None
    if settings.webhooks:
        deliverer = Deliverer(
            store,
            secrets=settings.webhook_secrets,
            max_backoff=timedelta(hours=settings.max_backoff_hours),
            now=utcnow,
        )
    if deliverer:
        # the thread inherits this mask: SIGINT and SIGTERM stay the main thread's
        unmasked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        deliverer.start()
        signal.pthread_sigmask(signal.SIG_SETMASK, unmasked)
    try:
        if args.once:
            return _report(poller.run_once())
        else:
            stopped_by = _stop_on_signals(poller)
            log.info("polling (owner %s, %d at a time)", poller.owner, settings.poll_concurrency)
            poller.run_forever()
            log.info("stopped on %s", stopped_by[0] if stopped_by else "request")
    finally:
        poller.close()
        if deliverer:
            deliverer.stop.set()
            deliverer.join(timeout=15)
    return 0


def _report(outcomes: list[Outcome]) -> int:
    """Log the --once summary; 1 when a feed failed for a reason on our side (the store,
    the model, a bug), so that cron or CI sees it; a feed's own failure is data on it."""
    failed = sum(1 for o in outcomes if o.error)
    ours = sum(1 for o in outcomes if o.ours)
    new = sum(o.new_items for o in outcomes)
    log.info(
        "polled %d feeds: %d new items, %d failed (%d on our side)",
        len(outcomes),
        new,
        failed,
        ours,
    )
    return 1 if ours else 0


def _stop_on_signals(poller: Poller) -> list[str]:
    """Stop the poller on SIGTERM or SIGINT; the list returned gets the signal's name."""
    received: list[str] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        if poller.in_hand and not poller.stop.is_set():  # only a wait needs explaining
            log.info("%s: finishing the %d feeds in hand", received[-1], poller.in_hand)
        poller.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return received


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failure, 2 bad usage or settings)."""
    args = _parser().parse_args(argv)
    try:
        settings = settings_module.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per feed is ours to write
    try:
        store = open_store(settings.sqlalchemy_url)
        try:
            if args.command == "feeds":
                return _feeds_command(args, store, settings)
            if args.command == "retag":
                return _retag(args, store, settings)
            return _poll(args, store, settings)
        finally:
            store.close()
    except (UnsafeURL, FeedExists, OPMLError, ModelError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
