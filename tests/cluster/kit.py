"""Test kit for fmlpipe's Ray backend (draft; intended to become tests/ray_kit.py).

Starts throw-away Ray clusters that live entirely on 127.0.0.1, pins work to nodes through
custom resources, checks that nothing listens beyond loopback, and guarantees teardown
(no stray Ray processes, no files left in /tmp/ray or ~/.ray).

Written against ray 2.60.0 (minimal `ray`, no extras) on Linux, Python 3.11.

Why each setting (details in notes/ray.md):

* ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: on Linux, Ray rewrites 127.0.0.1/localhost to the
  host's outbound IP (``services.resolve_ip_for_localhost``), both for the node IP and for
  ``ray.init(address="127.0.0.1:…")``. With this flag off, ``get_node_ip_address()`` returns
  127.0.0.1, so GCS, raylet, object manager, core workers and the runtime-env agent bind
  *and* advertise 127.0.0.1. ``_node_ip_address="127.0.0.1"`` alone is NOT enough (it is
  rewritten too). The flag is read by ``ray._private.ray_constants`` at import time, so it
  must be in the environment before ``import ray``; :func:`apply_test_env` also patches the
  constant when ray was imported first. Side effect: ``ray start --address=…`` (a CLI
  worker node) refuses to start; use :func:`loopback_cluster` (``ray.cluster_utils.Cluster``)
  for multi-node tests.
* ``RAY_AUTH_MODE=token`` + ``RAY_AUTH_TOKEN``: Ray 2.60 enables token auth by default and
  writes ``~/.ray/auth_token``. We set the mode explicitly and pass a random per-process
  token in the environment, so nothing is written under ``~/.ray``. (``disabled`` works too.)
* ``RAY_USAGE_STATS_ENABLED=0``: no usage reporting.
* ``RAY_TMPDIR``: a private, short directory per cluster (Ray's unix-socket paths must stay
  under ~107 bytes, so do not use pytest's long ``tmp_path``). It isolates session dirs and
  the ``ray_current_cluster`` file from other Ray users and marks our processes (env var,
  argv or open log files under it) so teardown can find exactly the processes we started,
  and a later session can reap those of a test run that was killed before its teardown.
* Subprocesses (e.g. the fmlpipe CLI under test with ``--address c.address``) inherit this
  environment, token included, so they can connect.
* ``RAY_ADDRESS`` is removed: if set, ``ray.init()`` would connect elsewhere.
* The dashboard: with minimal ``ray`` a head-only "API server" process still starts (it has
  no HTTP listener); ``include_dashboard=False`` keeps it that way even if aiohttp_cors etc.
  get installed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import psutil

# One token per test process: the C++ token loader caches it, so changing it between
# clusters in the same driver process would break later connections.
_TOKEN = secrets.token_hex(32)

RAY_TEST_ENV: dict[str, str] = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep 127.0.0.1 as the node IP (bind + advertise)
    "RAY_AUTH_MODE": "token",  # explicit; never generate ~/.ray/auth_token
    "RAY_AUTH_TOKEN": _TOKEN,
    "RAY_USAGE_STATS_ENABLED": "0",
    # Bound a driver's connection attempt (Ray's default: 20 tries x ~41 s each, ~14 min).
    # One try costs ~ 2 x rpc_connect + py_gcs_connect + 1 s.
    # Python-side tries (~1 s apart; default 20), and also how long a starting head waits for its
    # GCS to publish its port (default 30 s): at 1 a local start once timed out on a 2-core machine.
    "RAY_gcs_server_port_wait_time_s": "10",
    "RAY_py_gcs_connect_timeout_s": "5",  # per-try cluster-id wait (default 30)
    "RAY_gcs_rpc_server_connect_timeout_s": "2",  # gRPC channel connect wait (default 5)
}
RAY_UNSET_ENV = ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")

# Faster node-failure detection, opt-in for node-crash tests. Ray's defaults (period 3000 ms,
# threshold 5, timeout 10000 ms) declare a SIGKILLed raylet's node dead after ~14-15 s;
# period/timeout 500 ms, threshold 3 measured ~3.7 s. Kept moderate here (~5 s), since on a
# loaded 2-core CI machine a raylet that is merely slow must not be declared dead.
# Passed as the head's _system_config (worker nodes fetch it from the GCS).
FAST_FAILURE_CONFIG: dict[str, Any] = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 4,
}


def apply_test_env(tmpdir: str | None = None) -> dict[str, str | None]:
    """Put RAY_TEST_ENV (and RAY_TMPDIR) into os.environ; return the previous values.

    Works whether or not ray is already imported (re-reads Ray's C++ config and patches the
    import-time constant)."""
    previous: dict[str, str | None] = {}
    updates = dict(RAY_TEST_ENV)
    if tmpdir is not None:
        updates["RAY_TMPDIR"] = tmpdir
    for key, value in updates.items():
        previous[key] = os.environ.get(key)
        os.environ[key] = value
    for key in RAY_UNSET_ENV:
        previous[key] = os.environ.pop(key, None)
    if "ray" in sys.modules:
        _refresh_imported_ray()
    return previous


def restore_env(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if "ray" in sys.modules:
        from ray._private import ray_constants
        from ray._raylet import Config

        ray_constants.ENABLE_RAY_CLUSTER = ray_constants.env_bool(
            ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, not ray_constants.IS_WINDOWS_OR_OSX
        )
        Config.initialize("")


def _refresh_imported_ray() -> None:
    from ray._private import ray_constants
    from ray._raylet import Config

    ray_constants.ENABLE_RAY_CLUSTER = False  # read at call time by services.get_node_ip_address
    Config.initialize("")  # re-read RAY_* config (auth mode, timeouts) from the environment


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 (dual-stack gRPC sockets)
    return (mapped or ip).is_loopback


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0]


# ---------------------------------------------------------------------------------------------
# Processes started by a kit session. Markers (any one): RAY_TMPDIR=<our dir> in the process
# environment (inherited by every Ray process, but setproctitle can clobber it, as seen for
# ray::DashboardAgent / ray::RuntimeEnvAgent), our dir in argv, or an open file (log) under
# our dir; plus every descendant of a marked process.


def _marked(proc: psutil.Process, tmpdir: str) -> bool:
    try:
        if tmpdir in " ".join(proc.cmdline()):
            return True
        if proc.environ().get("RAY_TMPDIR", "").startswith(tmpdir):
            return True
        return any(f.path.startswith(tmpdir) for f in proc.open_files())
    except (psutil.Error, OSError):
        return False


def session_processes(tmpdir: str) -> list[psutil.Process]:
    """Live (non-zombie) processes of the kit session whose private dir is tmpdir."""
    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if _marked(proc, tmpdir):
            found[proc.pid] = proc
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    found.setdefault(child.pid, child)
    return [p for p in found.values() if p.pid != me and _alive(p)]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_session_processes(tmpdir: str, grace_s: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process of this kit session; return the pids signalled."""
    procs = session_processes(tmpdir)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return [p.pid for p in procs]


def wait_no_session_processes(tmpdir: str, timeout_s: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while True:
        left = session_processes(tmpdir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# Loopback checks


def listening_sockets(pids) -> list[tuple]:
    """(ip, port, pid, name) for TCP listeners and bound UDP sockets of the given pids."""
    rows = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            conns = proc.net_connections(kind="inet")
            name = proc.name()
        except psutil.Error:
            continue
        for c in conns:
            if c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and c.laddr):
                rows.append((c.laddr.ip, c.laddr.port, pid, name))
    return rows


def assert_loopback_only(tmpdir: str | None = None) -> None:
    """Assert every node Ray reports and every listening socket of the session is loopback.

    Needs a connected driver (ray.is_initialized()). With tmpdir (a kit cluster), checks the
    processes of that session; without, every process whose name or argv looks like Ray.
    Also checks that the ray processes' established TCP peers are loopback."""
    import ray

    assert ray.is_initialized(), "connect a driver first"
    problems = []
    gcs = ray.get_runtime_context().gcs_address
    if not is_loopback(_host(gcs)):
        problems.append(f"GCS address {gcs}")
    for node in ray.nodes():  # NodeManagerHostname is the machine's hostname, not checked
        if not is_loopback(node["NodeManagerAddress"]):
            problems.append(f"node {node['NodeID'][:8]} NodeManagerAddress={node['NodeManagerAddress']}")
        for key in node.get("Resources", {}):  # the implicit "node:<ip>" resource
            if key.startswith("node:") and key != "node:__internal_head__" and not is_loopback(key[5:]):
                problems.append(f"node {node['NodeID'][:8]} resource {key}")
    if tmpdir is not None:
        pids = {p.pid for p in session_processes(tmpdir)}
    else:
        pids = {
            p.pid
            for p in psutil.process_iter(["name", "cmdline"])
            if (p.info["name"] or "").startswith(("ray::", "raylet", "gcs_server"))
            or "site-packages/ray/" in " ".join(p.info["cmdline"] or [])
        }
    pids.add(os.getpid())  # the driver's core worker listens too
    for ip, port, pid, name in listening_sockets(pids):
        if not is_loopback(ip):
            problems.append(f"{name}[{pid}] listens on {ip}:{port}")
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for c in psutil.Process(pid).net_connections(kind="inet"):
                if c.raddr and not is_loopback(c.raddr.ip):
                    problems.append(f"pid {pid} connected to {c.raddr.ip}:{c.raddr.port}")
    assert not problems, "Ray is not loopback-only:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------------------------------------
# Clusters


class LoopbackCluster(NamedTuple):
    address: str  # "127.0.0.1:<gcs port>", for ray.init(address=...) / RAY_ADDRESS / the CLI
    cluster: Any  # ray.cluster_utils.Cluster
    node_ids: list[str]  # node_ids[i] carries resource {"node{i}": 1}; index 0 is the head
    node_resources: list[dict[str, float]]  # [{"node0": 1}, {"node1": 1}, ...] for .options(resources=)
    tmpdir: str

    def node(self, i: int):
        """The ray._private.node.Node for index i (for remove_node / crash_node)."""
        for n in self.cluster.list_all_nodes():
            if n.node_id == self.node_ids[i]:
                return n
        raise KeyError(i)

    def remove_node(self, i: int, graceful: bool = True) -> None:
        """Stop node i the orderly way (SIGTERM; its raylet tells the GCS): calls on its actors
        raise ActorDiedError within ~0.1 s."""
        self.cluster.remove_node(self.node(i), allow_graceful=graceful)

    def crash_node(self, i: int) -> list[int]:
        """Simulate a machine crash: SIGKILL node i's raylet and every process under it (its
        actor/task workers, agents), without telling the GCS. Measured with Ray's default
        health checks: the in-flight call on an actor there raises ActorUnavailableError after
        ~1.5-2.5 s, later calls raise ActorUnavailableError too until the GCS declares the node
        dead (~14 s; faster with fast_failure_detection), then ActorDiedError. Catch
        ray.exceptions.RayActorError (the base of both).

        Killing only the raylet (``kill -9 <raylet pid>``) can leave its worker processes
        running as orphans (seen once: a ray::Shard outlived its raylet by minutes), so the
        whole tree goes. Returns the pids killed."""
        from ray._private import ray_constants

        node = self.node(i)
        raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process
        try:
            tree = psutil.Process(raylet.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        killed = [raylet.pid]
        os.kill(raylet.pid, signal.SIGKILL)
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.kill()
                killed.append(proc.pid)
        raylet.wait(timeout=10)  # the raylet is our child (Cluster runs nodes in-process): reap it
        psutil.wait_procs(tree, timeout=10)
        return killed


KIT_PREFIX = "/tmp/fmlr-"


def _owner_alive(tmpdir: str) -> bool:
    try:
        with open(os.path.join(tmpdir, "owner")) as f:
            pid, started = f.read().split()
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 1e-3
    except FileNotFoundError:  # just created by a live session, owner file not yet written?
        with contextlib.suppress(OSError):
            return time.time() - os.path.getmtime(tmpdir) < 60
        return False
    except (OSError, ValueError, psutil.Error):
        return False


def reap_stale_kit_processes() -> list[int]:
    """Clean up after kit sessions whose owner (the test process) died without teardown, e.g.
    when a test run was SIGKILLed or SIGTERMed while blocked in ray.get: stop their processes
    and remove their dirs. Sessions whose owner is alive (parallel pytest workers) are left
    alone. Returns the pids signalled."""
    import glob

    pids: list[int] = []
    for tmpdir in glob.glob(KIT_PREFIX + "*"):
        if os.path.isdir(tmpdir) and not _owner_alive(tmpdir):
            pids += stop_session_processes(tmpdir, grace_s=2.0)
            shutil.rmtree(tmpdir, ignore_errors=True)
    return pids


@contextlib.contextmanager
def ray_session_env() -> Iterator[str]:
    """Private RAY_TMPDIR + test env for the duration; cleans up processes and files after."""
    reap_stale_kit_processes()
    tmpdir = tempfile.mkdtemp(prefix=os.path.basename(KIT_PREFIX), dir=os.path.dirname(KIT_PREFIX))
    me = psutil.Process()
    with open(os.path.join(tmpdir, "owner"), "w") as f:
        f.write(f"{me.pid} {me.create_time()}")
    previous = apply_test_env(tmpdir)
    try:
        yield tmpdir
    finally:
        try:
            stop_session_processes(tmpdir)
        finally:
            restore_env(previous)
            shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def loopback_cluster(
    nodes: int = 3,
    cpus_per_node: int = 1,
    *,
    head_cpus: int | None = None,
    connect: bool = True,
    fast_failure_detection: bool = False,
    object_store_mb: int = 100,
    system_config: dict[str, Any] | None = None,
) -> Iterator[LoopbackCluster]:
    """A Ray cluster of `nodes` nodes (head + nodes-1 workers) on 127.0.0.1 only.

    Node i has num_cpus=cpus_per_node (head: head_cpus if given) and the custom resource
    {"node{i}": 1}, so `Actor.options(resources=c.node_resources[i])` pins an actor to it.
    With connect=True the driver is connected (ray.init) for the body. Teardown always runs:
    ray.shutdown(), cluster.shutdown(), then any leftover process of this session is
    terminated/killed and the private temp dir removed. Takes ~5 s for the head plus ~2 s per
    extra node on a 2-core machine."""
    assert nodes >= 1
    with ray_session_env() as tmpdir:
        import ray
        from ray.cluster_utils import Cluster

        config = dict(FAST_FAILURE_CONFIG) if fast_failure_detection else {}
        config.update(system_config or {})
        common = dict(node_ip_address="127.0.0.1", object_store_memory=object_store_mb * 2**20)
        cluster = None
        try:
            cluster = Cluster(
                initialize_head=True,
                shutdown_at_exit=True,
                head_node_args=dict(
                    common,
                    num_cpus=cpus_per_node if head_cpus is None else head_cpus,
                    resources={"node0": 1},
                    include_dashboard=False,
                    temp_dir=os.path.join(tmpdir, "ray"),
                    _system_config=config or None,
                ),
            )
            node_objs = [cluster.head_node]
            for i in range(1, nodes):
                node_objs.append(
                    cluster.add_node(num_cpus=cpus_per_node, resources={f"node{i}": 1}, **common)
                )
            cluster.wait_for_nodes()
            handle = LoopbackCluster(
                address=cluster.address,
                cluster=cluster,
                node_ids=[n.node_id for n in node_objs],
                node_resources=[{f"node{i}": 1} for i in range(nodes)],
                tmpdir=tmpdir,
            )
            assert is_loopback(_host(handle.address)), handle.address
            if connect:
                ray.init(address=handle.address, log_to_driver=False, logging_level="WARNING")
            yield handle
        finally:
            with contextlib.suppress(Exception):
                ray.shutdown()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.shutdown()
            # ray_session_env() then kills anything left and removes tmpdir.


@contextlib.contextmanager
def local_ray(num_cpus: int = 2, **init_kwargs) -> Iterator[dict[str, Any]]:
    """A single-node `ray.init(address="local")` on 127.0.0.1 only; yields the address info.

    address="local" matters: plain ray.init() connects to whatever /tmp/ray/ray_current_cluster
    (or RAY_ADDRESS) names, even a dead cluster."""
    with ray_session_env() as tmpdir:
        import ray

        kwargs = dict(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",
            _temp_dir=os.path.join(tmpdir, "ray"),
        )
        kwargs.update(init_kwargs)
        ctx = ray.init(**kwargs)
        try:
            yield dict(ctx.address_info, tmpdir=tmpdir)
        finally:
            ray.shutdown()


def assert_no_stray_ray_processes(tmpdir: str, timeout_s: float = 10.0) -> None:
    left = wait_no_session_processes(tmpdir, timeout_s)
    assert not left, f"stray ray processes: {[(p.pid, p.name()) for p in left]}"


# ---------------------------------------------------------------------------------------------
# pytest glue (copy into tests/conftest.py when adopting)
#
# import pytest
# from ray_kit import loopback_cluster, local_ray
#
# ray = pytest.importorskip("ray")          # the Ray backend is an optional extra
#
# @pytest.fixture(scope="module")
# def ray_cluster3():
#     with loopback_cluster(nodes=3, cpus_per_node=1) as c:
#         yield c
#
# Mark Ray tests (e.g. @pytest.mark.ray) and keep them module/session scoped: each cluster
# start costs ~5-9 s on a 2-core machine.
