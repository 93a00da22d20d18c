"""gunicorn settings for callback_app; the Procfile runs ``gunicorn --config gunicorn.conf.py``.

Serving model: gevent workers, one per core. A callback spends almost all of its time waiting
on MusicAPI's exchange (and the one-time token dies a minute after it was issued), so a worker
must hold thousands of waiting callbacks cheaply instead of queueing them behind a few
threads. Measurements are in the README (make bench).

Measured and not chosen (whole logins, instant MusicAPI, 64 people at a time, 2 workers):

- gthread: 3.6-4.4 ms of server CPU per login against gevent's 2.7-3.1 ms (339-439 logins/s
  with 32-100 threads per worker, against 500-566/s); and even 100 threads per worker would
  queue a burst's 1,000 waiting callbacks.
- gevent_pywsgi (gevent's own HTTP server): about 10 % less CPU per login on one worker, the
  same throughput within noise over a whole ``make bench``; and it applies none of the limits
  below (request line, keep-alive timeout) and ignores forwarded_allow_ips, so the router's
  X-Forwarded-Proto would need a separate trust setting in the app.
"""

import multiprocessing
import sys

from callback_app.config import ServerSettings
from callback_app.errors import ConfigError

try:
    _server = ServerSettings.from_environ(cpu_count=multiprocessing.cpu_count())
except ConfigError as error:
    # One line naming every problem, before any worker starts.
    print(f"callback_app: configuration error: {error}", file=sys.stderr, flush=True)
    sys.exit(3)

bind = f"{_server.host}:{_server.port}"
workers = _server.workers
worker_class = "gevent"
worker_connections = 2000
# The PaaS sends SIGTERM, then SIGKILL 30 s later: finish in-flight exchanges within that.
graceful_timeout = 25
timeout = 30
keepalive = 5
# Only the PaaS router can reach a dyno, so its X-Forwarded-Proto is the truth about https.
forwarded_allow_ips = "*"
# Room for a whole callback URL; the app itself caps data64 well below this.
limit_request_line = 8190
# The app writes its own access line (path without query string, request id, outcome).
accesslog = None
errorlog = "-"
loglevel = "info"
proc_name = "callback_app"
# Nothing here uses gunicorn's control socket; without it, several servers can share a machine.
control_socket_disable = True
