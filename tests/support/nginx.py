"""Debian's nginx, started by a test as the PaaS router: its config, logs and temp files in one folder."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tests.support.servers import stop_process_group, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

PREAMBLE = """\
daemon off;
master_process off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server_tokens off;
{http}
}}
"""


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Nginx:
    """nginx running ``http`` (the inside of its http block), ready once every port in ``ports`` listens."""

    def __init__(self, directory: Path, http: str, ports: Iterable[int]) -> None:
        self.directory = directory
        config = directory / "nginx.conf"
        config.write_text(PREAMBLE.format(directory=directory, http=http))
        self.process = subprocess.Popen(
            [NGINX, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for port in ports:
            if not wait_until(lambda port=port: self.process.poll() is not None or listening(port)):
                self.stop()
                raise RuntimeError(f"nginx did not listen on {port}:\n{self.error_log()}")
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        # SIGQUIT: finish what is in flight, then exit.
        stop_process_group(self.process, signal.SIGQUIT)
