#!/usr/bin/python3
"""The Helm chart, offline (no helm binary is to be had): rendered with tests/chart/render as
`helm template` renders it, for every values file of tests/chart/values/; the output linted with
yamllint, every object validated with the kubernetes-models npm package, the values with the
chart's values.schema.json (ajv), the alerts with promtool; then what a reviewer checks by hand:
probes, grace period, security context, the secret and config wiring, selectors, the checksum
that rolls pods, bad values refused with a message naming them."""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

import chart_tools as ct
from chart_tools import RELEASE, NAMESPACE

ARGS = None
RENDERER = None
NODE_DIR = None
GOOD = ["defaults", "external-etcd", "tls-secret", "monitoring", "zones-from-node", "etcd-3"]
RENDERED = {}  # label -> chart_tools.Rendered
FULLNAME = RELEASE + "-gridrpc"
HEADLESS = FULLNAME + "-headless"


def documented_flags():
    """The member's flags: the first column of the table in docs/OPERATIONS.md."""
    flags = set()
    with open(os.path.join(ct.SOURCE, "docs", "OPERATIONS.md")) as f:
        for line in f:
            if line.startswith("| `"):
                flags.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    if len(flags) < 20:
        raise AssertionError("found only %s in OPERATIONS.md's table" % sorted(flags))
    return flags


def install_node_packages():
    """npm ci of tests/chart/node/package.json into the build directory, once per lock file."""
    src = os.path.join(ct.SOURCE, "tests", "chart", "node")
    dst = os.path.join(ct.WORK, "node")
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "package-lock.json")) as f:
        lock = f.read()
    stamp = os.path.join(dst, ".installed-lock")
    if os.path.exists(stamp) and open(stamp).read() == lock and \
            os.path.isdir(os.path.join(dst, "node_modules")):
        return dst
    for name in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(src, name), dst)
    result = subprocess.run([ct.which("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                            cwd=dst, capture_output=True, text=True, timeout=240)
    if result.returncode != 0:
        raise RuntimeError("npm ci failed:\n" + result.stdout + result.stderr)
    with open(stamp, "w") as f:
        f.write(lock)
    return dst


def validate(mode, *files):
    return subprocess.run(
        [ct.which("node"), os.path.join(ct.SOURCE, "tests", "chart", "node", "validate.mjs"),
         NODE_DIR, mode, *files], capture_output=True, text=True, timeout=120)


def pod_spec(statefulset):
    return statefulset["spec"]["template"]["spec"]


def containers_of(spec):
    return spec.get("initContainers", []) + spec["containers"]


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


class RenderedChartTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        global RENDERER, NODE_DIR
        RENDERER = ct.build_renderer()
        NODE_DIR = install_node_packages()
        for label in GOOD:
            RENDERED[label] = ct.render(RENDERER, label, [ct.values_file(label + ".yaml")])

    # --- linting and validation ---------------------------------------------------------------

    def test_yamllint_accepts_the_chart_and_every_rendering(self):
        config = os.path.join(ct.SOURCE, "tests", "chart", "yamllint.yaml")
        files = [r.manifests_path for r in RENDERED.values()]
        files += [os.path.join(ct.chart_dir(), n) for n in ("Chart.yaml", "values.yaml")]
        files += [ct.values_file(n) for n in sorted(os.listdir(ct.values_file(""))) if n.endswith(".yaml")]
        result = subprocess.run([ct.which("yamllint"), "--strict", "-c", config, *files],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        # The same config refuses a duplicate key (what a template bug most often makes).
        bad = os.path.join(ct.WORK, "duplicate.yaml")
        with open(bad, "w") as f:
            f.write("---\nmetadata:\n  labels:\n    app: a\n    app: b\n")
        result = subprocess.run([ct.which("yamllint"), "--strict", "-c", config, bad],
                                capture_output=True, text=True)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("duplication of key", result.stdout)

    def test_every_object_is_valid_for_kubernetes_models(self):
        files = [os.path.join(ct.WORK, "out", label + ".json") for label in GOOD]
        result = validate("objects", *files)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        kinds = {o["kind"] for r in RENDERED.values() for o in r.all()}
        self.assertEqual(kinds, {"ConfigMap", "Secret", "Service", "StatefulSet", "ServiceAccount",
                                 "PodDisruptionBudget", "Pod", "ClusterRole",
                                 "ClusterRoleBinding", "ServiceMonitor", "PrometheusRule"})
        # The validator is not a yes-man: a broken StatefulSet and ServiceMonitor are refused.
        sts = json.loads(json.dumps(ct.member_statefulset(RENDERED["defaults"])))
        sts["spec"]["replicas"] = "three"
        del sts["spec"]["selector"]
        monitor = json.loads(json.dumps(RENDERED["monitoring"].all("ServiceMonitor")[0]))
        monitor["spec"]["endpoints"] = "metrics"
        broken = os.path.join(ct.WORK, "broken.json")
        with open(broken, "w") as f:
            json.dump([{"source": "broken", "object": sts}, {"source": "broken", "object": monitor}], f)
        result = validate("objects", broken)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("StatefulSet/" + FULLNAME, result.stdout)
        self.assertIn("replicas", result.stdout)
        self.assertIn("ServiceMonitor/", result.stdout)

    def test_values_files_match_the_schema(self):
        files = [os.path.join(ct.WORK, "out", label + ".values.json") for label in GOOD]
        result = validate("values", os.path.join(ct.chart_dir(), "values.schema.json"), *files)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_values_that_violate_the_schema_are_rejected_naming_the_value(self):
        expected = {
            "unknown-key.yaml": "'replcas'",
            "unknown-config-key.yaml": "'backup_cont'",
            "chart-owned-config-key.yaml": "'listen'",
            "bad-enum.yaml": "/config/on_partition_lost must be equal to one of the allowed values",
            "bad-log-level.yaml": "/config/log_level must be equal to one of the allowed values",
            "bad-coordinator.yaml": "/config/coordinator must be equal to one of the allowed values",
            "bad-type.yaml": "/replicas must be integer",
            "bad-duration.yaml": "/config/membership_timeout must be string",
            "external-etcd-without-endpoints.yaml": "/etcd/external/endpoints must NOT have fewer than 1",
            "bad-etcd-replicas.yaml": "/etcd/replicas must be equal to one of the allowed values",
            "bad-image-tag.yaml": "/image/tag must be string",
        }
        self.assertEqual(sorted(expected), sorted(os.listdir(ct.values_file("bad"))))
        schema = os.path.join(ct.chart_dir(), "values.schema.json")
        for name, message in expected.items():
            with self.subTest(name):
                try:
                    ct.render(RENDERER, "bad", [ct.values_file("bad/" + name)])
                except ct.RenderError:
                    pass  # some are refused by the templates as well; the schema comes first
                result = validate("values", schema, os.path.join(ct.WORK, "out", "bad.values.json"))
                self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
                self.assertIn(message, result.stdout)

    def test_settings_that_cannot_work_together_fail_rendering_with_a_message(self):
        cases = [
            (["terminationGracePeriodSeconds=60"],
             "terminationGracePeriodSeconds (60) must exceed config.membership_timeout + config.shutdown_grace (65s)"),
            (["podDisruptionBudget.maxUnavailable=2"],
             "podDisruptionBudget.maxUnavailable (2) exceeds config.backup_count (1)"),
            (["config.coordinator=embedded"], "config.coordinator embedded runs a member alone"),
            (["tls.enabled=true"], "tls.enabled needs tls.existingSecret"),
            (["etcd.enabled=false"], "etcd.external.endpoints: list the client URLs"),
            (["zone.fixed=a", "zone.fromNode.enabled=true"], "zone.fixed and zone.fromNode.enabled"),
            (["clusterSecret.enabled=false"], "the peer port would admit anyone"),
        ]
        for sets, message in cases:
            with self.subTest(sets):
                with self.assertRaises(ct.RenderError) as caught:
                    ct.render(RENDERER, "refused", sets=sets)
                self.assertIn(message, str(caught.exception))
        # And their valid neighbours render.
        ct.render(RENDERER, "ok", sets=["terminationGracePeriodSeconds=66"])
        ct.render(RENDERER, "ok", sets=["config.coordinator=embedded", "replicas=1"])
        ct.render(RENDERER, "ok", sets=["clusterSecret.enabled=false", "tls.enabled=true",
                                        "tls.existingSecret=t"])

    # --- the member StatefulSet -------------------------------------------------------------

    def test_probes_are_healthz_and_readyz_on_the_metrics_port(self):
        for label, r in RENDERED.items():
            with self.subTest(label):
                c = ct.member_container(ct.member_statefulset(r))
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                self.assertEqual(ports, {"grpc": 5701, "peer": 5702, "metrics": 9090})
                self.assertIn("--metrics_listen=$(POD_IP):9090", c["args"])
                for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                                    ("readinessProbe", "/readyz")):
                    self.assertEqual(c[probe]["httpGet"], {"path": path, "port": "metrics"}, probe)
                # The startup probe leaves a joining member time: at least membership_timeout.
                startup = c["startupProbe"]
                self.assertGreaterEqual(startup["periodSeconds"] * startup["failureThreshold"],
                                        ct.seconds(ct.config_json(r)["membership_timeout"]))

    def test_grace_period_outlasts_a_graceful_leave(self):
        for label, r in RENDERED.items():
            with self.subTest(label):
                config = ct.config_json(r)
                grace = pod_spec(ct.member_statefulset(r))["terminationGracePeriodSeconds"]
                self.assertGreater(grace, ct.seconds(config["membership_timeout"]) +
                                   ct.seconds(config["shutdown_grace"]))
        self.assertEqual(pod_spec(ct.member_statefulset(RENDERED["etcd-3"]))
                         ["terminationGracePeriodSeconds"], 180)
        self.assertEqual(pod_spec(ct.member_statefulset(RENDERED["defaults"]))
                         ["terminationGracePeriodSeconds"], 85)

    def test_every_pod_runs_non_root_read_only_without_capabilities(self):
        for label, r in RENDERED.items():
            specs = [pod_spec(s) for s in r.all("StatefulSet")] + [p["spec"] for p in r.all("Pod")]
            for spec in specs:
                pod = spec["securityContext"]
                self.assertEqual(pod["seccompProfile"], {"type": "RuntimeDefault"})
                self.assertTrue(pod["runAsNonRoot"])
                self.assertEqual(pod["runAsUser"], 10001)
                self.assertFalse(spec["automountServiceAccountToken"])
                for c in containers_of(spec):
                    with self.subTest(label=label, container=c["name"]):
                        sc = c["securityContext"]
                        self.assertTrue(sc["readOnlyRootFilesystem"])
                        self.assertTrue(sc["runAsNonRoot"])
                        self.assertFalse(sc["allowPrivilegeEscalation"])
                        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])

    def test_args_and_config_use_only_documented_flags(self):
        flags = documented_flags()
        for label, r in RENDERED.items():
            with self.subTest(label):
                c = ct.member_container(ct.member_statefulset(r))
                for arg in c["args"]:
                    self.assertRegex(arg, r"^--[a-z_]+=")
                    self.assertIn(arg[2:].split("=")[0], flags)
                self.assertLessEqual(set(ct.config_json(r)), flags)

    def test_config_file_is_mounted_where_the_args_say(self):
        for label, r in RENDERED.items():
            with self.subTest(label):
                sts = ct.member_statefulset(r)
                c = ct.member_container(sts)
                self.assertEqual(c["args"][0], "--config=/etc/gridrpc/config.json")
                files = self.files_of(r, sts, c)
                self.assertIn("/etc/gridrpc/config.json", files)
                config = ct.config_json(r)
                # Every file the config names is in the container, from the right place.
                for key in ("cluster_secret_file", "tls_cert_file", "tls_key_file", "tls_ca_file",
                            "zone_file"):
                    if key in config:
                        self.assertIn(config[key], files, key)

    def files_of(self, r, sts, container):
        """Path in the container -> where it comes from, for the container's mounts."""
        volumes = {v["name"]: v for v in pod_spec(sts)["volumes"]}
        files = {}
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            base = mount["mountPath"]
            if "emptyDir" in volume:
                files[base + "/zone"] = ("emptyDir", mount["name"])
                continue
            sources = volume["projected"]["sources"] if "projected" in volume else [volume]
            for source in sources:
                for kind in ("configMap", "secret"):
                    if kind in source:
                        for item in source[kind]["items"]:
                            files[base + "/" + item["path"]] = (kind, source[kind]["name"], item["key"])
        return files

    def test_the_cluster_secret_is_generated_or_referenced(self):
        r = RENDERED["defaults"]
        sts = ct.member_statefulset(r)
        files = self.files_of(r, sts, ct.member_container(sts))
        kind, name, key = files[ct.config_json(r)["cluster_secret_file"]]
        self.assertEqual(kind, "secret")
        secret = r.one("Secret", name)
        self.assertGreaterEqual(len(base64.b64decode(secret["data"][key]).strip()), 32)

        r = RENDERED["tls-secret"]
        sts = ct.member_statefulset(r)
        files = self.files_of(r, sts, ct.member_container(sts))
        self.assertEqual(files[ct.config_json(r)["cluster_secret_file"]],
                         ("secret", "shop-gridrpc-peers", "secret"))
        self.assertEqual(r.all("Secret"), [])  # the operator's, not ours
        config = ct.config_json(r)
        self.assertEqual(files[config["tls_cert_file"]], ("secret", "shop-gridrpc-tls", "tls.crt"))
        self.assertEqual(files[config["tls_key_file"]], ("secret", "shop-gridrpc-tls", "tls.key"))
        self.assertEqual(files[config["tls_ca_file"]], ("secret", "shop-gridrpc-tls", "ca.crt"))

    def test_the_generated_secret_survives_an_upgrade(self):
        first = ct.render(RENDERER, "install")
        again = ct.render(RENDERER, "reinstall")
        upgrade = ct.render(RENDERER, "upgrade", extra=[
            "--is-upgrade", "--existing=" + os.path.join(ct.WORK, "out", "install.json")])
        data = lambda r: r.one("Secret", FULLNAME + "-cluster-secret")["data"]
        self.assertNotEqual(data(first), data(again))  # random on a first install
        self.assertEqual(data(first), data(upgrade))  # read back from the cluster by lookup

    def test_a_config_change_rolls_the_pods_and_nothing_else_does(self):
        def checksum(label, sets):
            sts = ct.member_statefulset(ct.render(RENDERER, label, sets=sets))
            return sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        base = checksum("base", [])
        self.assertEqual(base, checksum("same", []))
        self.assertEqual(base, checksum("resources", ["resources.limits.memory=2Gi"]))
        self.assertNotEqual(base, checksum("log", ["config.log_level=debug"]))
        self.assertNotEqual(base, checksum("etcd", ["etcd.replicas=3"]))  # etcd_endpoints changed
        self.assertNotEqual(base, checksum("new", ["config.migration_parallelism=4"]))

    def test_members_advertise_names_peers_can_dial(self):
        for label, r in RENDERED.items():
            with self.subTest(label):
                c = ct.member_container(ct.member_statefulset(r))
                host = "$(POD_NAME).%s.$(POD_NAMESPACE).svc.cluster.local" % HEADLESS
                self.assertIn("--advertise=%s:5701" % host, c["args"])
                self.assertIn("--peer_advertise=%s:5702" % host, c["args"])
                env = {e["name"]: e for e in c["env"]}
                self.assertEqual(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")
                self.assertEqual(env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
                                 "metadata.namespace")
                self.assertEqual(env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP")
                for arg in c["args"]:
                    for var in re.findall(r"\$\(([A-Z_]+)\)", arg):
                        self.assertIn(var, env, arg)
        r = ct.render(RENDERER, "podip", sets=["advertise=podIP"])
        c = ct.member_container(ct.member_statefulset(r))
        self.assertIn("--advertise=$(POD_IP):5701", c["args"])

    def test_services_select_the_members(self):
        for label, r in RENDERED.items():
            with self.subTest(label):
                sts = ct.member_statefulset(r)
                labels = sts["spec"]["template"]["metadata"]["labels"]
                self.assertTrue(matches(sts["spec"]["selector"]["matchLabels"], labels))
                client = r.one("Service", FULLNAME)
                self.assertTrue(matches(client["spec"]["selector"], labels))
                self.assertEqual(client["spec"]["ports"],
                                 [{"name": "grpc", "port": 5701, "targetPort": "grpc", "protocol": "TCP"}])
                headless = r.one("Service", HEADLESS)
                self.assertEqual(sts["spec"]["serviceName"], HEADLESS)
                self.assertEqual(headless["spec"]["clusterIP"], "None")
                self.assertTrue(headless["spec"]["publishNotReadyAddresses"])
                self.assertTrue(matches(headless["spec"]["selector"], labels))
                self.assertEqual({p["name"]: p["port"] for p in headless["spec"]["ports"]},
                                 {"grpc": 5701, "peer": 5702, "metrics": 9090})
                pdb = r.one("PodDisruptionBudget", FULLNAME)
                self.assertTrue(matches(pdb["spec"]["selector"]["matchLabels"], labels))
                self.assertLessEqual(pdb["spec"]["maxUnavailable"], ct.config_json(r)["backup_count"])
                self.assertEqual(sts["spec"]["podManagementPolicy"], "Parallel")
                # etcd pods are not members.
                for etcd in r.all("StatefulSet"):
                    if etcd is not sts:
                        self.assertFalse(matches(client["spec"]["selector"],
                                                 etcd["spec"]["template"]["metadata"]["labels"]))
                for o in r.all():
                    if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
                        self.assertEqual(o["metadata"]["namespace"], NAMESPACE, o["kind"])
        self.assertEqual(RENDERED["zones-from-node"].one("PodDisruptionBudget", FULLNAME)
                         ["spec"]["maxUnavailable"], 2)

    def test_members_spread_over_zones_and_hosts(self):
        for label, r in RENDERED.items():
            with self.subTest(label):
                constraints = pod_spec(ct.member_statefulset(r))["topologySpreadConstraints"]
                self.assertEqual([c["topologyKey"] for c in constraints],
                                 ["topology.kubernetes.io/zone", "kubernetes.io/hostname"])
        r = ct.render(RENDERER, "affinity", sets=[
            "nodeSelector.pool=grid", "tolerations[0].key=dedicated",
            "tolerations[0].operator=Exists", "affinity.nodeAffinity.x=1",
            "priorityClassName=high"])
        spec = pod_spec(ct.member_statefulset(r))
        self.assertEqual(spec["nodeSelector"], {"pool": "grid"})
        self.assertEqual(spec["tolerations"], [{"key": "dedicated", "operator": "Exists"}])
        self.assertEqual(spec["affinity"], {"nodeAffinity": {"x": 1}})
        self.assertEqual(spec["priorityClassName"], "high")

    # --- etcd --------------------------------------------------------------------------------

    def test_etcd_endpoints_follow_the_bundled_or_external_etcd(self):
        for label, replicas in (("defaults", 1), ("etcd-3", 3)):
            with self.subTest(label):
                r = RENDERED[label]
                etcd = r.one("StatefulSet", FULLNAME + "-etcd")
                self.assertEqual(etcd["spec"]["replicas"], replicas)
                self.assertEqual(etcd["spec"]["podManagementPolicy"], "Parallel")
                domain = "%s-etcd.%s.svc.cluster.local" % (FULLNAME, NAMESPACE)
                self.assertEqual(ct.config_json(r)["etcd_endpoints"],
                                 ["http://%s-etcd-%d.%s:2379" % (FULLNAME, i, domain)
                                  for i in range(replicas)])
                args = etcd["spec"]["template"]["spec"]["containers"][0]["args"]
                cluster = next(a for a in args if a.startswith("--initial-cluster="))
                self.assertEqual(cluster.count("=http://"), replicas)
                service = r.one("Service", FULLNAME + "-etcd")
                self.assertEqual(etcd["spec"]["serviceName"], service["metadata"]["name"])
                self.assertTrue(service["spec"]["publishNotReadyAddresses"])
                pdbs = [p for p in r.all("PodDisruptionBudget") if p["metadata"]["name"].endswith("-etcd")]
                self.assertEqual([p["spec"]["maxUnavailable"] for p in pdbs], [1] if replicas == 3 else [])
        r = RENDERED["external-etcd"]
        self.assertEqual([s["metadata"]["name"] for s in r.all("StatefulSet")], [FULLNAME])
        self.assertEqual(ct.config_json(r)["etcd_endpoints"],
                         r.values["etcd"]["external"]["endpoints"])
        self.assertEqual(ct.config_json(r)["coordinator"], "etcd")

    # --- zones -------------------------------------------------------------------------------

    def test_the_zone_comes_from_the_node_through_an_init_container(self):
        r = RENDERED["zones-from-node"]
        sts = ct.member_statefulset(r)
        spec = pod_spec(sts)
        (init,) = spec["initContainers"]
        env = {e["name"]: e for e in init["env"]}
        self.assertEqual(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName")
        self.assertEqual(env["ZONE_LABEL"]["value"], r"topology\.kubernetes\.io/zone")
        script = init["command"][-1]
        self.assertIn('kubectl get node "$NODE_NAME"', script)
        zone_file = ct.config_json(r)["zone_file"]
        self.assertIn("> %s" % zone_file, script)
        member = ct.member_container(sts)
        self.assertIn(os.path.dirname(zone_file), [m["mountPath"] for m in member["volumeMounts"]])
        # Only the init container holds an API token.
        token_mounts = [c["name"] for c in containers_of(spec) for m in c["volumeMounts"]
                        if m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"]
        self.assertEqual(token_mounts, ["zone"])
        role = r.all("ClusterRole")[0]
        self.assertEqual(role["rules"], [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}])
        binding = r.all("ClusterRoleBinding")[0]
        self.assertEqual(binding["roleRef"]["name"], role["metadata"]["name"])
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": FULLNAME,
                                                "namespace": NAMESPACE}])
        self.assertEqual(spec["serviceAccountName"], FULLNAME)
        self.assertNotIn("zone", ct.config_json(r))
        # Without it: no init container, no RBAC; a fixed zone goes to the config.
        for label in ("defaults", "etcd-3"):
            self.assertNotIn("initContainers", pod_spec(ct.member_statefulset(RENDERED[label])))
            self.assertEqual(RENDERED[label].all("ClusterRole"), [])
        fixed = ct.render(RENDERER, "fixed-zone", sets=["zone.fixed=eu-west-1a"])
        self.assertEqual(ct.config_json(fixed)["zone"], "eu-west-1a")
        self.assertNotIn("zone_file", ct.config_json(fixed))

    # --- monitoring --------------------------------------------------------------------------

    def test_the_service_monitor_scrapes_every_member(self):
        r = RENDERED["monitoring"]
        (monitor,) = r.all("ServiceMonitor")
        headless = r.one("Service", HEADLESS)
        self.assertTrue(matches(monitor["spec"]["selector"]["matchLabels"], headless["metadata"]["labels"]))
        self.assertFalse(matches(monitor["spec"]["selector"]["matchLabels"],
                                 r.one("Service", FULLNAME)["metadata"]["labels"]))
        self.assertEqual(monitor["spec"]["endpoints"][0]["port"], "metrics")
        self.assertEqual(monitor["metadata"]["labels"]["release"], "prometheus")
        for label in ("defaults", "tls-secret"):
            self.assertEqual(RENDERED[label].all("ServiceMonitor") + RENDERED[label].all("PrometheusRule"), [])

    def test_alerts_fire_on_what_they_watch_and_stay_quiet_otherwise(self):
        r = RENDERED["monitoring"]
        (rule,) = r.all("PrometheusRule")
        rules_file = os.path.join(ct.WORK, "alerts.yaml")
        with open(rules_file, "w") as f:
            json.dump({"groups": rule["spec"]["groups"]}, f)  # JSON is YAML
        promtool = ct.which("promtool")
        result = subprocess.run([promtool, "check", "rules", rules_file], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        rules = {x["alert"]: x for x in rule["spec"]["groups"][0]["rules"]}
        self.assertEqual(set(rules), {
            "GridrpcMemberNotReady", "GridrpcMemberDown", "GridrpcFewerReadyMembers",
            "GridrpcPartitionsLost", "GridrpcMemberFenced", "GridrpcBackupFailuresRising",
            "GridrpcMigrationsFailing", "GridrpcSlowCalls"})
        self.assertIn('namespace="prod"', rules["GridrpcSlowCalls"]["expr"])  # tpl'd

        target = 'job="%s",namespace="%s"' % (HEADLESS, NAMESPACE)

        def series(metric, pod, values):
            return {"series": '%s{%s,pod="%s"}' % (metric, target, pod), "values": values}

        def expected(alert, labels, value=None):
            annotations = {}
            for k, v in rules[alert]["annotations"].items():
                v = v.replace("{{ $labels.pod }}", labels.get("pod", ""))
                annotations[k] = v.replace("{{ $value }}", value if value is not None else "")
            return {"exp_labels": dict(labels, severity=rules[alert]["labels"]["severity"]),
                    "exp_annotations": annotations}

        member = lambda pod: {"job": HEADLESS, "namespace": NAMESPACE, "pod": pod}
        healthy = [series("gridrpc_ready", "m%d" % i, "1x40") for i in range(3)] + \
                  [series("up", "m%d" % i, "1x40") for i in range(3)] + \
                  [series("gridrpc_lost_partitions", "m%d" % i, "0x40") for i in range(3)] + \
                  [series("gridrpc_member_fenced", "m%d" % i, "0x40") for i in range(3)] + \
                  [series("gridrpc_backup_failures_total", "m%d" % i, "7x40") for i in range(3)] + \
                  [series("gridrpc_replica_migrations_failed_total", "m%d" % i, "2x40") for i in range(3)]
        quiet = [{"eval_time": "30m", "alertname": a, "exp_alerts": []} for a in rules if a != "GridrpcSlowCalls"]
        troubled = [
            series("gridrpc_ready", "m0", "1x40"), series("gridrpc_ready", "m1", "1x40"),
            series("gridrpc_ready", "m2", "0x40"),
            series("up", "m0", "1x40"), series("up", "m1", "0x40"), series("up", "m2", "1x40"),
            series("gridrpc_lost_partitions", "m0", "0 0 0 4x40"),
            series("gridrpc_member_fenced", "m1", "0 0 1x40"),
            series("gridrpc_backup_failures_total", "m0", "0+3x40"),
            series("gridrpc_replica_migrations_failed_total", "m2", "0x10 1x30"),
        ]
        firing = [
            {"eval_time": "30m", "alertname": "GridrpcMemberNotReady",
             "exp_alerts": [expected("GridrpcMemberNotReady", member("m2"))]},
            {"eval_time": "30m", "alertname": "GridrpcMemberDown",
             "exp_alerts": [expected("GridrpcMemberDown", member("m1"))]},
            {"eval_time": "30m", "alertname": "GridrpcFewerReadyMembers",
             "exp_alerts": [expected("GridrpcFewerReadyMembers", {}, "2")]},
            {"eval_time": "30m", "alertname": "GridrpcPartitionsLost",
             "exp_alerts": [expected("GridrpcPartitionsLost", {}, "4")]},
            {"eval_time": "30m", "alertname": "GridrpcMemberFenced",
             "exp_alerts": [expected("GridrpcMemberFenced", member("m1"))]},
            {"eval_time": "30m", "alertname": "GridrpcBackupFailuresRising",
             "exp_alerts": [expected("GridrpcBackupFailuresRising", {"pod": "m0"})]},
            {"eval_time": "15m", "alertname": "GridrpcMigrationsFailing",
             "exp_alerts": [expected("GridrpcMigrationsFailing", {"pod": "m2"})]},
            # Fifteen minutes after the last failed migration, it is over.
            {"eval_time": "35m", "alertname": "GridrpcMigrationsFailing", "exp_alerts": []},
        ]
        tests_file = os.path.join(ct.WORK, "alerts_test.yaml")
        with open(tests_file, "w") as f:
            json.dump({"rule_files": [rules_file], "evaluation_interval": "1m", "tests": [
                {"interval": "1m", "input_series": healthy, "alert_rule_test": quiet},
                {"interval": "1m", "input_series": troubled, "alert_rule_test": firing},
            ]}, f)
        result = subprocess.run([promtool, "test", "rules", tests_file], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    # --- NOTES and the test hook -------------------------------------------------------------

    def test_notes_say_how_to_reach_the_cluster(self):
        notes = RENDERED["defaults"].notes
        self.assertIn("%s.%s.svc.cluster.local:5701" % (FULLNAME, NAMESPACE), notes)
        self.assertIn("gridrpc-cli --target=", notes)
        self.assertIn("helm test %s" % RELEASE, notes)
        self.assertNotIn("WARNING", notes)
        self.assertIn("monitoring.coreos.com/v1", RENDERED["monitoring"].notes)  # no such API here
        with_api = ct.render(RENDERER, "monitoring-api", [ct.values_file("monitoring.yaml")],
                             extra=["--api-versions=monitoring.coreos.com/v1"])
        self.assertNotIn("WARNING", with_api.notes)
        self.assertIn("--tls_ca_file=", RENDERED["tls-secret"].notes)

    def test_the_helm_test_pod_checks_health_through_the_client_service(self):
        for label, r in RENDERED.items():
            with self.subTest(label):
                (pod,) = r.all("Pod")
                self.assertEqual(pod["metadata"]["annotations"]["helm.sh/hook"], "test")
                (c,) = pod["spec"]["containers"]
                self.assertEqual(c["command"], ["/usr/local/bin/gridrpc-cli"])
                self.assertEqual(c["image"], ct.member_container(ct.member_statefulset(r))["image"])
                self.assertEqual(c["args"][0], "--target=%s.%s.svc.cluster.local:5701" % (FULLNAME, NAMESPACE))
                self.assertEqual(c["args"][-1], "health")
                self.assertEqual(pod["spec"]["restartPolicy"], "Never")
        (pod,) = RENDERED["tls-secret"].all("Pod")
        self.assertIn("--tls_ca_file=/etc/gridrpc/tls/ca.crt", pod["spec"]["containers"][0]["args"])
        self.assertEqual(ct.render(RENDERER, "no-tests", sets=["tests.enabled=false"]).all("Pod"), [])

    def test_the_image_is_the_one_dev_image_builds(self):
        c = ct.member_container(ct.member_statefulset(RENDERED["defaults"]))
        self.assertEqual(c["image"], "localhost/gridrpc:dev")
        self.assertNotIn("command", c)  # the image's entrypoint, gridrpc-member
        r = ct.render(RENDERER, "image", sets=["image.repository=registry.example/gridrpc",
                                               "image.tag=1.2.3", "image.pullPolicy=Always",
                                               "image.pullSecrets={regcred}"])
        spec = pod_spec(ct.member_statefulset(r))
        self.assertEqual(spec["containers"][0]["image"], "registry.example/gridrpc:1.2.3")
        self.assertEqual(spec["containers"][0]["imagePullPolicy"], "Always")
        self.assertEqual(spec["imagePullSecrets"], [{"name": "regcred"}])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--work", required=True)
    ARGS, rest = parser.parse_known_args()
    ct.setup(ARGS.source, ARGS.work)
    unittest.main(argv=[sys.argv[0]] + rest)
