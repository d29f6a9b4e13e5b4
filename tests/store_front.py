"""A recording front for moto: what host and path every S3 request was sent to, by whom.

It is the endpoint itself (http, or https with a certificate of the test's own CA), or
an HTTP proxy the clients reach through `HTTP_PROXY` / `HTTPS_PROXY` (an https request
is a CONNECT tunnel that the front answers with a certificate for the tunnel's host,
signed by that CA, as AWS's certificate for `s3.<region>.amazonaws.com` and
`*.s3.<region>.amazonaws.com` reads). Either way each request is recorded as the client
addressed it (scheme, Host, path, user agent) and forwarded to moto, the bucket moved
from the host into the path where the request was virtual-hosted.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _names(host: str) -> list[x509.GeneralName]:
    try:
        return [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        return [x509.DNSName(host), x509.DNSName(f"*.{host}")]


class TestCA:
    """A certificate authority of the test's own, and certificates it issues."""

    __test__ = False  # not a test class

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "publisher test CA")])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        self.pem = folder / "ca.pem"
        self.pem.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context(self, host: str) -> ssl.SSLContext:
        """A server context with a certificate for `host` (and `*.host`, as AWS's reads)."""
        with self._lock:
            if host not in self._contexts:
                self._contexts[host] = self._issue(host)
            return self._contexts[host]

    def _issue(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return self._context(host, cert, key)

    def self_signed(self, host: str) -> tuple[Path, ssl.SSLContext]:
        """A certificate for `host` signed by itself and marked a CA, as `openssl req -x509`
        makes one: its PEM (the whole CA bundle a user gives) and a server context."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        context = self._context(f"self-{host}", cert, key)
        return self.folder / f"self-{host.replace(':', '_')}.pem", context

    def _context(
        self, host: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> ssl.SSLContext:
        safe = host.replace(":", "_")
        cert_path, key_path = self.folder / f"{safe}.pem", self.folder / f"{safe}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context


SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/s3/aws4_request")
"""The region a SigV4 request is signed for, in its Authorization header."""


@dataclass(frozen=True)
class Seen:
    """One request as its client addressed it."""

    scheme: str
    method: str
    host: str
    path: str
    agent: str
    headers: dict[str, str]

    @property
    def region(self) -> str | None:
        """The region it was signed for."""
        found = SCOPE.search(self.headers.get("authorization", ""))
        return found[1] if found else None

    @property
    def native(self) -> bool:
        """Sent by obstore (Rust's object_store), not botocore."""
        return "botocore" not in self.agent.lower()


class Front:
    """A recording endpoint or proxy on 127.0.0.1 in front of moto (see the module)."""

    def __init__(
        self, upstream: str, bucket: str, ca: TestCA | None = None, region: str | None = None
    ) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.bucket = bucket
        self.ca = ca
        self.region = region
        """The bucket's region: a request signed for another is redirected, as S3 does."""
        self.seen: list[Seen] = []
        self.tunnels: list[str] = []
        self._lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            tunnel: str | None = None

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_CONNECT(self) -> None:
                host = self.path.rsplit(":", 1)[0]
                with front._lock:
                    front.tunnels.append(self.path)
                assert front.ca is not None, "an https tunnel needs the front's CA"
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                tls = front.ca.context(host).wrap_socket(self.connection, server_side=True)
                self.connection = tls
                self.rfile = tls.makefile("rb", -1)
                self.wfile = tls.makefile("wb", 0)
                self.tunnel = self.path
                self.close_connection = False

            def _forward(self) -> None:
                if self.path.startswith(("http://", "https://")):  # through the proxy
                    parts = urlsplit(self.path)
                    scheme, host = parts.scheme, parts.netloc
                    path = parts.path + (f"?{parts.query}" if parts.query else "")
                else:
                    secure = self.tunnel is not None or front.tls
                    scheme, host, path = ("https" if secure else "http"), "", self.path
                    host = self.headers.get("Host", "")
                headers = {k.lower(): v for k, v in self.headers.items()}
                with front._lock:
                    front.seen.append(
                        Seen(scheme, self.command, host.lower(), path,
                             headers.get("user-agent", ""), headers)
                    )  # fmt: skip
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                signed = SCOPE.search(headers.get("authorization", ""))
                if front.region and signed and signed[1] != front.region:
                    self._redirect()
                    return
                if host.lower().startswith(front.bucket + "."):  # virtual-hosted
                    path = f"/{front.bucket}{path}"
                conn = http.client.HTTPConnection(front.upstream, timeout=30)
                sent = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("connection", "host", "proxy-connection")
                }
                conn.request(self.command, path, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in (
                        "connection", "transfer-encoding", "content-length", "server", "date",
                    ):  # fmt: skip
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _redirect(self) -> None:
                """S3's answer to a request signed for another region than the bucket's."""
                region = front.region or ""
                body = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect'
                    b"</Code><Message>The bucket is in another region.</Message></Error>"
                )
                self.send_response(301)
                self.send_header("x-amz-bucket-region", region)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.tls = False
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self._thread.daemon = True

    def https(self, context: ssl.SSLContext | None = None) -> Front:
        """Serve https, with a certificate for 127.0.0.1 from the front's CA (or `context`'s)."""
        if context is None:
            assert self.ca is not None
            context = self.ca.context("127.0.0.1")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.tls = True
        self.url = f"https://127.0.0.1:{self.port}"
        return self

    @property
    def netloc(self) -> str:
        """The front's own host and port, as a client addressing it sends them."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Front:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def hosts(self) -> set[tuple[str, str]]:
        """Every (scheme, host) a request was sent to."""
        with self._lock:
            return {(s.scheme, s.host) for s in self.seen}

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
