#!/usr/bin/env python3
"""Checks the deployment files against each other and against the binary.

  check_deploy.py --repo ROOT --synod PATH

- deploy/k8s/*.yaml parse (yaml.safe_load_all) and hang together: the kinds
  are there, the StatefulSet runs 3 replicas under a headless Service, the
  probes hit /ready and /health on the metrics port synod is told to use,
  the PodDisruptionBudget and Services select the pods, every flag passed to
  synod exists in `synod --help`, and the entrypoint turns ordinals into ids
  (run with a stand-in for synod).
- deploy/prometheus/alerts.yml parses, each rule is complete, and every
  metric it names is one synod defines; with promtool installed, the rules
  pass `promtool check rules` and fire as tests/deploy/alerts_test.yml
  expects.
- deploy/systemd/synod.service passes `systemd-analyze verify` (skipped if
  that is not installed) and only uses flags synod has and variables
  synod.env sets.

Exits 1 with one line per problem, 0 when all is well.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

problems = []


def check(cond, msg):
    if not cond:
        problems.append(msg)
    return cond


def synod_flags(synod):
    out = subprocess.run([synod, "--help"], capture_output=True, text=True, timeout=30)
    flags = set(re.findall(r"--([a-z_][a-z0-9_]*)", out.stdout + out.stderr))
    if not flags:
        sys.exit("no flags found in `%s --help`" % synod)
    return flags


def flags_in(words):
    return {m.group(1) for w in words for m in [re.match(r"--([a-z_][a-z0-9_]*)", w)] if m}


def load_k8s(repo):
    docs = []
    files = sorted(glob.glob(os.path.join(repo, "deploy/k8s/*.yaml")))
    check(files, "no deploy/k8s/*.yaml")
    for f in files:
        with open(f) as fh:
            for d in yaml.safe_load_all(fh):
                if d is None:
                    continue
                check(isinstance(d, dict) and "kind" in d and "apiVersion" in d,
                      "%s: a document without kind/apiVersion" % f)
                check(d.get("metadata", {}).get("name"), "%s: a %s without a name" % (f, d.get("kind")))
                docs.append(d)
    return docs


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_k8s(repo, flags):
    docs = load_k8s(repo)
    kinds = {d["kind"] for d in docs}
    for kind in ("StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap"):
        check(kind in kinds, "k8s: no %s" % kind)
    sets = of_kind(docs, "StatefulSet")
    if not check(len(sets) == 1, "k8s: expected one StatefulSet, found %d" % len(sets)):
        return
    sts = sets[0]
    spec = sts["spec"]
    pod = spec["template"]
    labels = pod["metadata"]["labels"]
    check(spec.get("replicas") == 3, "k8s: StatefulSet replicas is %r, not 3" % spec.get("replicas"))
    check(selects(spec["selector"]["matchLabels"], labels),
          "k8s: StatefulSet selector does not match its pod labels")
    check(spec.get("podManagementPolicy") == "Parallel",
          "k8s: founding pods must start in parallel (none is ready before a majority runs)")

    services = {s["metadata"]["name"]: s for s in of_kind(docs, "Service")}
    headless = services.get(spec.get("serviceName"))
    if check(headless is not None, "k8s: serviceName %r names no Service" % spec.get("serviceName")):
        check(headless["spec"].get("clusterIP") == "None",
              "k8s: Service %s (serviceName) is not headless" % spec["serviceName"])
        check(headless["spec"].get("publishNotReadyAddresses") is True,
              "k8s: the headless Service must publish pods before they are ready")
    clients = [s for n, s in services.items() if s["spec"].get("clusterIP") != "None"]
    check(clients, "k8s: no client Service")
    for s in services.values():
        check(selects(s["spec"].get("selector"), labels),
              "k8s: Service %s does not select the pods" % s["metadata"]["name"])

    pdbs = of_kind(docs, "PodDisruptionBudget")
    for p in pdbs:
        check(p["spec"].get("maxUnavailable") == 1, "k8s: PDB maxUnavailable is not 1")
        check(selects(p["spec"]["selector"].get("matchLabels"), labels),
              "k8s: PDB selector does not match the pod labels")

    containers = pod["spec"]["containers"]
    if not check(len(containers) == 1, "k8s: expected one container"):
        return
    c = containers[0]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check("metrics" in ports, "k8s: no container port named metrics")
    args = c.get("args", [])
    metrics_args = [a for a in args if a.startswith("--metrics_addr=")]
    if check(len(metrics_args) == 1, "k8s: synod gets no --metrics_addr"):
        port = int(metrics_args[0].rsplit(":", 1)[1])
        check(ports.get("metrics") == port,
              "k8s: metrics port %s is not --metrics_addr's %d" % (ports.get("metrics"), port))
    for a in args:
        if a.startswith("--client_addr="):
            check(ports.get("client") == int(a.rsplit(":", 1)[1]),
                  "k8s: client port differs from --client_addr")

    def probe_ok(name, path):
        probe = c.get(name)
        if not check(probe and "httpGet" in probe, "k8s: no HTTP %s" % name):
            return
        get = probe["httpGet"]
        check(get.get("path") == path, "k8s: %s asks %r, not %s" % (name, get.get("path"), path))
        port = get.get("port")
        check(port == "metrics" or port == ports.get("metrics"),
              "k8s: %s port %r is not the metrics port" % (name, port))

    probe_ok("readinessProbe", "/ready")
    probe_ok("livenessProbe", "/health")

    res = c.get("resources", {})
    check(res.get("requests") and res.get("limits"), "k8s: resource requests and limits needed")
    templates = spec.get("volumeClaimTemplates", [])
    check(templates, "k8s: no volumeClaimTemplates")
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    for t in templates:
        name = t["metadata"]["name"]
        check(name in mounts, "k8s: claim %s is not mounted" % name)
    data_dirs = [a.split("=", 1)[1] for a in args if a.startswith("--data_dir=")]
    check(data_dirs and any(data_dirs[0].startswith(mounts.get(t["metadata"]["name"], "//"))
                            for t in templates),
          "k8s: --data_dir is not on a persistent volume")

    # The entrypoint: flags it adds, and what it computes for each ordinal.
    maps = {m["metadata"]["name"]: m for m in of_kind(docs, "ConfigMap")}
    script = None
    for v in pod["spec"].get("volumes", []):
        if "configMap" in v:
            script = maps.get(v["configMap"]["name"], {}).get("data", {}).get("entrypoint.sh")
    if not check(script, "k8s: no entrypoint.sh in a mounted ConfigMap"):
        return
    for flag in sorted(flags_in(args) | set(re.findall(r"--([a-z_]+)=", script))):
        check(flag in flags, "k8s: synod has no flag --%s" % flag)
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "configMapKeyRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["configMapKeyRef"]
            env[e["name"]] = maps[ref["name"]]["data"][ref["key"]]
        elif "fieldRef" in e.get("valueFrom", {}):
            env[e["name"]] = "ns1"
    check_entrypoint(script, env, args, int(env.get("FOUNDING_MEMBERS", "0")))


def check_entrypoint(script, env, args, founding):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "entrypoint.sh")
        with open(path, "w") as f:
            f.write(script)
        # Stand-ins: every name resolves; "synod" prints its arguments.
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        with open(os.path.join(bindir, "getent"), "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        fake = os.path.join(bindir, "synod")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
        for p in ("getent", "synod"):
            os.chmod(os.path.join(bindir, p), 0o755)
        domain = "%s.ns1.svc.%s" % (env.get("PEER_SERVICE"), env.get("CLUSTER_DOMAIN"))
        for ordinal in range(founding + 2):
            e = dict(os.environ, **env, HOSTNAME="synod-%d" % ordinal, SYNOD_BINARY=fake,
                     PATH=bindir + ":" + os.environ["PATH"])
            out = subprocess.run(["sh", path] + args, env=e, capture_output=True, text=True,
                                 timeout=30)
            if not check(out.returncode == 0,
                         "entrypoint synod-%d: exit %d: %s" % (ordinal, out.returncode, out.stderr)):
                continue
            got = out.stdout.splitlines()
            want_head = ["--id=%d" % (ordinal + 1),
                         "--peer_addr=synod-%d.%s:7101" % (ordinal, domain)]
            check(got[:2] == want_head, "entrypoint synod-%d: starts %r" % (ordinal, got[:2]))
            check(got[3:] == args, "entrypoint synod-%d: container args not passed on" % ordinal)
            mode = got[2] if len(got) > 2 else ""
            if ordinal < founding:
                members = ",".join("%d=synod-%d.%s:7101/synod-%d.%s:7001" % (i + 1, i, domain, i, domain)
                                   for i in range(founding))
                check(mode == "--initial_cluster=" + members,
                      "entrypoint synod-%d: %r" % (ordinal, mode))
            else:
                check(mode == "--join=%s.ns1.svc.%s:7001" % (env.get("CLIENT_SERVICE"),
                                                            env.get("CLUSTER_DOMAIN")),
                      "entrypoint synod-%d: %r" % (ordinal, mode))


def metric_names(repo):
    """Metric names synod defines: string literals "synod_..." in server/."""
    names = set()
    for f in glob.glob(os.path.join(repo, "server/**/*.cc"), recursive=True) + \
            glob.glob(os.path.join(repo, "server/**/*.h"), recursive=True):
        with open(f, errors="replace") as fh:
            names |= set(re.findall(r'"(synod_[a-z0-9_]+)', fh.read()))
    return names


def check_alerts(repo):
    path = os.path.join(repo, "deploy/prometheus/alerts.yml")
    if not check(os.path.exists(path), "no deploy/prometheus/alerts.yml"):
        return
    with open(path) as fh:
        doc = yaml.safe_load(fh)
    known = metric_names(repo)
    groups = doc.get("groups", []) if isinstance(doc, dict) else []
    check(groups, "alerts: no groups")
    seen = set()
    for g in groups:
        check(g.get("name"), "alerts: a group without a name")
        for r in g.get("rules", []):
            name = r.get("alert")
            check(name and name not in seen, "alerts: missing or repeated alert name %r" % name)
            seen.add(name)
            check(isinstance(r.get("expr"), str) and r["expr"].strip(), "alerts %s: no expr" % name)
            check(r.get("labels", {}).get("severity") in ("page", "ticket", "critical", "warning"),
                  "alerts %s: severity label missing" % name)
            ann = r.get("annotations", {})
            check(ann.get("summary") and ann.get("description"),
                  "alerts %s: summary and description needed" % name)
            for metric in re.findall(r"\b(synod_[a-z0-9_]+)", r.get("expr", "")):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                check(metric in known or base in known,
                      "alerts %s: synod defines no metric %s" % (name, metric))
    promtool = shutil.which("promtool")
    if promtool is None:
        print("promtool not installed (Debian package prometheus): PromQL not checked")
        return
    out = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True,
                         timeout=60)
    check(out.returncode == 0, "promtool check rules: %s%s" % (out.stdout, out.stderr))
    # Alerts evaluated over made-up series (tests/deploy/alerts_test.yml).
    out = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], capture_output=True,
                         text=True, timeout=60, cwd=os.path.dirname(os.path.abspath(__file__)))
    check(out.returncode == 0, "promtool test rules: %s%s" % (out.stdout, out.stderr))


def check_systemd(repo, synod, flags):
    unit_path = os.path.join(repo, "deploy/systemd/synod.service")
    env_path = os.path.join(repo, "deploy/systemd/synod.env")
    with open(unit_path) as fh:
        unit = fh.read()
    with open(env_path) as fh:
        env_vars = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", fh.read(), re.M))
    exec_start = re.search(r"^ExecStart=((?:.*\\\n)*.*)$", unit, re.M)
    if not check(exec_start, "systemd: no ExecStart"):
        return
    words = exec_start.group(1).replace("\\\n", " ").split()
    for flag in sorted(flags_in(words)):
        check(flag in flags, "systemd: synod has no flag --%s" % flag)
    for var in sorted(set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", exec_start.group(1)))):
        check(var in env_vars, "systemd: synod.env does not set %s" % var)
    for key in ("Type=simple", "User=", "StateDirectory=", "LimitNOFILE=", "Restart=on-failure"):
        check(re.search(r"^" + re.escape(key), unit, re.M), "systemd: no %s" % key)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("systemd-analyze not installed: unit not verified")
        return
    with tempfile.TemporaryDirectory() as tmp:
        # The unit as installed, but pointing at this build and this env file.
        copy = os.path.join(tmp, "synod.service")
        with open(copy, "w") as fh:
            fh.write(unit.replace("/usr/local/bin/synod", os.path.abspath(synod))
                     .replace("/etc/synod/synod.env", env_path))
        out = subprocess.run([analyze, "verify", copy], capture_output=True, text=True, timeout=60)
        text = (out.stdout + out.stderr).strip()
        about_unit = [l for l in text.splitlines() if "synod.service" in l]
        check(out.returncode == 0 and not about_unit,
              "systemd-analyze verify: exit %d: %s" % (out.returncode, text))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--synod", required=True)
    a = ap.parse_args()
    flags = synod_flags(a.synod)
    check_k8s(a.repo, flags)
    check_alerts(a.repo)
    check_systemd(a.repo, a.synod, flags)
    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    print("deploy files OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
