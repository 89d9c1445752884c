"""gunicorn settings for wiretag's service.

    gunicorn -c gunicorn.conf.py 'service:create_app()'

Bind address, worker count, log level and the request timeout come from the WIRETAG_
settings (read and validated here, once).  The app is preloaded, so the model is loaded
once in the master and shared by the forked workers.  SIGHUP (or an authenticated
``POST /v1/model/reload``) reloads the model in the master, then gunicorn starts new
workers and retires the old ones gracefully: requests in flight finish.  A model that
fails its card check is refused and the old one keeps serving.  SIGINT (Ctrl-C) stops
gracefully, as SIGTERM does.

Workers are gevent workers (``service.workers.JsonGeventWorker``): a client that sends its
headers or body slowly parks a greenlet, not a whole worker, so it cannot starve the
others; gunicorn's own refusals (414, 431, 400) answer JSON.  gevent must patch the
standard library before anything else is imported, hence the first lines below.

Prometheus: every process writes its samples under PROMETHEUS_MULTIPROC_DIR.  If it is not
set, a fresh temporary directory is made (and removed when the master exits); either way
it is emptied at start, and each dead worker's live gauges are dropped.
"""

from gevent import monkey

monkey.patch_all()  # before the app (and the standard library it uses) is imported

import atexit  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import settings as wiretag_settings  # noqa: E402

try:
    _settings = wiretag_settings.from_env()
except wiretag_settings.SettingsError as exc:
    raise SystemExit(f"wiretag: {exc}") from None


def _remove_if_owner(path: str, owner_pid: int) -> None:
    # forked workers inherit atexit handlers: only the master that made the directory cleans it
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


def _metrics_dir() -> str:
    """The shared metrics directory; must be in the environment before prometheus_client loads."""
    existing = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if existing:
        Path(existing).mkdir(parents=True, exist_ok=True)
        return existing
    path = tempfile.mkdtemp(prefix="wiretag-metrics-")
    atexit.register(_remove_if_owner, path, os.getpid())
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


METRICS_DIR = _metrics_dir()

bind = [_settings.bind]
workers = _settings.workers
# gevent: a slow client holds a greenlet, not the worker (see service/workers.py); each
# request's scoring still runs to its end before the worker reads the next one
worker_class = "service.workers.JsonGeventWorker"
worker_connections = 1000  # open connections per worker, slow ones included
preload_app = True
timeout = _settings.request_timeout  # a worker silent this long is killed and replaced
graceful_timeout = 30  # time for requests in flight to finish on reload or stop
# One request per connection: a keep-alive connection stays with the worker that accepted
# it, and under load that pins clients to a busy worker (p99 829 ms against 55 ms without
# keep-alive in bench_service, same run); a new connection goes to whichever worker is free.
keepalive = 0
limit_request_line = 8190
limit_request_fields = 100
proc_name = "wiretag"
# gunicorn's control socket sits at one path per user: several instances would fight over it,
# and the image's user has no home to put it in.  Reload with SIGHUP or POST /v1/model/reload.
control_socket_disable = True
SHM = "/dev/shm"  # noqa: S108  # the heartbeat file in memory: a slow disk cannot stall it
if Path(SHM).is_dir():
    worker_tmp_dir = SHM

loglevel = _settings.log_level.lower()
accesslog = "-"
errorlog = "-"
logger_class = "service.logs.GunicornLogger"  # WIRETAG_LOG_FORMAT for access, errors, the app


def _open_bind_refusal(binds):
    """Why these binds are unsafe without API keys, or None (see service.security)."""
    # imported here, after PROMETHEUS_MULTIPROC_DIR is set: prometheus_client reads it once
    from service.errors import UnsafeExposure
    from service.security import check_exposure

    try:
        check_exposure(binds, _settings.api_keys)
    except UnsafeExposure as exc:
        return f"wiretag: {exc}"
    return None


if refusal := _open_bind_refusal(bind):
    raise SystemExit(refusal)


def on_starting(server):
    """Check the bind again (``-b`` on the command line overrides WIRETAG_BIND), and start
    from an empty metrics directory."""
    if refusal := _open_bind_refusal(server.cfg.bind):
        raise RuntimeError(refusal)  # gunicorn prints it and exits 1
    for stale in Path(METRICS_DIR).glob("*.db"):
        stale.unlink(missing_ok=True)


def when_ready(server):
    """Ctrl-C (SIGINT) stops gracefully, as SIGTERM does: requests in flight finish.

    gunicorn's own SIGINT is a quick shutdown whose workers quit mid-request; on a
    terminal every worker gets the key's SIGINT too (see post_worker_init).
    """
    signal.signal(signal.SIGINT, lambda _signum, frame: server.signal(signal.SIGTERM, frame))


def post_worker_init(worker):
    """Workers leave the terminal's SIGINT to the master, which stops them gracefully."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def on_reload(server):
    """SIGHUP: reload the model in the master before the new workers fork from it."""
    from service import reload_model

    if server.cfg.preload_app:  # otherwise each new worker builds the app, model and all
        gc.unfreeze()  # let the collector free the replaced model's reference cycles
        reload_model(server.app.wsgi())
        gc.collect()


def pre_fork(server, worker):
    """Freeze what the master holds (the model above all) before forking.

    The collector writes into every object it scans; in a worker that would copy the
    master's pages one by one.  Frozen objects are never scanned, so the model's memory
    stays shared: about 55 MiB proportional set size (PSS) per worker instead of 80 MiB.
    """
    gc.freeze()


def post_fork(server, worker):
    """Let the worker's ``POST /v1/model/reload`` reach the master."""
    from service import attach_master

    attach_master(server.app.wsgi(), server.pid)


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
