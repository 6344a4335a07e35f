#!/usr/bin/python3
"""Three gridrpc-member containers of the image (`./dev image`) form one cluster through a real
etcd: read-only root, user 10001, no capabilities, the cluster secret bind-mounted read-only. They
report ready on /readyz, and the image's gridrpc-cli lists them; a stock Python grpcio client
calls the counter through them; one member stopped with `podman stop` leaves gracefully (exit 0)
and the other two still serve what was written.

Skipped (exit 77) inside a podman container, where podman cannot start containers."""
import argparse
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

ARGS = None
SKIP = 77
USER = 10001


def free_ports(count):
    """`count` distinct 127.0.0.1 ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def podman(*args, check=True, timeout=120):
    command = ["podman", *args]
    if os.geteuid() != 0:
        command = ["sudo", "-n", "env", "CONTAINERS_CONF=" + os.environ["CONTAINERS_CONF"],
                   *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError("%s: exit %d\n%s" % (" ".join(command), result.returncode,
                                                  result.stderr))
    return result


def wait_until(what, condition, timeout, pause=0.2):
    """Calls condition() until it returns something true, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(pause)


class Etcd:
    """A single-member etcd (/usr/bin/etcd) on free 127.0.0.1 ports, its data in `directory`."""

    def __init__(self, directory):
        client, peer = free_ports(2)
        self.endpoint = "http://127.0.0.1:%d" % client
        peer_url = "http://127.0.0.1:%d" % peer
        self.log = open(os.path.join(directory, "etcd.log"), "w")
        self.process = subprocess.Popen(
            ["/usr/bin/etcd", "--name", "n1", "--data-dir", os.path.join(directory, "etcd"),
             "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", "n1=" + peer_url],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until("etcd at " + self.endpoint, self.healthy, 20)

    def healthy(self):
        if self.process.poll() is not None:
            raise AssertionError("etcd exited with %d" % self.process.returncode)
        try:
            with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as response:
                return b'"true"' in response.read()
        except OSError:
            return False

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class ImageTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gridrpc-image-test-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.etcd = Etcd(self.dir)
        self.addCleanup(self.etcd.stop)
        self.containers = []
        self.addCleanup(self.remove_containers)  # runs first: logs taken while etcd is up
        # The secret is the container user's and no one else's, as Kubernetes' fsGroup would
        # make a mounted Secret.
        self.secret = os.path.join(self.dir, "cluster-secret")
        with open(self.secret, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        os.chown(self.secret, USER, USER)
        os.chmod(self.secret, 0o400)

    def remove_containers(self):
        for name in self.containers:
            if self._outcome_failed():
                sys.stderr.write("--- podman logs %s\n%s" % (name, self.logs(name)))
            podman("rm", "--force", "--time=0", name, check=False)

    def _outcome_failed(self):
        result = getattr(self._outcome, "result", None)
        return result is None or not result.wasSuccessful()

    def logs(self, name):
        result = podman("logs", name, check=False)
        return result.stdout + result.stderr

    def start_member(self, index):
        """Starts member `index` in a container; its name, client and metrics addresses."""
        listen, peer, metrics = free_ports(3)
        name = "gridrpc-image-test-%d-%d" % (os.getpid(), index)
        self.containers.append(name)
        podman("run", "--detach", "--name", name, "--network=host", "--read-only",
               "--user", str(USER), "--cap-drop=ALL",
               "--volume", self.secret + ":/run/secrets/gridrpc/cluster-secret:ro",
               ARGS.image,
               "--coordinator=etcd", "--etcd_endpoints=" + self.etcd.endpoint,
               "--cluster_name=image-test", "--lease_ttl=2s",
               "--listen=127.0.0.1:%d" % listen, "--peer_listen=127.0.0.1:%d" % peer,
               "--metrics_listen=127.0.0.1:%d" % metrics,
               "--cluster_secret_file=/run/secrets/gridrpc/cluster-secret")
        return name, "127.0.0.1:%d" % listen, "127.0.0.1:%d" % metrics

    def cli(self, *args):
        """gridrpc-cli from the image, as confined as the members; its standard output."""
        result = podman("run", "--rm", "--network=host", "--read-only", "--user", str(USER),
                        "--cap-drop=ALL", "--entrypoint=/usr/local/bin/gridrpc-cli", ARGS.image,
                        *args, check=False)
        self.assertEqual(result.returncode, 0, "gridrpc-cli %s: %s" % (args, result.stderr))
        return result.stdout

    @staticmethod
    def http_get(url):
        """The status and body of a GET, errors included; (0, reason) when nothing answers."""
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return 0, str(e)

    def wait_ready(self, name, metrics):
        def ready():
            state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if state != "running":
                raise AssertionError("container %s is %s:\n%s" % (name, state, self.logs(name)))
            return self.http_get("http://%s/readyz" % metrics)[0] == 200
        try:
            wait_until(name + " to be ready", ready, 90)
        except AssertionError:
            status, body = self.http_get("http://%s/readyz" % metrics)
            raise AssertionError("%s: /readyz answers %d: %s" % (name, status, body))

    def serving(self, channel):
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        return check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING

    def table(self, channel):
        stub = cluster_pb2_grpc.ClusterStub(channel)
        return stub.GetPartitionTable(cluster_pb2.GetPartitionTableRequest(), timeout=5)

    def formed(self, channels, addresses):
        """Every member holds the same table, listing exactly `addresses`, every partition with
        its primary and its backup."""
        try:
            tables = [self.table(c) for c in channels]
        except grpc.RpcError:
            return False
        first = tables[0]
        return (all(t.version == first.version for t in tables)
                and sorted(m.address for m in first.members) == sorted(addresses)
                and len(first.partitions) == first.partition_count
                and all(len(p.members) == min(2, len(addresses)) for p in first.partitions))

    def call(self, method, request, retry_unavailable):
        """Calls, trying again (bounded) while the member says UNAVAILABLE and either the call did
        not run (the gridrpc-wrong-owner trailer) or it is a read."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return method(request, timeout=10)
            except grpc.RpcError as e:
                trailers = dict(e.trailing_metadata() or ())
                retry = e.code() == grpc.StatusCode.UNAVAILABLE and (
                    retry_unavailable or "gridrpc-wrong-owner" in trailers)
                if not retry or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def test_three_members_from_the_image_form_a_cluster_and_one_leaves_gracefully(self):
        names, addresses, metrics = [], [], []
        for i in range(3):
            name, address, metrics_address = self.start_member(i)
            names.append(name)
            addresses.append(address)
            metrics.append(metrics_address)
        for name, address, metrics_address in zip(names, addresses, metrics):
            self.wait_ready(name, metrics_address)
            self.assertEqual(self.http_get("http://%s/healthz" % metrics_address)[0], 200)
        channels = [grpc.insecure_channel(a) for a in addresses]
        for c in channels:
            self.addCleanup(c.close)
        for c in channels:
            grpc.channel_ready_future(c).result(timeout=30)
            self.assertTrue(self.serving(c))
        wait_until("the cluster of three to form",
                   lambda: self.formed(channels, addresses), 60)

        # The image's gridrpc-cli (the chart's `helm test` runs it) sees the same cluster.
        members = self.cli("--target=" + addresses[1], "members")
        for address in addresses:
            self.assertIn("address       " + address, members)
        self.assertEqual(self.cli("--target=" + addresses[2], "health").strip(), "SERVING")

        # Every member takes writes for any key: it runs or forwards them.
        keys = ["image-%d" % k for k in range(12)]
        for k, key in enumerate(keys):
            stub = counter_pb2_grpc.CounterStub(channels[k % 3])
            inc = counter_pb2.IncRequest(name=key, amount=k + 1)
            self.assertEqual(self.call(stub.Inc, inc, False).value, k + 1)
            self.assertEqual(self.call(stub.Inc, inc, False).value, 2 * (k + 1))
        for c in channels:
            stub = counter_pb2_grpc.CounterStub(c)
            for k, key in enumerate(keys):
                get = counter_pb2.GetRequest(name=key)
                self.assertEqual(self.call(stub.Get, get, True).value, 2 * (k + 1), key)

        # SIGTERM: the member hands its replicas over and exits 0.
        podman("stop", "--time=60", names[0], timeout=90)
        exit_code = podman("inspect", "--format", "{{.State.ExitCode}}", names[0]).stdout.strip()
        logs = self.logs(names[0])
        self.assertEqual(exit_code, "0", logs)
        self.assertRegex(logs, r"event=member_stopping .*signal=SIGTERM")

        wait_until("the two others to take over",
                   lambda: self.formed(channels[1:], addresses[1:]), 60)
        for name, metrics_address in zip(names[1:], metrics[1:]):
            self.wait_ready(name, metrics_address)
        for c in channels[1:]:
            self.assertTrue(self.serving(c))
            stub = counter_pb2_grpc.CounterStub(c)
            for k, key in enumerate(keys):
                get = counter_pb2.GetRequest(name=key)
                self.assertEqual(self.call(stub.Get, get, True).value, 2 * (k + 1), key)
        for name in names[1:]:
            state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            self.assertEqual(state, "running", self.logs(name))


def load_stubs(directory):
    import importlib.util
    sys.path.insert(0, directory)
    global grpc, counter_pb2, counter_pb2_grpc, cluster_pb2, cluster_pb2_grpc, health_pb2
    import grpc
    from examples import counter_pb2, counter_pb2_grpc
    from gridrpc import cluster_pb2, cluster_pb2_grpc
    # grpcio's own `grpc` package hides a generated grpc/ tree: load by file path.
    path = os.path.join(directory, "grpc_proto", "grpc", "health", "v1", "health_pb2.py")
    spec = importlib.util.spec_from_file_location("health_pb2", path)
    health_pb2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(health_pb2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dev", required=True, help="the ./dev script that builds the image")
    parser.add_argument("--stubs", required=True, help="the generated Python stubs")
    parser.add_argument("--image", default="",
                        help="an image already built (default: build localhost/gridrpc:dev)")
    ARGS, rest = parser.parse_known_args()
    # podman marks its containers so; the nested podman it would take is not set up there. (This
    # machine has a /.dockerenv of its own, and podman works on it.)
    if os.path.exists("/run/.containerenv"):
        print("image test skipped: inside a podman container, which cannot start containers")
        sys.exit(SKIP)
    root = os.path.dirname(os.path.abspath(ARGS.dev))
    os.environ.setdefault("CONTAINERS_CONF", os.path.join(root, ".cache", "containers.conf"))
    if not ARGS.image:
        ARGS.image = os.environ.get("GRIDRPC_IMAGE", "localhost/gridrpc:dev")
        built = subprocess.run([ARGS.dev, "image"], timeout=1500)
        if built.returncode != 0:
            sys.exit("./dev image failed with exit %d" % built.returncode)
    load_stubs(ARGS.stubs)
    unittest.main(argv=[sys.argv[0]] + rest)
