#!/usr/bin/python3
"""The chart's StatefulSet, run on this machine: three gridrpc-member processes started with
exactly the command line, environment, config file and secret that the rendered StatefulSet
gives pods shop-gridrpc-0..2, against an etcd this test starts (the external-etcd values).

What Kubernetes would provide is simulated, and nothing else changes: the downward API
(POD_NAME, POD_NAMESPACE, POD_IP = 127.0.0.1..3, so the same ports serve all three members),
$(VAR) expansion as the kubelet does it, the volumes (the rendered ConfigMap's and Secret's files
written under a temporary directory, whose path is put before each mount path: the only
rewrite), and cluster DNS: the pods' names under the headless service resolve through a private
/etc/hosts in a mount namespace of this test's own (unshare; the host's /etc/hosts is untouched).
Ports are free ones, given to the chart as values (ports.grpc, ports.peer, ports.metrics).

Checks: every member reports ready on /readyz and alive on /healthz; the partition table of each
lists the three at the addresses the StatefulSet makes them advertise (gridrpc-cli members when
the CLI is built, else Cluster/GetPartitionTable from Python); a stock Python grpcio client calls
examples.Counter/Inc and Get through the client port; members stopped one by one with SIGTERM
leave gracefully (exit 0) within the rendered terminationGracePeriodSeconds, keeping the data."""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import chart_tools as ct
from chart_tools import RELEASE, NAMESPACE

ARGS = None
MEMBERS = 3
IN_NAMESPACE_ENV = "GRIDRPC_CHART_TEST_IN_MOUNT_NAMESPACE"


def free_port_on_all(hosts):
    """A TCP port free on every one of `hosts` (bounded tries)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        ok = True
        for host in hosts:
            with socket.socket() as s:
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no port free on all of %s" % hosts)


def expand(text, env):
    """The kubelet's $(VAR) expansion: defined variables are replaced, $$ escapes, the rest stays."""
    def replace(m):
        if m.group(0).startswith("$$"):
            return m.group(0)[1:]
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", replace, text)


def pod_environment(container, pod_name, pod_ip):
    """The container's environment as the kubelet builds it, downward API simulated."""
    field_values = {"metadata.name": pod_name, "metadata.namespace": NAMESPACE,
                    "status.podIP": pod_ip}
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
        elif "fieldRef" in item.get("valueFrom", {}):
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            if path not in field_values:
                raise AssertionError("the test does not simulate fieldRef %s" % path)
            env[item["name"]] = field_values[path]
        else:
            raise AssertionError("the test does not simulate env %s" % item)
    return env


class Pod:
    """One simulated pod: its files under `root`, its process."""

    def __init__(self, rendered, statefulset, index, root):
        self.name = "%s-gridrpc-%d" % (RELEASE, index)
        self.ip = "127.0.0.%d" % (index + 1)
        self.root = root
        spec = statefulset["spec"]["template"]["spec"]
        self.grace = spec["terminationGracePeriodSeconds"]
        self.container = ct.member_container(statefulset)
        self.env = pod_environment(self.container, self.name, self.ip)
        volumes = {v["name"]: v for v in spec["volumes"]}
        # Longest first, so that a nested mount is rewritten before its parent.
        self.mounts = sorted((m["mountPath"] for m in self.container["volumeMounts"]), key=len,
                             reverse=True)
        for mount in self.container["volumeMounts"]:
            self.write_volume(rendered, volumes[mount["name"]], mount["mountPath"])
        self.args = [self.rewrite(expand(a, self.env)) for a in self.container["args"]]
        self.process = None

    def rewrite(self, text):
        for mount in self.mounts:
            text = re.sub(r"(?<![\w/])" + re.escape(mount) + r"(?=/|$|[\s\"',])", self.root + mount, text)
        return text

    def write_volume(self, rendered, volume, mount_path):
        target = self.root + mount_path
        os.makedirs(target, exist_ok=True)
        if "emptyDir" in volume:
            return
        sources = volume["projected"]["sources"] if "projected" in volume else [volume]
        mode = volume.get("projected", {}).get("defaultMode", 0o644)
        for source in sources:
            if "configMap" in source:
                data = rendered.one("ConfigMap", source["configMap"]["name"])["data"]
                files = {i["path"]: self.rewrite(data[i["key"]]).encode() for i in source["configMap"]["items"]}
            elif "secret" in source:
                data = rendered.one("Secret", source["secret"]["name"])["data"]
                files = {i["path"]: base64.b64decode(data[i["key"]]) for i in source["secret"]["items"]}
            else:
                raise AssertionError("the test does not simulate volume source %s" % source)
            for path, content in files.items():
                full = os.path.join(target, path)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "wb") as f:
                    f.write(content)
                os.chmod(full, mode)

    def start(self, member):
        env = dict(self.env)
        for name in ("PATH", "LD_LIBRARY_PATH", "ASAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"):
            if name in os.environ:
                env[name] = os.environ[name]
        self.log = open(os.path.join(self.root, "member.log"), "w")
        # The image's entrypoint is gridrpc-member; the StatefulSet gives it no command.
        if "command" in self.container:
            raise AssertionError("the member container overrides the image's entrypoint")
        self.process = subprocess.Popen([member] + self.args, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def port(self, name):
        return next(p["containerPort"] for p in self.container["ports"] if p["name"] == name)

    def http(self, path):
        url = "http://%s:%d%s" % (self.ip, self.port("metrics"), path)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return None, str(e)

    def output(self):
        with open(os.path.join(self.root, "member.log")) as f:
            return f.read()


def start_etcd(work):
    client, peer = free_port_on_all(["127.0.0.1"]), free_port_on_all(["127.0.0.1"])
    data = os.path.join(work, "etcd")
    shutil.rmtree(data, ignore_errors=True)
    log = open(os.path.join(work, "etcd.log"), "w")
    process = subprocess.Popen(
        ["/usr/bin/etcd", "--name=n1", "--data-dir=" + data,
         "--listen-client-urls=http://127.0.0.1:%d" % client,
         "--advertise-client-urls=http://127.0.0.1:%d" % client,
         "--listen-peer-urls=http://127.0.0.1:%d" % peer,
         "--initial-advertise-peer-urls=http://127.0.0.1:%d" % peer,
         "--initial-cluster=n1=http://127.0.0.1:%d" % peer], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % client, timeout=2) as r:
                if b"true" in r.read():
                    return process, "http://127.0.0.1:%d" % client
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("etcd did not become healthy")


def wait_for(what, condition, timeout):
    """Polls `condition` (returns a truthy value or a reason) until true or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = condition()
        if ok:
            return last
        time.sleep(0.25)
    raise AssertionError("%s: not within %ds; last: %s" % (what, timeout, last))


class LocalRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = os.path.abspath(ARGS.work)
        cls.dns = os.environ.get(IN_NAMESPACE_ENV) == "1"
        cls.etcd, endpoint = start_etcd(cls.work)
        cls.pods = []
        try:
            ips = ["127.0.0.%d" % (i + 1) for i in range(MEMBERS)]
            ports = []
            for _ in range(3):
                port = free_port_on_all(ips)
                while port in ports:
                    port = free_port_on_all(ips)
                ports.append(port)
            sets = ["etcd.external.endpoints={%s}" % endpoint, "ports.grpc=%d" % ports[0],
                    "ports.peer=%d" % ports[1], "ports.metrics=%d" % ports[2]]
            if not cls.dns:
                sets.append("advertise=podIP")
            renderer = ct.build_renderer()
            cls.rendered = ct.render(renderer, "local-run", [ct.values_file("external-etcd.yaml")], sets)
            statefulset = ct.member_statefulset(cls.rendered)
            assert statefulset["spec"]["replicas"] >= MEMBERS
            root = tempfile.mkdtemp(prefix="pods-", dir=cls.work)
            cls.pods = [Pod(cls.rendered, statefulset, i, os.path.join(root, "pod-%d" % i))
                        for i in range(MEMBERS)]
            for pod in cls.pods:
                pod.start(ARGS.member)
            cls.load_stubs()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def load_stubs(cls):
        global grpc, counter_pb2, counter_pb2_grpc, cluster_pb2
        sys.path.insert(0, ARGS.stubs)
        import grpc
        from examples import counter_pb2, counter_pb2_grpc
        out = os.path.join(cls.work, "python")
        os.makedirs(out, exist_ok=True)
        subprocess.run(["protoc", "-I" + os.path.join(ct.SOURCE, "proto"), "--python_out=" + out,
                        "gridrpc/cluster.proto"], check=True)
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "cluster_pb2", os.path.join(out, "gridrpc", "cluster_pb2.py"))
        cluster_pb2 = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cluster_pb2)

    @classmethod
    def tearDownClass(cls):
        for pod in cls.pods:
            if pod.process and pod.process.poll() is None:
                pod.process.kill()
                pod.process.wait()
            if pod.process:
                pod.log.close()
        cls.etcd.kill()
        cls.etcd.wait()

    def advertised(self, pod, port_name):
        host = pod.ip if not self.dns else "%s.%s-gridrpc-headless.%s.svc.cluster.local" % (
            pod.name, RELEASE, NAMESPACE)
        return "%s:%d" % (host, pod.port(port_name))

    def client_target(self, pod):
        return "%s:%d" % (pod.ip, pod.port("grpc"))

    def table(self, pod):
        with grpc.insecure_channel(self.client_target(pod)) as channel:
            call = channel.unary_unary(
                "/gridrpc.v1.Cluster/GetPartitionTable",
                request_serializer=cluster_pb2.GetPartitionTableRequest.SerializeToString,
                response_deserializer=cluster_pb2.PartitionTable.FromString)
            return call(cluster_pb2.GetPartitionTableRequest(), timeout=5)

    def assert_running(self):
        for pod in self.pods:
            if pod.process.poll() is not None:
                self.fail("%s exited with %d:\n%s" % (pod.name, pod.process.returncode, pod.output()))

    def wait_ready(self):
        def all_ready():
            self.assert_running()
            answers = {pod.name: pod.http("/readyz") for pod in self.pods}
            return all(status == 200 for status, _ in answers.values()), answers
        wait_for("every member ready on /readyz", all_ready, 90)

    def test_a_the_members_form_a_cluster_and_get_ready(self):
        self.wait_ready()
        for pod in self.pods:
            self.assertEqual(pod.http("/healthz")[0], 200, pod.name)

        expected = sorted((self.advertised(p, "grpc"), self.advertised(p, "peer")) for p in self.pods)

        def tables_agree():
            try:
                tables = [self.table(pod) for pod in self.pods]
            except grpc.RpcError as e:
                return False, str(e)
            members = [sorted((m.address, m.peer_address) for m in t.members) for t in tables]
            return all(m == expected for m in members) and len({t.version for t in tables}) == 1, members
        wait_for("every member's table lists the three", tables_agree, 60)
        table = self.table(self.pods[0])
        self.assertEqual(table.cluster_name, "%s-gridrpc" % RELEASE)
        self.assertEqual(table.partition_count, 271)
        owners = {p.members[0] for p in table.partitions}
        self.assertEqual(owners, {0, 1, 2})  # each member is primary of some partitions

        cli = os.path.join(os.path.dirname(ARGS.member), "gridrpc-cli")
        if os.path.exists(cli):
            result = subprocess.run([cli, "--target=" + self.client_target(self.pods[1]), "members",
                                     "--output=json"], capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout.count(self.advertised(self.pods[2], "grpc")), 1, result.stdout)
        else:
            print("gridrpc-cli not built: the table was checked with Python", file=sys.stderr)

    def test_b_a_plain_grpc_client_calls_through_the_client_port(self):
        self.wait_ready()
        total = 0
        for i, pod in enumerate(self.pods):
            with grpc.insecure_channel(self.client_target(pod)) as channel:
                stub = counter_pb2_grpc.CounterStub(channel)
                total += i + 1
                reply = stub.Inc(counter_pb2.IncRequest(name="chart", amount=i + 1), timeout=10)
                self.assertEqual(reply.value, total)
        for pod in self.pods:
            with grpc.insecure_channel(self.client_target(pod)) as channel:
                stub = counter_pb2_grpc.CounterStub(channel)
                self.assertEqual(stub.Get(counter_pb2.GetRequest(name="chart"), timeout=10).value, 6)

    def test_c_members_leave_gracefully_within_the_grace_period(self):
        self.wait_ready()
        with grpc.insecure_channel(self.client_target(self.pods[0])) as channel:
            stub = counter_pb2_grpc.CounterStub(channel)
            before = stub.Inc(counter_pb2.IncRequest(name="leave", amount=5), timeout=10).value
        for pod in reversed(self.pods[1:]):
            pod.process.send_signal(signal.SIGTERM)
            try:
                code = pod.process.wait(timeout=pod.grace)
            except subprocess.TimeoutExpired:
                self.fail("%s did not leave within terminationGracePeriodSeconds (%ds):\n%s" % (
                    pod.name, pod.grace, pod.output()))
            self.assertEqual(code, 0, pod.output())
            with grpc.insecure_channel(self.client_target(self.pods[0])) as channel:
                stub = counter_pb2_grpc.CounterStub(channel)
                self.assertEqual(stub.Get(counter_pb2.GetRequest(name="leave"), timeout=20).value, before)


def enter_mount_namespace(work):
    """Re-runs this test in a private mount namespace whose /etc/hosts names the pods, as the
    cluster's DNS would. False if that is not possible here (not root)."""
    if os.environ.get(IN_NAMESPACE_ENV) == "1":
        hosts = os.path.join(work, "hosts")
        with open("/etc/hosts") as f:
            text = f.read()
        text += "\n# The pods' names under the headless service, as cluster DNS gives them.\n"
        for i in range(MEMBERS):
            text += "127.0.0.%d %s-gridrpc-%d.%s-gridrpc-headless.%s.svc.cluster.local\n" % (
                i + 1, RELEASE, i, RELEASE, NAMESPACE)
        with open(hosts, "w") as f:
            f.write(text)
        subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
        return True
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    env = dict(os.environ, **{IN_NAMESPACE_ENV: "1"})
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable,
                           os.path.abspath(__file__)] + sys.argv[1:], env)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--member", required=True, help="the gridrpc-member binary")
    parser.add_argument("--stubs", required=True, help="Python stubs of the example contracts")
    ARGS, rest = parser.parse_known_args()
    ct.setup(ARGS.source, ARGS.work)
    if not enter_mount_namespace(ct.WORK):
        print("not root: members advertise pod IPs (advertise: podIP), the DNS names are not "
              "exercised", file=sys.stderr)
    unittest.main(argv=[sys.argv[0]] + rest)
