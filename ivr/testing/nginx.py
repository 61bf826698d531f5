"""nginx in front of several `ivr serve` instances, for tests and benchmarks.

`run_nginx(ports, directory)` writes a config into `directory`, runs nginx in the
foreground (`daemon off`) on a free loopback port and yields an `Nginx` with its URL;
it stops nginx when the block ends. The proxy is what a production deployment would
use in front of the line: round-robin over the upstreams, no caching, the caller's
`Host` passed through, the client's address appended to `X-Forwarded-For`, and a
request that cannot reach one instance (connection refused, connect timeout) retried
on the next one.

Every request is logged as `<status>|<request_uri>|<X-Request-Id>|<upstream_addr>`;
`served_by()` counts them per instance (a retried request names every upstream it
tried, comma separated, the one that answered last). nginx writes a request's line
after it has answered, so a test that needs the lines of its own requests sends each
with a unique `X-Request-Id` and waits for them (`lines_for`) rather than counting.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_CONFIG = """\
{user}daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    log_format upstreams '$status|$request_uri|$http_x_request_id|$upstream_addr';
    access_log {dir}/access.log upstreams;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream ivr {{
{servers}
{keepalive}    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://ivr;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_cache off;
            proxy_next_upstream error timeout non_idempotent;
            proxy_connect_timeout 1s;
{keepalive_headers}        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """The nginx executable, or None if it is not installed (it lives in /usr/sbin)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class Nginx:
    url: str
    port: int
    directory: Path
    upstreams: list[str]
    """`127.0.0.1:port` of each instance, as `$upstream_addr` names them."""

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    async def lines_for(self, request_ids: Sequence[str], seconds: float = 20) -> list[str]:
        """The log lines of these requests (by `X-Request-Id`), in that order, once all are written."""
        wanted = set(request_ids)
        async with asyncio.timeout(seconds):
            while True:
                found = {line.split("|")[2]: line for line in self.log_lines() if line.count("|") >= 3}
                if wanted <= found.keys():
                    return [found[request_id] for request_id in request_ids]
                await asyncio.sleep(0.05)

    def served_by(self, lines: Sequence[str] | None = None) -> Counter[str]:
        """Requests answered per upstream (the last address tried for each request)."""
        lines = self.log_lines() if lines is None else lines
        return Counter(line.rsplit("|", 1)[-1].split(",")[-1].strip() for line in lines if line)


@contextmanager
def run_nginx(ports: Sequence[int], directory: Path, keepalive: int = 0) -> Iterator[Nginx]:
    """Run nginx round-robin over `127.0.0.1:<port>` for each port; stops it afterwards.

    `keepalive`: idle connections to the instances kept open per worker (0: a new
    connection per request, as in nginx's default; a load benchmark wants some, or the
    loopback runs out of ports in TIME_WAIT).
    """
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (apt-get install nginx-light)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    upstreams = [f"127.0.0.1:{p}" for p in ports]
    config = directory / "nginx.conf"
    config.write_text(
        _CONFIG.format(
            # As root, nginx's workers would run as `nobody`, who cannot write in a private
            # temporary directory; keep them as the user who started the test.
            user="user root;\n" if os.geteuid() == 0 else "",
            dir=directory,
            port=port,
            servers="\n".join(f"        server {u};" for u in upstreams),
            keepalive=f"        keepalive {keepalive};\n" if keepalive else "",
            keepalive_headers=(
                '            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n'
                if keepalive
                else ""
            ),
        )
    )
    log = (directory / "stderr.log").open("w")
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        if not wait_for_port(port, 10):
            raise RuntimeError(
                f"nginx did not start: {(directory / 'stderr.log').read_text()}"
                f"{(directory / 'error.log').read_text() if (directory / 'error.log').exists() else ''}"
            )
        yield Nginx(f"http://127.0.0.1:{port}", port, directory, upstreams)
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish requests in flight, then exit
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
