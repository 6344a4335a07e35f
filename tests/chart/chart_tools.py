"""What both chart tests need: the offline renderer, built into the build directory, and the
chart rendered with it as `helm template` would."""
import json
import os
import shutil
import subprocess

SOURCE = None  # the repository root
WORK = None  # this test's directory in the build tree
RELEASE = "shop"
NAMESPACE = "prod"


def setup(source, work):
    global SOURCE, WORK
    SOURCE, WORK = os.path.abspath(source), os.path.abspath(work)
    os.makedirs(WORK, exist_ok=True)


def chart_dir():
    return os.path.join(SOURCE, "charts", "gridrpc")


def values_file(name):
    return os.path.join(SOURCE, "tests", "chart", "values", name)


def build_renderer():
    """go build of tests/chart/render, GOPATH mode over Debian's Go packages."""
    out = os.path.join(WORK, "render")
    env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off",
               GOCACHE=os.path.join(WORK, "gocache"), GOFLAGS="")
    result = subprocess.run(
        ["go", "build", "-o", out, "."], cwd=os.path.join(SOURCE, "tests", "chart", "render"),
        env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("building the renderer failed:\n" + result.stderr)
    return out


class Rendered:
    """One rendering: the objects, the coalesced values, NOTES.txt."""

    def __init__(self, objects, values, notes, manifests_path):
        self.objects = objects  # [{"source": template, "object": {...}}]
        self.values = values
        self.notes = notes
        self.manifests_path = manifests_path

    def all(self, kind=None):
        return [o["object"] for o in self.objects if kind is None or o["object"]["kind"] == kind]

    def one(self, kind, name):
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        if len(found) != 1:
            raise AssertionError("%d %s named %s among %s" % (
                len(found), kind, name, [(o["kind"], o["metadata"]["name"]) for o in self.all()]))
        return found[0]


class RenderError(Exception):
    pass


def render(renderer, label, value_files=(), sets=(), extra=(), release=RELEASE,
           namespace=NAMESPACE):
    """Renders the chart; RenderError with the renderer's message if it refuses."""
    out = os.path.join(WORK, "out")
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, label)
    cmd = [renderer, "--chart=" + chart_dir(), "--name=" + release, "--namespace=" + namespace,
           "--strict", "--out=" + base + ".yaml", "--json-out=" + base + ".json",
           "--values-out=" + base + ".values.json", "--notes-out=" + base + ".notes"]
    for f in value_files:
        cmd += ["-f", f]
    for s in sets:
        cmd += ["--set", s]
    cmd += list(extra)
    for suffix in (".json", ".notes"):
        if os.path.exists(base + suffix):
            os.remove(base + suffix)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    with open(base + ".json") as f:
        objects = json.load(f)
    with open(base + ".values.json") as f:
        values = json.load(f)
    with open(base + ".notes") as f:
        notes = f.read()
    return Rendered(objects, values, notes, base + ".yaml")


def member_statefulset(rendered, release=RELEASE):
    return rendered.one("StatefulSet", release + "-gridrpc")


def member_container(statefulset):
    containers = statefulset["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "member")


def config_json(rendered, release=RELEASE):
    return json.loads(rendered.one("ConfigMap", release + "-gridrpc-config")["data"]["config.json"])


def seconds(duration):
    """A duration of the member's syntax in seconds."""
    import re
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"([0-9.]+)(ns|us|ms|s|m|h)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError("not a duration: %r" % duration)
    return sum(float(n) * scale[u] for n, u in parts)


def which(program):
    path = shutil.which(program)
    if not path:
        raise RuntimeError("%s is not installed (./dev setup installs it)" % program)
    return path
