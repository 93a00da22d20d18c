"""A hypothesis fuzz of the router-facing edge, against the app under real gunicorn: over plain http, and
behind nginx's TLS as on an https deployment.

Requests are written byte by byte on a socket (methods, paths with control characters, ``%00``, CRLF,
over-long segments and unicode, odd headers, odd framing), each carrying a fresh one-time token and
``data64`` in its query, cookies and headers. Properties: no 5xx but the contract's 502/504, every
answer the app's own page, and no token or ``data64`` in any line the app process writes.
"""

from __future__ import annotations

import string
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.musicapi import encode_data64, login_document
from tests.support.servers import GunicornApp

from .conftest import HttpsDeployment
from .raw_http import Endpoint, RawAnswer, request_bytes, send_raw, tls_trusting

KNOWN_SEGMENTS = [
    "",
    "callback",
    "connect",
    "spotify",
    "disconnect",
    "logout",
    "api",
    "session",
    "attempts",
    "static",
    "app.js",
    "connect.js",
    "connect.d.ts",
    "language",
    "ar",
    "popup",
    "done",
    "healthz",
    "readyz",
    "favicon.ico",
    "_simulator",
    "..",
    ".",
]
ODD_SEGMENTS = [
    "%00",
    "%0d%0a",
    "%0d%0aX-Injected:%201",
    "%0a",
    "%09",
    "%2e%2e",
    "%2f",
    "%5c",
    "%ff",
    "%C3%A9",
    "%E2%80%AE",
    "%",
    "%zz",
    ";x=1",
    "\r\nX-Injected: 1\r\n",
    "\x00",
    "\x7f",
    " ",
    "#",
    "?",
    "ü",
    "日本",
]
TOKEN_CHARACTERS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
HEADER_NAMES = [
    "Origin",
    "Cookie",
    "X-Forwarded-Proto",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "Forwarded",
    "X-Request-ID",
    "X-Request-Start",
    "Content-Type",
    "Accept",
    "Accept-Language",
    "Accept-Encoding",
    "Range",
    "If-Modified-Since",
    "If-None-Match",
    "Referer",
    "User-Agent",
    "Expect",
    "Upgrade",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
    "Sec-Fetch-Site",
]
HEADER_VALUES = [
    "",
    "null",
    "https",
    "http",
    "https, http",
    "application/json",
    "*/*;q=",
    "de-DE,de;q=0.9,*;q=0.1",
    "ar;q=abc, ;;; ,",
    "x" * 3000,
    "bytes=0-0,-1",
    "bytes=99999999999999999999-",
    "Tue, 99 Foo 9999 99:99:99 GMT",
    '"etag", W/""',
    "100-continue",
    "websocket",
    "https://www.example.com",
    "acct-spotify=garbage; flow=; csrf=%ff; =; ;;",
    "t=not-a-number",
    "ünïcode",
]


@dataclass(frozen=True)
class FuzzRequest:
    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    secrets: tuple[str, ...]

    def data(self) -> bytes:
        return request_bytes(self.method, self.target, self.headers, self.body, self.version)

    @property
    def path(self) -> bytes:
        return self.target.split(b"?", 1)[0]


def as_bytes(text: str) -> bytes:
    return text.encode("utf-8")


def mostly(usual: st.SearchStrategy[bytes], unusual: st.SearchStrategy[bytes], in_ten: int) -> st.SearchStrategy[bytes]:
    """``usual``, but ``unusual`` in about ``in_ten`` draws of ten: a request with one odd part gets past
    gunicorn's parser to the app, where one with every part odd would not."""
    return st.integers(0, 9).flatmap(lambda roll: unusual if roll < in_ten else usual)


segments = mostly(
    st.one_of(
        st.sampled_from(KNOWN_SEGMENTS),
        st.sampled_from([segment for segment in ODD_SEGMENTS if segment.isascii() and segment.isprintable()]),
        st.text(max_size=20).map(lambda text: quote(text, safe="")),
    ).map(as_bytes),
    st.one_of(
        st.sampled_from(ODD_SEGMENTS),
        st.text(max_size=8),
        st.integers(200, 9000).map(lambda length: "a" * length),
    ).map(as_bytes),
    in_ten=1,
)
methods = mostly(
    st.sampled_from([b"GET", b"GET", b"POST", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE"]),
    st.one_of(
        st.sampled_from(["CONNECT", "PROPFIND", "get", "G\x00T", "GET\t", ""]),
        st.text(alphabet=TOKEN_CHARACTERS, min_size=1, max_size=12),
    ).map(as_bytes),
    in_ten=1,
)
versions = mostly(
    st.just(b"HTTP/1.1"),
    st.sampled_from([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 junk", b"", b"http/1.1", b"HTTP/1.10"]),
    in_ten=1,
)
header_names = mostly(
    st.sampled_from(HEADER_NAMES).map(as_bytes),
    st.one_of(
        st.text(alphabet=TOKEN_CHARACTERS, min_size=1, max_size=20),
        st.sampled_from(["Bad Name", "Bad:Name", "Under_score", "Ünicode", ""]),
    ).map(as_bytes),
    in_ten=1,
)
header_values = st.one_of(
    st.sampled_from(HEADER_VALUES),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200),
).map(lambda text: text.encode("latin-1", "replace"))


@st.composite
def framings(draw: st.DrawFn, secret: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """How the body is delimited: none, well-formed (form or chunked), or headers no server should accept."""
    form = f"csrf_token=x&data64={secret}".encode()
    choice = draw(
        mostly(st.sampled_from([b"none", b"form", b"chunked"]), st.sampled_from([b"bad", b"coding", b"both"]), 1)
    )
    if choice == b"form":
        return [
            (b"Content-Type", b"application/x-www-form-urlencoded"),
            (b"Content-Length", str(len(form)).encode()),
        ], form
    if choice == b"chunked":
        return [(b"Transfer-Encoding", b"chunked")], b"%x\r\n%s\r\n0\r\n\r\n" % (len(form), form)
    if choice == b"bad":
        return [(b"Content-Length", draw(st.sampled_from([b"-1", b"abc", b"1, 2", b"0x10", b"+0", b" 0"])))], b""
    if choice == b"coding":
        return [
            (b"Transfer-Encoding", draw(st.sampled_from([b"gzip", b"chunked, gzip", b"identity", b"xchunked"])))
        ], b""
    if choice == b"both":
        return [(b"Content-Length", b"0"), (b"Transfer-Encoding", b"chunked")], b"0\r\n\r\n"
    return [], b""


@st.composite
def edge_requests(draw: st.DrawFn, right_host: str) -> FuzzRequest:
    document = login_document()
    token, data64 = str(document["oneTimeToken"]), encode_data64(document)
    path = b"/" + b"/".join(draw(st.lists(segments, min_size=1, max_size=4)))
    queries = [f"data64={data64}", f"state=x&data64={data64}&oneTimeToken={token}", f"a=1&data64={quote(data64)}"]
    query = draw(st.sampled_from(queries)).encode()
    hostile_hosts = [right_host.upper(), "evil.example", "", "127.0.0.1", f"{right_host}.evil.example", "a" * 300]
    host = draw(mostly(st.just(right_host.encode()), st.sampled_from([*map(as_bytes, hostile_hosts), b"-"]), 3))
    headers = [] if host == b"-" else [(b"Host", host)]
    headers += draw(st.lists(st.tuples(header_names, header_values), max_size=4))
    headers += [(b"Authorization", f"Token {token}".encode()), (b"Cookie", f"data64={data64}; t={token}".encode())]
    framing, body = draw(framings(data64))
    return FuzzRequest(
        method=draw(methods),
        target=path + b"?" + query,
        version=draw(versions),
        headers=headers + framing,
        body=body,
        secrets=(token, data64),
    )


@dataclass
class Tally:
    """What the fuzz sent and what came back, for the assertions and the printed summary."""

    target: str
    sent: int = 0
    reached_the_app: int = 0
    closed_without_answer: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    def summary(self) -> str:
        common = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"{self.target}: fuzzed {self.sent} requests ({self.reached_the_app} reached the app), "
            f"{len(self.server_errors)} 5xx, {self.closed_without_answer} closed without an answer; statuses {common}"
        )


def is_contract_gateway_error(answer: RawAnswer, request: FuzzRequest) -> bool:
    """The contract's 502/504: the app's own page for a callback whose exchange failed or timed out."""
    return answer.status in (502, 504) and request.path.startswith(b"/callback") and is_the_apps(answer)


def is_the_apps(answer: RawAnswer) -> bool:
    return answer.header("Content-Security-Policy") is not None


def routers_own_refusal(answer: RawAnswer) -> bool:
    """nginx refusing a request it cannot route (an HTTP version or coding it does not speak), gunicorn unasked."""
    return answer.status in (501, 505) and not is_the_apps(answer)


def is_server_error(answer: RawAnswer, request: FuzzRequest, *, behind_router: bool) -> bool:
    if answer.status < 500 or is_contract_gateway_error(answer, request):
        return False
    return not (behind_router and routers_own_refusal(answer))


def fuzz(endpoint: Endpoint, right_host: str, tally: Tally, *, behind_router: bool) -> None:
    @given(request=edge_requests(right_host))
    def one_request(request: FuzzRequest) -> None:
        tally.sent += 1
        tally.secrets.extend(request.secrets)
        answer = send_raw(endpoint, request.data(), head=request.method == b"HEAD")
        if answer is None:
            tally.closed_without_answer += 1
            return
        tally.statuses[answer.status] += 1
        # The app's access-log middleware stamps every answer it writes; gunicorn's refusals have no stamp.
        tally.reached_the_app += answer.header("X-Request-ID") is not None
        if is_server_error(answer, request, behind_router=behind_router):
            tally.server_errors.append(f"{answer.status} for {request.data()[:300]!r}")
            raise AssertionError(f"{answer.status} for {request.data()[:2000]!r}:\n{answer.text[:500]}")
        if not behind_router:
            assert is_the_apps(answer), f"not the app's page: {answer.status} for {request.data()[:500]!r}"

    one_request()


def scan_logs(app: GunicornApp, tally: Tally) -> None:
    """Every line the app process wrote, searched for every secret the fuzz sent."""
    marker = f"fuzz-end-{uuid.uuid4().hex}"
    answer = send_raw(
        Endpoint("127.0.0.1", app.port),
        request_bytes(b"GET", b"/healthz", [(b"Host", b"x"), (b"X-Request-ID", marker.encode())]),
    )
    assert answer is not None
    assert answer.status == 200
    assert app.logs.wait_for(lambda line: marker in line, timeout=10)
    log = app.logs.text()
    leaked = sorted({secret[:12] + "…" for secret in tally.secrets if secret in log})
    assert leaked == [], f"secrets in the app's log: {leaked}"


def report(tally: Tally, record_property: pytest.RecordProperty) -> None:
    print(f"\n{tally.summary()}")
    record_property("fuzzed_requests", tally.sent)
    record_property("server_errors", len(tally.server_errors))


def test_fuzz_the_edge_of_an_http_deployment(app_server: GunicornApp, record_property: pytest.RecordProperty) -> None:
    tally = Tally("http deployment")

    fuzz(Endpoint("127.0.0.1", app_server.port), urlsplit(app_server.url).netloc, tally, behind_router=False)

    scan_logs(app_server, tally)
    report(tally, record_property)
    assert tally.server_errors == []
    assert tally.sent >= 100


def test_fuzz_the_edge_of_an_https_deployment_behind_its_router(
    https_deployment: HttpsDeployment, record_property: pytest.RecordProperty
) -> None:
    tally = Tally("https deployment behind nginx")
    endpoint = Endpoint("127.0.0.1", https_deployment.front.https_port, tls_trusting(https_deployment.ca_bundle))

    fuzz(endpoint, urlsplit(https_deployment.url).netloc, tally, behind_router=True)

    scan_logs(https_deployment.app, tally)
    report(tally, record_property)
    assert tally.server_errors == []
    assert tally.sent >= 100
