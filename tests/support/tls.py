"""An https front for security tests: a self-signed certificate and Debian's nginx as the PaaS router.

nginx terminates TLS on one port and speaks plain http on another, proxying both to a gunicorn
app with the ``X-Forwarded-Proto`` a PaaS router sends.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.nginx import Nginx


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


FRONT_HTTP = """\
    access_log {directory}/access.log;
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
    }}"""
PROXY = """
            proxy_pass http://127.0.0.1:{app_port};
            proxy_set_header Host $http_host;
            proxy_set_header X-Request-ID $request_id;
            proxy_buffering off;"""


class NginxFront(Nginx):
    """nginx with an https listener and an http listener, both proxying to one app port."""

    def __init__(self, directory: Path, *, http_port: int, https_port: int, app_port: int) -> None:
        self.http_port = http_port
        self.https_port = https_port
        self.cert, key = make_self_signed_certificate(directory)
        http = FRONT_HTTP.format(
            directory=directory,
            http_port=http_port,
            https_port=https_port,
            cert=self.cert,
            key=key,
            proxy=PROXY.format(app_port=app_port),
        )
        super().__init__(directory, http, [https_port, http_port])

    @property
    def https_url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://localhost:{self.http_port}"
