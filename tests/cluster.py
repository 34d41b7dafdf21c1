"""Several ``deputy serve`` processes on one PostgreSQL schema behind a round-robin load balancer (HAProxy).

The topology an operator runs past one machine, on loopback:

    client ──> HAProxy 127.0.0.1:LB ──round robin──> deputy serve 127.0.0.1:P0, 127.0.0.1:P1, …
                                                         │  one PostgreSQL schema, one key ring file
                                                         └──> Acme CRM http://localhost:PA (the third party)

Every instance is configured with the SAME public ``server.base_url`` (the load balancer's URL), as behind a real
load balancer, so a flow may start on one instance and finish on another. Instances are real subprocesses
(``python -m deputy serve --config …``); Acme CRM runs in a thread of the calling process (so tests can reach its
store and counters) or, for the load benchmark, in a process of its own (so it does not compete with the load
generator for one interpreter).

HAProxy closes the backend connection after each response (``option http-server-close``), so every request is
balanced on its own and consecutive requests alternate between instances; each response carries the instance that
served it in ``X-Deputy-Instance``. Health checks on ``/readyz`` take a dead instance out of rotation, and a request
whose connection to a dead instance is refused is sent to the next one (``retries`` + ``option redispatch``).
A request that an instance died in the middle of is NOT retried: it fails, as it would in production.

Used by tests/multi (fixtures in tests/multi/conftest.py) and by bench/load.py (which puts tests/ on sys.path, as
the other bench scripts do for tests/live.py and tests/headless.py). No pytest imports here.

Every wait is bounded in time; every process started here is killed by ``Cluster.stop``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from deputy.demo.acme import AcmeStats, AcmeStore, create_acme_app, default_settings
from deputy.demo.runner import ACME_TOOLS
from deputy.keys import KeyRing
from live import LOOPBACK, LiveServers, bind_loopback, free_port

__all__ = [
    "INSTANCE_HEADER",
    "Cluster",
    "DeputyProcess",
    "Haproxy",
    "cpu_seconds",
    "haproxy_missing",
    "rss_kib",
    "start_cluster",
    "wait_http",
]

INSTANCE_HEADER = "X-Deputy-Instance"
STARTUP_SECONDS = 60.0  # first start migrates the schema; two instances on two cores
ACME_SECRET_ENV = "DEPUTY_CLUSTER_ACME_SECRET"


def haproxy_missing() -> str | None:
    """Why the cluster cannot run here (None when it can)."""
    return None if shutil.which("haproxy") else "haproxy is not installed (apt-get install haproxy)"


def wait_http(url: str, *, seconds: float = STARTUP_SECONDS, alive: Process | None = None) -> None:
    """Poll ``url`` until it answers 200, at most ``seconds``; stop early if ``alive`` has exited.

    Raises:
        RuntimeError: no 200 in time, or the process died.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with status {alive.poll()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f} s")


class Process(Protocol):
    def poll(self) -> int | None: ...


def rss_kib(pid: int) -> int:
    """Resident set size of a live process, from /proc/PID/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used so far, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 (state) is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kill(proc: subprocess.Popen[bytes], *, graceful: bool) -> None:
    if proc.poll() is not None:
        return
    if graceful:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
            return
    proc.kill()
    proc.wait(timeout=10)


# --- Acme CRM ------------------------------------------------------------------------------------------------


class AcmeThread:
    """Acme CRM served by uvicorn in a thread of this process; its store and counters are reachable."""

    def __init__(self, callback_url: str, secret: str) -> None:
        sock = bind_loopback()
        self.url = f"http://localhost:{sock.getsockname()[1]}"
        self.app = create_acme_app(default_settings(self.url, callback_url, client_secret=secret))
        self._servers = LiveServers([(self.app, sock)])
        self._servers.start()

    @property
    def store(self) -> AcmeStore:
        store: AcmeStore = self.app.state.acme_store
        return store

    @property
    def stats(self) -> AcmeStats:
        stats: AcmeStats = self.app.state.acme_stats
        return stats

    def stop(self) -> None:
        self._servers.stop()


class AcmeProcess:
    """Acme CRM in a process of its own (``python tests/cluster.py acme PORT CALLBACK``); nothing to inspect."""

    def __init__(self, callback_url: str, secret: str, log: Path) -> None:
        port = free_port()
        self.url = f"http://localhost:{port}"
        env = {**os.environ, ACME_SECRET_ENV: secret}
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "acme", str(port), callback_url], env=env, stdout=out, stderr=out
            )
        try:
            wait_http(f"http://{LOOPBACK}:{port}/.well-known/oauth-authorization-server", alive=self.proc)
        except BaseException:
            _kill(self.proc, graceful=False)
            raise

    def stop(self) -> None:
        _kill(self.proc, graceful=True)


# --- Deputy instances --------------------------------------------------------------------------------------------


def instance_config(
    *, base_url: str, port: int, storage_url: str, keys_file: Path, acme_url: str, timeout_seconds: float = 10.0
) -> str:
    """One instance's TOML. Only ``port`` differs between instances; the upstream secret comes from the
    environment (``DEPUTY_UPSTREAM__CLIENT_SECRET``), so ``deputy audit verify --config`` can read the file too."""
    return f"""
default_scopes = ["crm.read", "crm.write"]

[server]
base_url = "{base_url}"
host = "{LOOPBACK}"
port = {port}
shutdown_grace_seconds = 2

[storage]
url = "{storage_url}"

[keys]
file = "{keys_file}"

[registration]
rate_limit_per_hour = 1000000   # every registration comes from 127.0.0.1

[upstream]
name = "Acme CRM"
discovery_url = "{acme_url}/.well-known/oauth-authorization-server"
api_base_url = "{acme_url}/api/v1"
client_id = "deputy-demo"
scopes = ["profile"]
timeout_seconds = {timeout_seconds}

[tools]
catalogue = "{ACME_TOOLS}"

[intents]
enabled = false

[scopes."crm.read"]
description = "Read your contacts, deals and notes"
upstream = ["contacts:read", "deals:read", "notes:read"]

[scopes."crm.write"]
description = "Create and update contacts, deals and notes"
upstream = ["contacts:write", "deals:write", "notes:write"]
"""


@dataclass
class DeputyProcess:
    """One ``deputy serve`` subprocess, its configuration file and its log."""

    name: str
    port: int
    config: Path
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        cmd = [sys.executable, "-m", "deputy", "serve", "--config", str(self.config), "--log-level", "warning"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out)

    def wait_ready(self) -> None:
        wait_http(self.url + "/healthz", alive=self.proc)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no finished requests, as a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            _kill(self.proc, graceful=True)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)


# --- the load balancer ---------------------------------------------------------------------------------------


def haproxy_config(port: int, backends: list[DeputyProcess]) -> str:
    servers = "\n".join(f"  server {b.name} {LOOPBACK}:{b.port} check inter 300ms fall 1 rise 1" for b in backends)
    return f"""
global
  maxconn 4096

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout check 2s
  # a refused connection (dead instance) is retried once per server, on the next one; a request already sent is not
  retries 3
  option redispatch 1
  # one backend connection per request: each request is balanced on its own, so consecutive requests alternate
  option http-server-close

frontend deputy_lb
  bind {LOOPBACK}:{port}
  default_backend deputy

backend deputy
  balance roundrobin
  option httpchk GET /readyz
  http-response set-header {INSTANCE_HEADER} %s
{servers}
"""


class Haproxy:
    """HAProxy in the foreground (``-db``), killed on ``stop``."""

    def __init__(self, config_path: Path, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"
        haproxy = shutil.which("haproxy")
        if haproxy is None:
            raise RuntimeError(haproxy_missing())
        with log.open("wb") as out:
            self.proc = subprocess.Popen([haproxy, "-db", "-f", str(config_path)], stdout=out, stderr=out)
        try:
            wait_http(self.url + "/healthz", seconds=20, alive=self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        _kill(self.proc, graceful=True)


# --- the whole cluster ---------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """What a test or the benchmark talks to: the load balancer, each instance, and Acme CRM."""

    lb: Haproxy
    instances: list[DeputyProcess]
    acme: AcmeThread | AcmeProcess
    data_dir: Path
    storage_url: str
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """The public base URL: the issuer, and the address clients use."""
        return self.lb.url

    @property
    def resource(self) -> str:
        return self.url + "/mcp"

    @property
    def acme_thread(self) -> AcmeThread:
        assert isinstance(self.acme, AcmeThread), "Acme CRM runs in another process in this cluster"
        return self.acme

    def client(self, *, timeout: float = 30) -> httpx.AsyncClient:
        """An HTTP client for the balancer or any instance: it sends the public ``Host``, as the balancer forwards
        it, so a request pinned to an instance looks like one the balancer sent there."""
        return httpx.AsyncClient(timeout=timeout, headers={"host": f"{LOOPBACK}:{self.lb.port}"})

    def audit_verify(self) -> subprocess.CompletedProcess[str]:
        """``deputy audit verify --config`` with the first instance's configuration (they share the database)."""
        cmd = [sys.executable, "-m", "deputy", "audit", "verify", "--config", str(self.instances[0].config)]
        return subprocess.run(cmd, env=self.instances[0].env, capture_output=True, text=True, timeout=120, check=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for stop in (self.lb.stop, *(i.stop for i in self.instances), self.acme.stop):
            with contextlib.suppress(Exception):
                stop()

    def logs(self) -> str:
        """Every instance's log, for a failure message."""
        return "\n".join(f"--- {i.name}\n{i.log.read_text(errors='replace')[-4000:]}" for i in self.instances)


@contextlib.contextmanager
def start_cluster(
    data_dir: Path,
    storage_url: str,
    *,
    instances: int = 2,
    acme_in_process: bool = True,
    upstream_timeout: float = 10.0,
) -> Iterator[Cluster]:
    """Acme CRM, ``instances`` Deputy processes on ``storage_url`` with one key ring, and HAProxy in front.

    Instances start one after the other (the first migrates the schema), each waited for on ``/healthz``.

    Raises:
        RuntimeError: HAProxy is missing, or something did not start in time (everything started is stopped).
    """
    if reason := haproxy_missing():
        raise RuntimeError(reason)
    data_dir.mkdir(parents=True, exist_ok=True)
    lb_port = free_port()
    lb_url = f"http://{LOOPBACK}:{lb_port}"
    secret = secrets.token_urlsafe(24)
    keys_file = data_dir / "keys.json"
    KeyRing.generate(int(time.time())).save(keys_file)
    acme: AcmeThread | AcmeProcess = (
        AcmeThread(lb_url + "/callback", secret)
        if acme_in_process
        else AcmeProcess(lb_url + "/callback", secret, data_dir / "acme.log")
    )
    env = {**os.environ, "DEPUTY_UPSTREAM__CLIENT_SECRET": secret}
    procs: list[DeputyProcess] = []
    lb: Haproxy | None = None
    try:
        for n in range(instances):
            port = free_port()
            config = data_dir / f"deputy-{n}.toml"
            config.write_text(
                instance_config(
                    base_url=lb_url,
                    port=port,
                    storage_url=storage_url,
                    keys_file=keys_file,
                    acme_url=acme.url,
                    timeout_seconds=upstream_timeout,
                ),
                encoding="utf-8",
            )
            proc = DeputyProcess(f"i{n}", port, config, data_dir / f"deputy-{n}.log", env)
            procs.append(proc)
            proc.start()
            proc.wait_ready()
        lb_config = data_dir / "haproxy.cfg"
        lb_config.write_text(haproxy_config(lb_port, procs), encoding="utf-8")
        lb = Haproxy(lb_config, lb_port, data_dir / "haproxy.log")
    except BaseException:
        for p in procs:
            with contextlib.suppress(Exception):
                p.stop()
        acme.stop()
        raise
    cluster = Cluster(lb, procs, acme, data_dir, storage_url)
    try:
        yield cluster
    finally:
        cluster.stop()


def _serve_acme(port: int, callback_url: str) -> None:
    import uvicorn

    url = f"http://localhost:{port}"
    app = create_acme_app(default_settings(url, callback_url, client_secret=os.environ[ACME_SECRET_ENV]))
    uvicorn.run(app, host=LOOPBACK, port=port, log_level="warning", access_log=False, proxy_headers=False)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "acme":
        sys.exit("usage: python tests/cluster.py acme PORT CALLBACK_URL")
    _serve_acme(int(sys.argv[2]), sys.argv[3])
