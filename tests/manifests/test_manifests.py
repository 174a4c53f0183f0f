"""The Kubernetes bases of deploy/kubernetes render and agree with their certgate.json.

Every base renders with `kubectl kustomize` and passes manifest_check.py (the rules of
manifest_rules.py and `certgate check` on the configuration its ConfigMap holds). So
that the check cannot pass by checking nothing, each rule is also run on a broken copy
of a rendered base (a probe on the wrong port, a subPath mount, a missing securityContext
field, a mount path the configuration does not use, ...), which must fail with that
rule's problem while the unbroken copy has none; one broken copy goes through the
whole pipeline, from the files on disk to the exit status.

Run: CERTGATE_BIN=build/certgate /usr/bin/python3 -m unittest -v test_manifests
"""

import copy
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import manifest_check  # noqa: E402

BASES_DIR = os.path.join(manifest_check.SOURCE_DIR, "deploy", "kubernetes")
CERTGATE = os.environ.get("CERTGATE_BIN") or os.path.join(manifest_check.SOURCE_DIR,
                                                          "build", "certgate")


def find(docs, kind, name=None):
    hits = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(hits) == 1, (kind, name, len(hits))
    return hits[0]


def container(docs, kind, name):
    w = find(docs, "StatefulSet" if kind == "sidecar" else "Deployment")
    return [c for c in w["spec"]["template"]["spec"]["containers"] if c["name"] == name][0]


def edit_config(docs, kind, fn):
    """edit_config applies fn to the certgate.json in the base's config ConfigMap."""
    cm = find(docs, "ConfigMap", "certgate-config" if kind == "sidecar" else
              "certgate-edge-config")
    config = json.loads(cm["data"]["certgate.json"])
    fn(config)
    cm["data"]["certgate.json"] = json.dumps(config)


class ManifestsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("kubectl") is None:
            raise AssertionError("kubectl is missing (scripts/deps installs kubernetes-client)")
        cls.bases = sorted(os.path.basename(os.path.dirname(p)) for p in
                           glob.glob(os.path.join(BASES_DIR, "*", "kustomization.yaml")))
        cls.rendered = {b: manifest_check.render(os.path.join(BASES_DIR, b))
                        for b in cls.bases}

    def problems(self, base, docs):
        return manifest_check.check_base(os.path.join(BASES_DIR, base), CERTGATE, docs)

    def broken(self, base, breaker, expect):
        """broken checks a copy of the rendered base changed by breaker(docs): it must
        fail with a problem containing expect."""
        docs = copy.deepcopy(self.rendered[base])
        breaker(docs)
        problems = self.problems(base, docs)
        self.assertTrue(any(expect in p for p in problems),
                        "%s: expected a problem with %r, got %r" % (base, expect, problems))

    def test_every_base_passes(self):
        # The broken copies below are made from these two: a new base comes with its own.
        self.assertEqual(self.bases, ["edge", "sidecar"])
        r = subprocess.run([sys.executable, os.path.join(HERE, "manifest_check.py"),
                            "--certgate", CERTGATE] +
                           [os.path.join(BASES_DIR, b) for b in self.bases],
                           capture_output=True, text=True, timeout=300)
        print(r.stdout, r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for b in self.bases:
            self.assertIn("%s: ok" % os.path.join(BASES_DIR, b), r.stdout)
            # The unbroken copies the self-tests start from pass too.
            self.assertEqual(self.problems(b, copy.deepcopy(self.rendered[b])), [])

    def test_edge_has_what_an_edge_needs(self):
        docs = self.rendered["edge"]
        kinds = sorted({d["kind"] for d in docs})
        self.assertEqual(kinds, ["Certificate", "ConfigMap", "Deployment",
                                 "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"])
        config = json.loads(find(docs, "ConfigMap", "certgate-edge-config")["data"]
                            ["certgate.json"])
        self.assertGreaterEqual(len(config["listeners"][0]["hosts"]), 2)
        servers = [s for u in config["upstreams"].values() for s in u["servers"]]
        self.assertTrue(all(".svc.cluster.local:" in s for s in servers), servers)

    def test_wrong_probe_port(self):
        def probe_on_https(docs):
            container(docs, "sidecar", "certgate")["readinessProbe"]["httpGet"]["port"] = "https"
        self.broken("sidecar", probe_on_https, "readinessProbe port https is 8443")

        def probe_on_number(docs):
            container(docs, "edge", "certgate")["livenessProbe"]["httpGet"]["port"] = 9101
        self.broken("edge", probe_on_number, "livenessProbe port 9101")

        def status_moved(docs):
            edit_config(docs, "edge", lambda c: c["status"].update(listen="0.0.0.0:9200"))
        self.broken("edge", status_moved, "the status port is 9200")

        def status_loopback(docs):
            edit_config(docs, "sidecar", lambda c: c["status"].update(listen="127.0.0.1:9100"))
        self.broken("sidecar", status_loopback, "is loopback")

        def wrong_path(docs):
            container(docs, "edge", "certgate")["readinessProbe"]["httpGet"]["path"] = "/healthz"
        self.broken("edge", wrong_path, "readinessProbe path /healthz")

    def test_subpath_mount(self):
        def subpath(docs):
            for m in container(docs, "sidecar", "certgate")["volumeMounts"]:
                if m["name"] == "policy":
                    m["mountPath"] = "/etc/certgate/policy/policy.json"
                    m["subPath"] = "policy.json"
        self.broken("sidecar", subpath, "uses subPath")

    def test_missing_security_context_fields(self):
        for base in self.bases:
            for field, expect in (("runAsNonRoot", "runAsNonRoot must be true"),
                                  ("runAsUser", "is not the image's user 65532"),
                                  ("readOnlyRootFilesystem", "readOnlyRootFilesystem"),
                                  ("allowPrivilegeEscalation", "allowPrivilegeEscalation"),
                                  ("capabilities", "must drop ALL"),
                                  ("seccompProfile", "seccompProfile.type")):
                def drop(docs):
                    w = find(docs, "StatefulSet" if base == "sidecar" else "Deployment")
                    w["spec"]["template"]["spec"]["securityContext"].pop(field, None)
                    container(docs, base, "certgate")["securityContext"].pop(field, None)
                with self.subTest(base=base, field=field):
                    self.broken(base, drop, expect)

        def other_user(docs):
            container(docs, "edge", "certgate")["securityContext"]["runAsUser"] = 1000
        self.broken("edge", other_user, "runAsUser 1000 is not the image's user")

        def etcd_escalates(docs):
            container(docs, "sidecar", "etcd")["securityContext"]["allowPrivilegeEscalation"] = True
        self.broken("sidecar", etcd_escalates, "container etcd: securityContext.allowPrivilege")

    def test_mismatched_mount_paths(self):
        def tls_moved(docs):
            for m in container(docs, "edge", "certgate")["volumeMounts"]:
                if m["name"] == "tls":
                    m["mountPath"] = "/etc/certgate/certs"
        self.broken("edge", tls_moved, "tls.certificates[0].cert /etc/certgate/tls/tls.crt is "
                                       "in no mount")

        def ca_moved(docs):
            edit_config(docs, "sidecar", lambda c: c["listeners"][0]["tls"].update(
                client_ca="/etc/certgate/ca/ca.crt"))
        self.broken("sidecar", ca_moved, "client_ca /etc/certgate/ca/ca.crt is in no mount")

        def policy_renamed(docs):
            edit_config(docs, "edge", lambda c: c["listeners"][0]["hosts"][1].update(
                policy="/etc/certgate/policies/influx.json"))
        self.broken("edge", policy_renamed, "volume policies has no file influx.json")

        def cert_key_renamed(docs):
            edit_config(docs, "sidecar", lambda c: c["listeners"][0]["tls"]["certificates"][0]
                        .update(key="/etc/certgate/tls/server.key"))
        self.broken("sidecar", cert_key_renamed, "volume tls has no file server.key")

        def state_elsewhere(docs):
            edit_config(docs, "sidecar", lambda c: c.update(state_dir="/var/lib/other"))
        self.broken("sidecar", state_elsewhere, "$.state_dir /var/lib/other is in no mount")

        def state_read_only(docs):
            for m in container(docs, "edge", "certgate")["volumeMounts"]:
                if m["name"] == "state":
                    m["readOnly"] = True
        self.broken("edge", state_read_only, "must be in a writable emptyDir mount")

        def key_in_configmap(docs):
            edit_config(docs, "edge", lambda c: c["listeners"][0]["tls"]["certificates"][0]
                        .update(key="/etc/certgate/policies/etcd.json"))
        self.broken("edge", key_in_configmap, "a private key belongs in a Secret")

        def config_elsewhere(docs):
            container(docs, "sidecar", "certgate")["args"][-1] = "/etc/certgate/certgate.json"
        self.broken("sidecar", config_elsewhere, "/etc/certgate/certgate.json is in no "
                                                 "ConfigMap mount")

    def test_stop_timing(self):
        def prestop_short(docs):
            container(docs, "edge", "certgate")["lifecycle"]["preStop"]["sleep"]["seconds"] = 2
        self.broken("edge", prestop_short, "preStop sleeps 2 s, timeouts.shutdown_delay is 5 s")

        def longer_drain(docs):
            edit_config(docs, "edge", lambda c: c["timeouts"].update(drain="1m"))
        self.broken("edge", longer_drain, "terminationGracePeriodSeconds 40 is below preStop 5 "
                                          "+ shutdown_delay 5 + drain 60")

        def no_delay(docs):
            edit_config(docs, "sidecar", lambda c: c["timeouts"].pop("shutdown_delay"))
        self.broken("sidecar", no_delay, "timeouts.shutdown_delay is 0")

        def database_first(docs):
            del container(docs, "sidecar", "etcd")["lifecycle"]
        self.broken("sidecar", database_first, "container etcd stops after 0 s, before "
                                               "certgate's drain ends (35 s)")

    def test_workers_and_resources(self):
        def workers_per_node_cpu(docs):
            edit_config(docs, "edge", lambda c: c.update(workers=0))
        self.broken("edge", workers_per_node_cpu, "workers is 0")

        def no_memory_limit(docs):
            del container(docs, "sidecar", "certgate")["resources"]["limits"]
        self.broken("sidecar", no_memory_limit, "limits.memory")

    def test_availability_and_scrape(self):
        def one_replica(docs):
            find(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] = 1
        self.broken("edge", one_replica, "minReplicas below 2")

        def no_anti_affinity(docs):
            del find(docs, "Deployment")["spec"]["template"]["spec"]["affinity"]
        self.broken("edge", no_anti_affinity, "no podAntiAffinity")

        def no_pdb(docs):
            docs.remove(find(docs, "PodDisruptionBudget"))
        self.broken("edge", no_pdb, "no PodDisruptionBudget")

        def scrape_port(docs):
            find(docs, "StatefulSet")["spec"]["template"]["metadata"]["annotations"][
                "prometheus.io/port"] = "8443"
        self.broken("sidecar", scrape_port, "prometheus.io/port")

        def service_port(docs):
            find(docs, "Service", "certgate-edge")["spec"]["ports"][0]["targetPort"] = "http"
        self.broken("edge", service_port, "targetPort http is no container port")

        def unknown_kind(docs):
            docs.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                         "metadata": {"name": "x", "namespace": "etcd"}})
        self.broken("sidecar", unknown_kind, "no rule for kind Ingress")

    def test_certgate_check_runs_on_the_rendered_config(self):
        def bad_policy(docs):
            cm = find(docs, "ConfigMap", "certgate-policy")
            cm["data"]["policy.json"] = cm["data"]["policy.json"].replace('"Deny"', '"Nobody"')
        self.broken("sidecar", bad_policy, "certgate check failed")

        # A server without a port is refused by certgate check, name or not.
        def bad_server(docs):
            edit_config(docs, "edge", lambda c: c["upstreams"]["etcd"].update(
                servers=["etcd.db.svc.cluster.local"]))
        self.broken("edge", bad_server, "certgate check failed")

    def test_broken_files_fail_the_command(self):
        with tempfile.TemporaryDirectory() as tmp:
            copy_dir = os.path.join(tmp, "sidecar")
            shutil.copytree(os.path.join(BASES_DIR, "sidecar"), copy_dir)
            path = os.path.join(copy_dir, "statefulset.yaml")
            with open(path) as f:
                text = f.read()
            broken = text.replace("              mountPath: /etc/certgate/policy\n",
                                  "              mountPath: /etc/certgate/policy/policy.json\n"
                                  "              subPath: policy.json\n")
            self.assertNotEqual(broken, text)
            with open(path, "w") as f:
                f.write(broken)
            r = subprocess.run([sys.executable, os.path.join(HERE, "manifest_check.py"),
                                "--certgate", CERTGATE, copy_dir],
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("uses subPath", r.stdout)
            self.assertIn("FAILED", r.stdout)


if __name__ == "__main__":
    unittest.main()
