"""manifest_rules: what a rendered deploy/kubernetes base must satisfy.

check(docs, load_config, image_user) takes the documents `kubectl kustomize` rendered
for one base and returns a list of problems (strings, empty when the base is sound).
Nothing here runs a process or reads a file: manifest_check.py renders, reads the
configuration out of its ConfigMap and runs `certgate check` on it.

The rules tie the manifests to the certgate.json they mount, so that a change on one side
that the other does not follow fails here instead of in a cluster:

- every document has the fields its kind needs (kinds without a rule are refused, so a
  new kind comes with its rule);
- the certgate container's probes hit the configuration's status port (/healthz for
  liveness and startup, /readyz for readiness), and its ports are container ports;
- every file certgate.json names (certificates, keys, client CA, policies, the
  configuration itself) lies in a directory mount of a ConfigMap or Secret, a key in a
  Secret, state_dir is a writable emptyDir, and no mount uses subPath (a subPath mount
  is a copy the kubelet never updates: certgate would not see a new policy or
  certificate);
- securityContext: runAsNonRoot, the image's user, read-only root, no privilege
  escalation, every capability dropped, seccomp RuntimeDefault;
- preStop sleeps timeouts.shutdown_delay, terminationGracePeriodSeconds covers preStop +
  shutdown_delay + drain + a margin, and the pod's other containers (the database)
  outlive certgate's drain;
- resources, workers set (not one per CPU of the node), Prometheus annotations on the
  status port, and the edge's availability
  (replicas, anti-affinity, PodDisruptionBudget, HorizontalPodAutoscaler).
"""

import posixpath
import re

# Seconds a pod keeps after certgate's drain ended before the kubelet would kill it.
GRACE_MARGIN_S = 5

API_VERSIONS = {
    "StatefulSet": "apps/v1",
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "PodDisruptionBudget": "policy/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "Certificate": "cert-manager.io/v1",
}
WORKLOAD_KINDS = ("StatefulSet", "Deployment")
# Files cert-manager writes into a Certificate's Secret.
CERT_MANAGER_KEYS = ("tls.crt", "tls.key", "ca.crt")


def parse_duration_ms(value, default_ms):
    """parse_duration_ms reads a certgate duration (integer milliseconds or "250ms",
    "5s", "2m", "1h"; docs/configuration.md) and returns milliseconds; None gives
    default_ms. Raises ValueError on anything else."""
    if value is None:
        return default_ms
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(value))
    if not m:
        raise ValueError("not a duration: %r" % (value,))
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}[m.group(2)]


def ceil_s(ms):
    return -(-ms // 1000)


def address_port(addr):
    """address_port returns (host, port) of "IPv4:port", "[IPv6]:port" or "*:port"."""
    host, _, port = str(addr).rpartition(":")
    return host.strip("[]"), int(port)


def config_files(config, config_path):
    """config_files lists what certgate.json makes certgate read or write as
    (JSON path, absolute path, role); role is the kind of file: "cert", "key", "ocsp",
    "ca", "crl", "policy", "access_log" or "state_dir". Relative paths are resolved
    against the configuration's directory, as certgate does."""
    base = posixpath.dirname(config_path)
    out = []

    def add(jpath, value, role):
        if value is None or (role == "access_log" and value == "-"):
            return
        out.append((jpath, posixpath.normpath(posixpath.join(base, value)), role))

    def certificates(jpath, certs):
        for i, c in enumerate(certs or []):
            add("%s[%d].cert" % (jpath, i), c.get("cert"), "cert")
            add("%s[%d].key" % (jpath, i), c.get("key"), "key")
            add("%s[%d].ocsp" % (jpath, i), c.get("ocsp"), "ocsp")

    add("$.state_dir", config.get("state_dir"), "state_dir")
    add("$.log.access_log", (config.get("log") or {}).get("access_log"), "access_log")
    for li, lis in enumerate(config.get("listeners") or []):
        lp = "$.listeners[%d]" % li
        tls = lis.get("tls") or {}
        certificates(lp + ".tls.certificates", tls.get("certificates"))
        add(lp + ".tls.client_ca", tls.get("client_ca"), "ca")
        add(lp + ".tls.crl", tls.get("crl"), "crl")
        add(lp + ".policy", lis.get("policy"), "policy")
        for hi, host in enumerate(lis.get("hosts") or []):
            hp = "%s.hosts[%d]" % (lp, hi)
            add(hp + ".policy", host.get("policy"), "policy")
            certificates(hp + ".certificates", host.get("certificates"))
    for name, up in sorted((config.get("upstreams") or {}).items()):
        tls = up.get("tls") or {}
        up_path = "$.upstreams.%s.tls" % name
        add(up_path + ".ca", tls.get("ca"), "ca")
        add(up_path + ".cert", tls.get("cert"), "cert")
        add(up_path + ".key", tls.get("key"), "key")
    return out


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def is_certgate(container):
    """is_certgate: the image's repository ends in /certgate or is certgate."""
    image = container.get("image") or ""
    repo = image.split("@")[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return repo.rsplit("/", 1)[-1] == "certgate"


def config_arg(container):
    """config_arg returns the path after -c/--config in the container's command
    line (args, after command), or None."""
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    for i, a in enumerate(argv):
        if a in ("-c", "--config") and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def prestop_seconds(container):
    """prestop_seconds returns how long the container's preStop hook sleeps (the sleep
    action, or an exec of sleep N), None without a hook, or raises ValueError for a
    hook that is not a plain sleep."""
    hook = ((container.get("lifecycle") or {}).get("preStop"))
    if hook is None:
        return None
    if "sleep" in hook:
        return int(hook["sleep"]["seconds"])
    cmd = (hook.get("exec") or {}).get("command") or []
    if len(cmd) == 2 and posixpath.basename(cmd[0]) == "sleep" and cmd[1].isdigit():
        return int(cmd[1])
    raise ValueError("preStop is not a sleep: %r" % (hook,))


class Base:
    """The documents of one rendered base, indexed by kind and name."""

    def __init__(self, docs):
        self.docs = [d for d in docs if d]
        self.by_kind = {}
        for d in self.docs:
            name = (d.get("metadata") or {}).get("name")
            self.by_kind.setdefault(d.get("kind"), {})[name] = d

    def get(self, kind, name):
        return self.by_kind.get(kind, {}).get(name)

    def all(self, kind):
        return list(self.by_kind.get(kind, {}).values())

    def workloads(self):
        return [d for k in WORKLOAD_KINDS for d in self.all(k)]

    def certificate_secrets(self):
        return {((c.get("spec") or {}).get("secretName")) for c in self.all("Certificate")}


def check(docs, load_config, image_user):
    """check returns the problems of a rendered base: docs are its documents (dicts),
    load_config(configmap_doc, key) returns the parsed certgate.json stored there (or
    raises ValueError), image_user is the uid the image runs as (the Dockerfile's
    USER)."""
    base = Base(docs)
    problems = []
    for d in base.docs:
        problems += check_document(base, d)
    for w in base.workloads():
        problems += check_workload(base, w, load_config, image_user)
    return problems


def doc_id(d):
    return "%s/%s" % (d.get("kind"), (d.get("metadata") or {}).get("name"))


def check_document(base, d):
    """check_document: the fields every document of its kind needs."""
    p = []
    kind, did = d.get("kind"), doc_id(d)
    if kind not in API_VERSIONS:
        return ["%s: no rule for kind %s (add one to manifest_rules.py)" % (did, kind)]
    if d.get("apiVersion") != API_VERSIONS[kind]:
        p.append("%s: apiVersion %s, expected %s" % (did, d.get("apiVersion"),
                                                     API_VERSIONS[kind]))
    meta = d.get("metadata") or {}
    if not meta.get("name") or not meta.get("namespace"):
        p.append("%s: metadata.name and metadata.namespace are required" % did)
    spec = d.get("spec") or {}
    if kind == "ConfigMap":
        if not d.get("data"):
            p.append("%s: no data" % did)
    elif kind == "Service":
        p += check_service(base, d)
    elif kind == "PodDisruptionBudget":
        p += check_pdb(base, d)
    elif kind == "HorizontalPodAutoscaler":
        p += check_hpa(base, d)
    elif kind == "Certificate":
        issuer = spec.get("issuerRef") or {}
        if not spec.get("secretName") or not issuer.get("name") or not spec.get("dnsNames"):
            p.append("%s: spec.secretName, spec.issuerRef.name and spec.dnsNames are "
                     "required" % did)
        if not any(v.get("secret", {}).get("secretName") == spec.get("secretName")
                   for w in base.workloads() for v in pod_spec(w).get("volumes") or []):
            p.append("%s: its Secret %s is mounted by no pod" % (did, spec.get("secretName")))
    return p


def pod_spec(w):
    return ((w.get("spec") or {}).get("template") or {}).get("spec") or {}


def pod_labels(w):
    return (((w.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
        "labels") or {}


def selected_workloads(base, selector):
    return [w for w in base.workloads() if labels_match(selector, pod_labels(w))]


def check_service(base, svc):
    did, spec = doc_id(svc), svc.get("spec") or {}
    ws = selected_workloads(base, spec.get("selector") or {})
    if not ws:
        return ["%s: its selector matches no pod of the base" % did]
    p = []
    if not spec.get("ports"):
        p.append("%s: no ports" % did)
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        for w in ws:
            cports = [cp for c in pod_spec(w).get("containers") or []
                      for cp in c.get("ports") or []]
            if not any(cp.get("name") == target or cp.get("containerPort") == target
                       for cp in cports):
                p.append("%s: targetPort %s is no container port of %s"
                         % (did, target, doc_id(w)))
    return p


def replicas(base, w):
    """replicas: the least number of pods the workload runs (the HPA's minimum when
    one scales it)."""
    for hpa in base.all("HorizontalPodAutoscaler"):
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == w.get("kind") and ref.get("name") == doc_id(w).split("/")[1]:
            return int((hpa.get("spec") or {}).get("minReplicas", 1))
    return int((w.get("spec") or {}).get("replicas", 1))


def check_pdb(base, pdb):
    did, spec = doc_id(pdb), pdb.get("spec") or {}
    ws = selected_workloads(base, (spec.get("selector") or {}).get("matchLabels") or {})
    if not ws:
        return ["%s: its selector matches no pod of the base" % did]
    if ("minAvailable" in spec) == ("maxUnavailable" in spec):
        return ["%s: exactly one of minAvailable and maxUnavailable" % did]
    p = []
    for w in ws:
        if isinstance(spec.get("minAvailable"), int) and spec["minAvailable"] >= replicas(base, w):
            p.append("%s: minAvailable %d leaves no pod of %s to evict (%d replicas)"
                     % (did, spec["minAvailable"], doc_id(w), replicas(base, w)))
    return p


def check_hpa(base, hpa):
    did, spec = doc_id(hpa), hpa.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    w = base.get(ref.get("kind"), ref.get("name"))
    if w is None:
        return ["%s: scaleTargetRef %s/%s is not in the base" % (did, ref.get("kind"),
                                                                 ref.get("name"))]
    p = []
    if int(spec.get("minReplicas", 1)) < 2:
        p.append("%s: minReplicas below 2: one disruption takes the gateway down" % did)
    if int(spec.get("maxReplicas", 0)) < int(spec.get("minReplicas", 1)):
        p.append("%s: maxReplicas below minReplicas" % did)
    if not spec.get("metrics"):
        p.append("%s: no metrics" % did)
    for m in spec.get("metrics") or []:
        res = m.get("resource") or {}
        if m.get("type") == "Resource":
            for c in pod_spec(w).get("containers") or []:
                if not ((c.get("resources") or {}).get("requests") or {}).get(res.get("name")):
                    p.append("%s: scales on %s, which container %s does not request"
                             % (did, res.get("name"), c.get("name")))
    return p


def check_workload(base, w, load_config, image_user):
    """check_workload: the pod template of a StatefulSet or Deployment against the
    certgate.json its certgate container mounts."""
    did, spec, pod = doc_id(w), w.get("spec") or {}, pod_spec(w)
    p = []
    if not labels_match((spec.get("selector") or {}).get("matchLabels") or {}, pod_labels(w)):
        p.append("%s: spec.selector.matchLabels does not select its own pods" % did)
    if w.get("kind") == "StatefulSet":
        svc = base.get("Service", spec.get("serviceName"))
        if svc is None or (svc.get("spec") or {}).get("clusterIP") != "None":
            p.append("%s: serviceName %s is no headless Service of the base"
                     % (did, spec.get("serviceName")))
    if w.get("kind") == "Deployment":
        p += check_availability(base, w)
    containers = pod.get("containers") or []
    if not containers:
        return p + ["%s: no containers" % did]
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    for claim in spec.get("volumeClaimTemplates") or []:
        volumes[(claim.get("metadata") or {}).get("name")] = {"persistentVolumeClaim": claim}
    for c in containers:
        cid = "%s container %s" % (did, c.get("name"))
        if not c.get("image"):
            p.append("%s: no image" % cid)
        p += check_security(cid, pod, c, image_user if is_certgate(c) else None)
        for m in c.get("volumeMounts") or []:
            if m.get("name") not in volumes:
                p.append("%s: mount %s names no volume of the pod" % (cid, m.get("name")))
    gates = [c for c in containers if is_certgate(c)]
    if len(gates) != 1:
        return p + ["%s: %d certgate containers, expected 1" % (did, len(gates))]
    gate = gates[0]
    cid = "%s container %s" % (did, gate.get("name"))
    config_path = config_arg(gate)
    if config_path is None:
        return p + ["%s: no -c CONFIG in its command line" % cid]
    mounts = Mounts(gate, volumes)
    where = mounts.find(config_path)
    if where is None or "configMap" not in where[1]:
        return p + ["%s: %s is in no ConfigMap mount" % (cid, config_path)]
    cm_name = where[1]["configMap"].get("name")
    cm = base.get("ConfigMap", cm_name)
    if cm is None:
        return p + ["%s: ConfigMap %s is not in the base" % (cid, cm_name)]
    try:
        config = load_config(cm, where[2])
    except ValueError as e:
        return p + ["%s: %s" % (cid, e)]
    p += check_mounts(base, cid, gate, mounts, config, config_path)
    p += check_probes_and_ports(w, cid, gate, config)
    p += check_stop(pod, cid, gate, config)
    if not config.get("workers"):
        p.append("%s: workers is 0 (one per CPU of the node, whatever the pod requests): "
                 "set it" % cid)
    res = gate.get("resources") or {}
    if not all([(res.get("requests") or {}).get("cpu"), (res.get("requests") or {}).get("memory"),
                (res.get("limits") or {}).get("memory")]):
        p.append("%s: resources need requests.cpu, requests.memory and limits.memory" % cid)
    return p


def check_availability(base, w):
    did, p = doc_id(w), []
    if replicas(base, w) < 2:
        p.append("%s: fewer than 2 replicas" % did)
    anti = ((pod_spec(w).get("affinity") or {}).get("podAntiAffinity") or {})
    terms = [t.get("podAffinityTerm") or {} for t in
             anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    terms += anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    if not any(t.get("topologyKey") and labels_match(
            (t.get("labelSelector") or {}).get("matchLabels") or {}, pod_labels(w))
            for t in terms):
        p.append("%s: no podAntiAffinity term that selects its own pods" % did)
    if not any(selected_workloads(base, ((b.get("spec") or {}).get("selector") or {}).get(
            "matchLabels") or {}) == [w] for b in base.all("PodDisruptionBudget")):
        p.append("%s: no PodDisruptionBudget" % did)
    return p


def check_security(cid, pod, c, image_user):
    """check_security: the container's effective securityContext (its own, else the
    pod's where Kubernetes allows a pod-level value). image_user: the uid it must run
    as, or None for containers other than certgate."""
    psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}

    def eff(key):
        return csc[key] if key in csc else psc.get(key)

    p = []
    if eff("runAsNonRoot") is not True:
        p.append("%s: securityContext.runAsNonRoot must be true" % cid)
    if image_user is not None and eff("runAsUser") != image_user[0]:
        p.append("%s: securityContext.runAsUser %s is not the image's user %d"
                 % (cid, eff("runAsUser"), image_user[0]))
    if image_user is not None and eff("runAsGroup") not in (None, image_user[1]):
        p.append("%s: securityContext.runAsGroup %s is not the image's group %d"
                 % (cid, eff("runAsGroup"), image_user[1]))
    if csc.get("readOnlyRootFilesystem") is not True:
        p.append("%s: securityContext.readOnlyRootFilesystem must be true" % cid)
    if csc.get("allowPrivilegeEscalation") is not False:
        p.append("%s: securityContext.allowPrivilegeEscalation must be false" % cid)
    if csc.get("privileged"):
        p.append("%s: securityContext.privileged" % cid)
    caps = csc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
        p.append("%s: securityContext.capabilities must drop ALL and add none" % cid)
    if (eff("seccompProfile") or {}).get("type") != "RuntimeDefault":
        p.append("%s: securityContext.seccompProfile.type must be RuntimeDefault" % cid)
    return p


class Mounts:
    """The volume mounts of one container, with their volumes."""

    def __init__(self, container, volumes):
        self.list = [(m, volumes.get(m.get("name")) or {})
                     for m in container.get("volumeMounts") or []]

    def find(self, path):
        """find returns (mount, volume, key) for the deepest mount holding path (key:
        the path below the mount point, "" for the mount point itself), or None."""
        best = None
        for m, v in self.list:
            mp = posixpath.normpath(m.get("mountPath") or "/")
            if path == mp or path.startswith(mp.rstrip("/") + "/"):
                if best is None or len(mp) > len(best[0]):
                    best = (mp, m, v)
        if best is None:
            return None
        return best[1], best[2], path[len(best[0]):].lstrip("/")


def volume_keys(base, volume):
    """volume_keys returns the file names a ConfigMap or Secret volume shows (None
    when the base cannot know them: a Secret made outside it)."""
    if volume.get("configMap") or volume.get("secret"):
        src = volume.get("configMap") or volume.get("secret")
        if src.get("items"):
            return {i.get("path") for i in src["items"]}
        if volume.get("configMap"):
            cm = base.get("ConfigMap", src.get("name"))
            return set((cm or {}).get("data") or {}) | set((cm or {}).get("binaryData") or {})
        if src.get("secretName") in base.certificate_secrets():
            return set(CERT_MANAGER_KEYS)
    return None


def check_mounts(base, cid, c, mounts, config, config_path):
    """check_mounts: every file certgate.json names is where the pod puts it, in a
    mount the kubelet updates in place."""
    p = []
    for m, _ in mounts.list:
        if m.get("subPath") or m.get("subPathExpr"):
            p.append("%s: mount %s at %s uses subPath: the kubelet never updates it, so "
                     "certgate would not see a new version" % (cid, m.get("name"),
                                                             m.get("mountPath")))
    for jpath, path, role in [("-c", config_path, "config")] + config_files(config, config_path):
        where = mounts.find(path)
        if where is None:
            p.append("%s: %s %s is in no mount (the root file system has no such file)"
                     % (cid, jpath, path))
            continue
        m, v, key = where
        if role in ("state_dir", "access_log"):
            if "emptyDir" not in v or m.get("readOnly"):
                p.append("%s: %s %s must be in a writable emptyDir mount" % (cid, jpath, path))
            elif role == "state_dir" and key:
                p.append("%s: %s %s is not a mount point (mounted at %s)"
                         % (cid, jpath, path, m.get("mountPath")))
            continue
        if not (v.get("configMap") or v.get("secret")):
            p.append("%s: %s %s is in mount %s, not a ConfigMap or Secret"
                     % (cid, jpath, path, m.get("name")))
            continue
        if role == "key" and not v.get("secret"):
            p.append("%s: %s %s: a private key belongs in a Secret, not a ConfigMap"
                     % (cid, jpath, path))
        keys = volume_keys(base, v)
        if keys is not None and key not in keys:
            p.append("%s: %s %s: volume %s has no file %s (it has %s)"
                     % (cid, jpath, path, m.get("name"), key, ", ".join(sorted(keys))))
    return p


def container_port(c, port):
    """container_port resolves a probe's or Service's port (number or name)."""
    for cp in c.get("ports") or []:
        if port in (cp.get("name"), cp.get("containerPort")):
            return cp.get("containerPort")
    return None


def check_probes_and_ports(w, cid, c, config):
    p = []
    status = (config.get("status") or {}).get("listen")
    if not status:
        return ["%s: certgate.json has no status port for the probes" % cid]
    host, sport = address_port(status)
    if host in ("127.0.0.1", "::1", "localhost"):
        p.append("%s: status.listen %s is loopback: the kubelet probes the pod's address"
                 % (cid, status))
    for probe, paths in (("livenessProbe", ("/healthz",)), ("readinessProbe", ("/readyz",)),
                         ("startupProbe", ("/healthz", "/readyz"))):
        get = (c.get(probe) or {}).get("httpGet")
        if not get:
            p.append("%s: no %s.httpGet" % (cid, probe))
            continue
        port = container_port(c, get.get("port"))
        if port != sport:
            p.append("%s: %s port %s is %s, the status port is %d"
                     % (cid, probe, get.get("port"), port, sport))
        if get.get("path") not in paths:
            p.append("%s: %s path %s, expected %s" % (cid, probe, get.get("path"),
                                                      " or ".join(paths)))
        if get.get("scheme", "HTTP") != "HTTP":
            p.append("%s: %s scheme %s: the status port is plain HTTP"
                     % (cid, probe, get.get("scheme")))
    for lis in config.get("listeners") or []:
        for addr in lis.get("listen") or []:
            if container_port(c, address_port(addr)[1]) is None:
                p.append("%s: listener %s port %d is no container port"
                         % (cid, lis.get("name"), address_port(addr)[1]))
    ann = (((w.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
        "annotations") or {}
    want = {"prometheus.io/scrape": "true", "prometheus.io/port": str(sport),
            "prometheus.io/path": "/metrics"}
    for k, v in want.items():
        if ann.get(k) != v:
            p.append("%s: pod annotation %s is %r, expected %r" % (cid, k, ann.get(k), v))
    return p


def check_stop(pod, cid, c, config):
    """check_stop: preStop, certgate's shutdown_delay and drain, and the grace period
    agree, and the pod's other containers stay until certgate is done."""
    timeouts = config.get("timeouts") or {}
    try:
        delay_s = ceil_s(parse_duration_ms(timeouts.get("shutdown_delay"), 0))
        drain_s = ceil_s(parse_duration_ms(timeouts.get("drain"), 30000))
        pre_s = prestop_seconds(c)
    except (ValueError, KeyError, TypeError) as e:
        return ["%s: %s" % (cid, e)]
    p = []
    if delay_s == 0:
        p.append("%s: timeouts.shutdown_delay is 0: behind a Service, connections are "
                 "refused while the endpoints update" % cid)
    if pre_s != delay_s:
        p.append("%s: preStop sleeps %s s, timeouts.shutdown_delay is %d s"
                 % (cid, pre_s, delay_s))
    stop_s = (pre_s or 0) + delay_s + drain_s
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < stop_s + GRACE_MARGIN_S:
        p.append("%s: terminationGracePeriodSeconds %d is below preStop %d + "
                 "shutdown_delay %d + drain %d + %d s margin"
                 % (cid, grace, pre_s or 0, delay_s, drain_s, GRACE_MARGIN_S))
    for other in pod.get("containers") or []:
        if other is c:
            continue
        oid = "container %s" % other.get("name")
        try:
            o_s = prestop_seconds(other) or 0
        except ValueError as e:
            p.append("%s: %s" % (oid, e))
            continue
        if o_s < stop_s:
            p.append("%s: %s stops after %d s, before certgate's drain ends (%d s): "
                     "requests in flight would fail" % (cid, oid, o_s, stop_s))
        elif o_s + 2 > grace:
            p.append("%s: %s sleeps %d s in preStop, past terminationGracePeriodSeconds %d"
                     % (cid, oid, o_s, grace))
    return p
