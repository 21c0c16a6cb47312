"""A local stand-in for a browser's push service: it checks each request's
VAPID JWT and decrypts its aes128gcm body with the subscription's own keys,
as a real push service and browser would."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_bytes(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@dataclass
class Browser:
    """One subscription: the browser's key pair and auth secret."""

    endpoint: str
    key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def keys(self) -> dict[str, str]:
        return {"p256dh": b64(public_bytes(self.key)), "auth": b64(self.auth)}


@dataclass
class PushService:
    vapid_public_key: str
    subject: str
    port: int = 0
    browsers: dict[str, Browser] = field(default_factory=dict)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)  # paths answered 410
    # A path answered with a redirect to this URL, as a hostile endpoint would.
    redirects: dict[str, str] = field(default_factory=dict)
    # Bytes appended to every answer's body.
    padding: int = 0
    # How many of those bytes each answer got out before the client hung up.
    padded: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, name: str) -> Browser:
        browser = Browser(endpoint=f"http://127.0.0.1:{self.port}/push/{name}")
        self.browsers[urlsplit(browser.endpoint).path] = browser
        return browser

    def verify_vapid(self, header: str, endpoint: str) -> None:
        scheme, _, params = header.partition(" ")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        assert scheme == "vapid" and fields["k"] == self.vapid_public_key, "wrong VAPID key"
        head, claims, signature = fields["t"].split(".")
        assert json.loads(unb64(head)) == {"typ": "JWT", "alg": "ES256"}
        raw = unb64(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(fields["k"]))
        key.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(unb64(claims))
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(endpoint))
        assert claims["aud"] == origin and claims["sub"] == self.subject and claims["exp"] > time.time()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, path: str, headers: Any, body: bytes) -> int:
        if path in self.gone:
            return 410
        if path in self.redirects:
            return 307
        browser = self.browsers.get(path)
        if browser is None:
            return 404
        try:
            self.verify_vapid(headers["Authorization"], browser.endpoint)
            assert headers["Content-Encoding"] == "aes128gcm" and int(headers["TTL"]) > 0
            plain = http_ece.decrypt(body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm")
        except (AssertionError, InvalidSignature, KeyError, ValueError, http_ece.ECEException) as exc:
            with self.lock:
                self.rejected.append(f"{path}: {exc!r}")
            return 403
        with self.lock:
            self.received.append((path, json.loads(plain)))
        return 201


def start_push_service(vapid: dict[str, str]) -> tuple[PushService, ThreadingHTTPServer]:
    service = PushService(vapid_public_key=vapid["VAPID_PUBLIC_KEY"], subject=vapid["VAPID_SUBJECT"])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = service.handle(self.path, self.headers, body)
            self.send_response(status)
            if status == 307:
                self.send_header("Location", service.redirects[self.path])
            self.send_header("Content-Length", str(service.padding))
            self.end_headers()
            written, chunk = 0, b"x" * 65536
            try:
                while written < service.padding:
                    self.wfile.write(chunk[: service.padding - written])
                    written += min(len(chunk), service.padding - written)
            except OSError:  # the client stopped reading and closed
                pass
            if service.padding:
                service.padded.append(written)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return service, server
