"""A loopback proxy that records what the SDKs send, and can lose the server's answer."""

import gzip
import json
import socket
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, BinaryIO

# --- a loopback proxy that records what the SDKs send, and can lose the server's answer ---


@dataclass
class HttpMessage:
    start: str  # "POST /v1/batch HTTP/1.1" or "HTTP/1.1 200 OK"
    head: bytes
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def raw(self) -> bytes:
        return self.head + self.body


def read_http_message(stream: BinaryIO) -> HttpMessage | None:
    """One HTTP/1.1 request or response from `stream`; None when the peer closed the
    connection between messages. The SDKs (requests) and uvicorn both send Content-Length."""
    start = stream.readline()
    if not start:
        return None
    head, headers = [start], {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        head.append(line)
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if not line:
        raise ConnectionError(f"the connection closed inside the head of {start!r}")
    head.append(line)
    assert "transfer-encoding" not in headers, headers
    body = stream.read(int(headers.get("content-length", "0")))
    return HttpMessage(start.decode("latin-1").strip(), b"".join(head), headers, body)


@dataclass
class Exchange:
    """One request an SDK made through the proxy, and what became of the server's answer."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the server answered
    relayed: bool  # False: the proxy closed the SDK's connection instead of passing it on

    def json(self) -> Any:
        gzipped = self.headers.get("content-encoding") == "gzip"
        return json.loads(gzip.decompress(self.body) if gzipped else self.body)


@dataclass
class RecordingProxy:
    """A TCP proxy on loopback in front of the server, one thread a connection. Each request
    is forwarded whole and the server's whole answer read (so whatever it acknowledged is
    committed); the first `lose_answers` answers are then not relayed: the proxy closes the
    SDK's connection instead, and the SDK sees a broken connection after a stored batch."""

    upstream_port: int
    lose_answers: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._clients: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # accept() polls, to notice close()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept")
        self._acceptor.start()

    def __enter__(self) -> "RecordingProxy":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def seen(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(client,), name="proxy-conn")
            with self._lock:
                self._clients.append(client)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            with client, client.makefile("rb") as stream:
                while (request := read_http_message(stream)) is not None:
                    answer = self._forward(request)
                    method, path, _ = request.start.split(" ", 2)
                    with self._lock:
                        relay = self.lose_answers == 0
                        self.lose_answers = max(0, self.lose_answers - 1)
                        status = int(answer.start.split(" ")[1])
                        self.exchanges.append(
                            Exchange(method, path, request.headers, request.body, status, relay)
                        )
                    if not relay:
                        return  # closes the connection: the SDK never hears the answer
                    client.sendall(answer.raw)
        except BaseException as exc:
            if not self._closing.is_set():
                self.failures.append(repr(exc))

    def _forward(self, request: HttpMessage) -> HttpMessage:
        address = ("127.0.0.1", self.upstream_port)
        with (
            socket.create_connection(address, timeout=30) as upstream,
            upstream.makefile("rb") as stream,
        ):
            upstream.sendall(request.raw)
            answer = read_http_message(stream)
        if answer is None:
            raise ConnectionError(f"the server did not answer {request.start}")
        return answer

    def close(self) -> None:
        self._closing.set()
        self._acceptor.join()
        self._listener.close()
        with self._lock:
            clients, threads = list(self._clients), list(self._threads)
        for client in clients:  # idle keep-alive connections of the SDKs' pools
            with suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=30)
        assert [thread.name for thread in threads if thread.is_alive()] == []
        assert self.failures == []
