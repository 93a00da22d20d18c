"""An https front for security tests: a self-signed certificate and Debian's nginx as the PaaS router.

nginx terminates TLS on one port and speaks plain http on another, proxying both to a gunicorn
app with the ``X-Forwarded-Proto`` a PaaS router sends. Nothing here sleeps: readiness is a
connect loop with a deadline.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NGINX_CANDIDATES = ("/usr/sbin/nginx", "nginx")
READY_TIMEOUT = 15.0


def make_self_signed_certificate(directory: Path, hostname: str = "localhost") -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` for ``hostname`` and 127.0.0.1; the cert is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def nginx_binary() -> str:
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError("nginx is not installed (scripts/install-system-deps installs it)")


def nginx_config(directory: Path, *, http_port: int, https_port: int, app_port: int, cert: Path, key: Path) -> str:
    proxy = f"""
            proxy_pass http://127.0.0.1:{app_port};
            proxy_set_header Host $http_host;
            proxy_set_header X-Request-ID $request_id;
            proxy_buffering off;"""
    return f"""
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server_tokens off;
    large_client_header_buffers 4 16k;
    server {{
        listen 127.0.0.1:{http_port};
        location / {{{proxy}
            proxy_set_header X-Forwarded-Proto http;
        }}
    }}
    server {{
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{{proxy}
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
"""


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT) -> None:
    """Return once ``port`` accepts connections; raise if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            # Not listening yet: the connect attempt itself paces this loop (a refused connect is instant,
            # so yield the CPU to nginx with a blocking wait on its exit instead of spinning).
            try:
                process.wait(0.05)
            except subprocess.TimeoutExpired:
                continue
    raise RuntimeError(f"nginx did not listen on {port} within {timeout} s")


class NginxFront:
    """nginx with an https listener and an http listener, both proxying to one app port."""

    def __init__(self, directory: Path, *, http_port: int, https_port: int, app_port: int) -> None:
        self.directory = directory
        self.http_port = http_port
        self.https_port = https_port
        self.cert, key = make_self_signed_certificate(directory)
        config = directory / "nginx.conf"
        config.write_text(
            nginx_config(
                directory, http_port=http_port, https_port=https_port, app_port=app_port, cert=self.cert, key=key
            )
        )
        self.process = subprocess.Popen(
            [nginx_binary(), "-c", str(config), "-p", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        wait_for_port(https_port, self.process)
        wait_for_port(http_port, self.process)

    @property
    def https_url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://localhost:{self.http_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
