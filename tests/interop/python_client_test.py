#!/usr/bin/python3
"""A plain Python gRPC client (Debian's python3-grpcio), with no gridrpc code, calls a
gridrpc-member process: routed calls, bad input, health checking and server reflection; then a
member with TLS on both ports and mutual TLS on its peer port, with certificates openssl makes
at test time."""
import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

ARGS = None


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, ARGS.stubs)
        global grpc, counter_pb2, counter_pb2_grpc, search_service_pb2, search_service_pb2_grpc
        global health_pb2, reflection_pb2
        import grpc
        from examples import counter_pb2, counter_pb2_grpc
        from examples import search_service_pb2, search_service_pb2_grpc
        generated = os.path.join(ARGS.stubs, "grpc_proto", "grpc")
        health_pb2 = load_module(
            "health_pb2", os.path.join(generated, "health", "v1", "health_pb2.py"))
        reflection_pb2 = load_module(
            "reflection_pb2", os.path.join(generated, "reflection", "v1alpha", "reflection_pb2.py"))

        cls.member = subprocess.Popen(
            [ARGS.member, "--listen=127.0.0.1:0"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        lines = []
        match = None
        while not match and len(lines) < 20:  # its log lines come first
            lines.append(cls.member.stdout.readline())
            match = re.search(r"listening on (\S+)", lines[-1])
        if not match:
            cls.member.kill()
            raise RuntimeError("gridrpc-member did not start: %r" % lines)
        cls.channel = grpc.insecure_channel(match.group(1))
        grpc.channel_ready_future(cls.channel).result(timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.member.send_signal(signal.SIGTERM)
        out, _ = cls.member.communicate(timeout=30)
        assert cls.member.returncode == 0, "member exited with %d" % cls.member.returncode
        assert "event=member_stopping" in out and "signal=SIGTERM" in out, out

    def test_counter_calls_are_routed_by_the_member(self):
        stub = counter_pb2_grpc.CounterStub(self.channel)
        self.assertEqual(stub.Inc(counter_pb2.IncRequest(name="py", amount=2), timeout=10).value, 2)
        self.assertEqual(stub.Inc(counter_pb2.IncRequest(name="py", amount=3), timeout=10).value, 5)
        self.assertEqual(stub.Get(counter_pb2.GetRequest(name="py"), timeout=10).value, 5)

    def test_bad_input_gets_a_precise_status_and_changes_nothing(self):
        stub = counter_pb2_grpc.CounterStub(self.channel)
        stub.Inc(counter_pb2.IncRequest(name="py-bad", amount=1), timeout=10)
        with self.assertRaises(grpc.RpcError) as caught:
            stub.Inc(counter_pb2.IncRequest(name="py-bad", amount=1), timeout=10,
                     metadata=(("gridrpc-partition", "abc"),))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("'abc' is not a partition id", caught.exception.details())

        search = search_service_pb2_grpc.SearchServiceStub(self.channel)
        with self.assertRaises(grpc.RpcError) as caught:
            search.Index(search_service_pb2.IndexRequest(), timeout=10)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("'document'", caught.exception.details())

        raw = self.channel.unary_unary("/examples.Counter/Inc")
        with self.assertRaises(grpc.RpcError) as caught:
            raw(b"\xff\xff\xff", timeout=10)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

        missing = self.channel.unary_unary("/examples.Counter/Reset")
        with self.assertRaises(grpc.RpcError) as caught:
            missing(b"", timeout=10)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

        self.assertEqual(stub.Get(counter_pb2.GetRequest(name="py-bad"), timeout=10).value, 1)

    def test_health_check_reports_serving(self):
        check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        response = check(health_pb2.HealthCheckRequest(), timeout=10)
        self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING)

    def test_reflection_lists_the_user_services(self):
        info = self.channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        responses = info(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
        names = {s.name for r in responses for s in r.list_services_response.service}
        for expected in ("examples.Counter", "examples.DataProcessor", "examples.SimpleService",
                         "examples.SearchService", "gridrpc.v1.Cluster"):
            self.assertIn(expected, names)
        self.assertNotIn("gridrpc.v1.Peer", names)  # not on the client port

    def test_peer_methods_are_not_served_to_clients(self):
        for method in ("Backup", "Sync", "BeginMigration", "CopyReplica",
                       "InstallPartitionTable", "ReportMigration"):
            call = self.channel.unary_unary("/gridrpc.v1.Peer/" + method)
            with self.assertRaises(grpc.RpcError) as caught:
                call(b"", timeout=10)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNIMPLEMENTED, method)


def openssl(*args, cwd):
    subprocess.run(["/usr/bin/openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory):
    """A CA and a member certificate it signed, for 127.0.0.1 and localhost."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=gridrpc python test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=directory)
    with open(os.path.join(directory, "member.ext"), "w") as ext:
        ext.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                  "extendedKeyUsage=serverAuth,clientAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=gridrpc python test member",
            "-keyout", "member.key", "-out", "member.csr", cwd=directory)
    openssl("x509", "-req", "-in", "member.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "member.ext", "-out", "member.pem",
            cwd=directory)


def read(directory, name):
    with open(os.path.join(directory, name), "rb") as f:
        return f.read()


class TlsMemberTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gridrpc-py-tls-")
        make_certificates(cls.dir)
        cls.member = subprocess.Popen(
            [ARGS.member, "--listen=127.0.0.1:0",
             "--tls_cert_file=" + os.path.join(cls.dir, "member.pem"),
             "--tls_key_file=" + os.path.join(cls.dir, "member.key"),
             "--tls_ca_file=" + os.path.join(cls.dir, "ca.pem")],
            stdout=subprocess.PIPE, text=True)
        line = cls.member.stdout.readline()
        match = re.search(r"\(peer port ([^,)]+)[^)]*\): listening on (\S+)", line)
        if not match:
            cls.member.kill()
            raise RuntimeError("gridrpc-member did not start: %r" % line)
        cls.peer_address, cls.address = match.group(1), match.group(2)
        cls.ca = read(cls.dir, "ca.pem")

    @classmethod
    def tearDownClass(cls):
        cls.member.send_signal(signal.SIGTERM)
        cls.member.communicate(timeout=30)
        shutil.rmtree(cls.dir)

    def test_clients_call_over_tls(self):
        with grpc.secure_channel(self.address, grpc.ssl_channel_credentials(self.ca)) as channel:
            stub = counter_pb2_grpc.CounterStub(channel)
            self.assertEqual(stub.Inc(counter_pb2.IncRequest(name="tls", amount=4), timeout=10).value, 4)

    def test_plaintext_clients_reach_nothing(self):
        with grpc.insecure_channel(self.address) as channel:
            stub = counter_pb2_grpc.CounterStub(channel)
            with self.assertRaises(grpc.RpcError) as caught:
                stub.Get(counter_pb2.GetRequest(name="tls"), timeout=5)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_the_peer_port_admits_certificates_of_the_ca_only(self):
        anonymous = grpc.ssl_channel_credentials(self.ca)
        with grpc.secure_channel(self.peer_address, anonymous) as channel:
            install = channel.unary_unary("/gridrpc.v1.Peer/InstallPartitionTable")
            with self.assertRaises(grpc.RpcError) as caught:
                install(b"", timeout=10)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        member = grpc.ssl_channel_credentials(self.ca, read(self.dir, "member.key"),
                                               read(self.dir, "member.pem"))
        with grpc.secure_channel(self.peer_address, member) as channel:
            install = channel.unary_unary("/gridrpc.v1.Peer/InstallPartitionTable")
            with self.assertRaises(grpc.RpcError) as caught:
                install(b"", timeout=10)  # admitted; an empty table is then refused
            self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--member", required=True)
    parser.add_argument("--stubs", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
