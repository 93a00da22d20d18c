"""gunicorn settings for callback_app; the Procfile runs ``gunicorn --config gunicorn.conf.py``.

Serving model: gevent workers, one per core (or WEB_CONCURRENCY). A callback spends almost all
of its time waiting on MusicAPI's exchange, and the one-time token dies a minute after it was
issued: a worker must hold thousands of waiting callbacks cheaply (a greenlet each) instead
of queueing them behind a few threads.
"""

import multiprocessing
import sys

from callback_app.config import read_server_settings
from callback_app.errors import ConfigError
from callback_app.settings import WORKER_CONNECTIONS

try:
    _server = read_server_settings(cpu_count=multiprocessing.cpu_count())
except ConfigError as error:
    # One line naming every problem, before any worker starts.
    print(f"callback_app: configuration error: {error}", file=sys.stderr, flush=True)
    sys.exit(3)

bind = f"{_server.host}:{_server.port}"
workers = _server.workers
# gunicorn's gevent worker, answering what gunicorn refuses with the app's own page and headers.
worker_class = "callback_app.serving.Worker"
worker_connections = WORKER_CONNECTIONS
# The PaaS sends SIGTERM, then SIGKILL 30 s later: finish in-flight exchanges within that.
graceful_timeout = 25
timeout = 30
keepalive = 5
# Only the PaaS router can reach a dyno, so its X-Forwarded-Proto is the truth about https.
forwarded_allow_ips = "*"
# Room for a whole callback URL; the app itself caps data64 well below this.
limit_request_line = 8190
# The app keeps its own cookies inside 8 KB, but a browser may carry more for this host (other
# sites' cookies on a shared domain): read up to 32 KB, so such a person can still log out.
limit_request_field_size = 32768
# The app writes its own access line (path without query string, request id, outcome), and
# gunicorn's own messages go through a logger that removes query strings.
accesslog = None
errorlog = "-"
loglevel = "info"
logger_class = "callback_app.serving.Logger"
proc_name = "callback_app"
# Nothing here uses gunicorn's control socket; without it, several servers can share a machine.
control_socket_disable = True
