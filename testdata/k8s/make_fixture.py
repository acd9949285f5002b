#!/usr/bin/env python3
"""Make a real etcd 3.4 data dir filled with Kubernetes-shaped data.

    python3 testdata/k8s/make_fixture.py --testdata DIR_OF_PB_FILES --out OUTDIR \
        --client-port P --peer-port Q [--etcd etcd] [--etcdctl etcdctl] [--force]

Starts etcd on 127.0.0.1 with data dir OUTDIR/etcd, writes values with
`etcdctl put` (values on stdin, so binary bytes are exact), checks every
value back with `etcdctl get -w json`, stops etcd with SIGTERM and writes:

    OUTDIR/etcd/member/...            the stopped member
    OUTDIR/manifest.json              what was written (see README.md)
    OUTDIR/encryption-config.yaml     EncryptionConfiguration for the encrypted Secrets
    OUTDIR/kms-deks.json              KMS plugin name -> base64 plaintext DEK
    OUTDIR/etcd.log                   etcd's own log

Needs python3 with the `cryptography` and `pynacl` packages, the `openssl`
CLI, and etcd/etcdctl 3.4. The protobuf values for generated objects come
from the small encoder below (field numbers checked against the k8s.io/api
testdata .pb/.json pairs).
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid

try:
    from cryptography.hazmat.primitives import padding as sym_padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    import nacl.secret
except ImportError as _ex:
    print("make_fixture.py: %s (pip install cryptography pynacl)" % _ex, file=sys.stderr)
    sys.exit(2)

SEED = 20240301
BASE_TS = 1709251200  # 2024-03-01T00:00:00Z


def die(msg, code=1):
    """Exit 1 on a failure, 2 when a needed tool is missing (tests may skip on 2)."""
    print("make_fixture.py: " + msg, file=sys.stderr)
    sys.exit(code)


# ---------------------------------------------------------------------------
# Minimal protobuf writer (proto2, gogo style: fields in ascending number
# order, every non-pointer field written even when zero, map keys sorted).

def varint(n):
    if n < 0:
        n &= (1 << 64) - 1  # int32/int64 negatives: 10-byte sign-extended
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(num, wire):
    return varint((num << 3) | wire)


def f_bytes(num, b):
    return tag(num, 2) + varint(len(b)) + bytes(b)


def f_str(num, s):
    return f_bytes(num, s.encode("utf-8"))


def f_msg(num, body):
    return f_bytes(num, body)


def f_int(num, n):
    return tag(num, 0) + varint(n)


def f_bool(num, b):
    return tag(num, 0) + (b"\x01" if b else b"\x00")


def f_map_str(num, d):
    """map<string,string>; entries sorted by key as Go does."""
    return b"".join(f_msg(num, f_str(1, k) + f_str(2, d[k])) for k in sorted(d or {}))


def f_map_bytes(num, d):
    """map<string,bytes> (Secret.data, ConfigMap.binaryData)."""
    return b"".join(f_msg(num, f_str(1, k) + f_bytes(2, d[k])) for k in sorted(d or {}))


def f_rep_str(num, items):
    return b"".join(f_str(num, s) for s in items or [])


def pb_time(seconds, nanos=0):
    """meta/v1 Time and MicroTime: {1 seconds, 2 nanos}."""
    return f_int(1, seconds) + f_int(2, nanos)


def envelope(api_version, kind, raw):
    """`k8s\\0` + runtime.Unknown{1 typeMeta{1 apiVersion, 2 kind}, 2 raw, 3 "", 4 ""}."""
    return (b"k8s\x00" + f_msg(1, f_str(1, api_version) + f_str(2, kind))
            + f_bytes(2, raw) + f_str(3, "") + f_str(4, ""))


# Minimal reader, used only to take apiVersion/kind out of a .pb envelope.
def _read_varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def pb_fields(b):
    i, out = 0, []
    while i < len(b):
        k, i = _read_varint(b, i)
        num, wire = k >> 3, k & 7
        if wire == 0:
            v, i = _read_varint(b, i)
        elif wire == 2:
            n, i = _read_varint(b, i)
            v = b[i:i + n]
            i += n
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        out.append((num, v))
    if i != len(b):
        raise ValueError("truncated")
    return out


def envelope_gvk(value):
    if value[:4] != b"k8s\x00":
        raise ValueError("no k8s envelope")
    api_version = kind = ""
    for num, v in pb_fields(value[4:]):
        if num == 1:
            for n2, v2 in pb_fields(v):
                if n2 == 1:
                    api_version = v2.decode()
                elif n2 == 2:
                    kind = v2.decode()
    return api_version, kind


# ---------------------------------------------------------------------------
# Time formatting as the Kubernetes JSON marshallers do it.

def rfc3339(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(seconds, nanos):
    d = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (nanos // 1000)


def go_json(obj, sort_keys=False):
    """Compact JSON like Go's encoding/json (HTML-safe escapes, raw UTF-8)."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(ch, esc)
    return s


def b64(b):
    return base64.b64encode(b).decode()


# ---------------------------------------------------------------------------
# Kubernetes objects built with the encoder. Each builder returns
# (value_bytes, expected_dict); expected is the object as `kubectl get -o json`
# shows it, except metadata.resourceVersion which is filled in after the write.

class Obj:
    def __init__(self, rng):
        self.rng = rng

    def uid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def object_meta(name, namespace, uid, ts, labels=None, annotations=None, generate_name="",
                generation=0, owner_refs=None, finalizers=None, managed_fields=None):
    """ObjectMeta: 1 name, 2 generateName, 3 namespace, 4 selfLink, 5 uid,
    6 resourceVersion, 7 generation, 8 creationTimestamp, 11 labels,
    12 annotations, 13 ownerReferences, 14 finalizers, 17 managedFields."""
    body = (f_str(1, name) + f_str(2, generate_name) + f_str(3, namespace or "") + f_str(4, "")
            + f_str(5, uid) + f_str(6, "") + f_int(7, generation) + f_msg(8, pb_time(ts))
            + f_map_str(11, labels) + f_map_str(12, annotations))
    exp = {"name": name}
    if generate_name:
        exp["generateName"] = generate_name
    if namespace:
        exp["namespace"] = namespace
    exp["uid"] = uid
    exp["resourceVersion"] = None  # filled with the mod_revision
    if generation:
        exp["generation"] = generation
    exp["creationTimestamp"] = rfc3339(ts)
    if labels:
        exp["labels"] = dict(labels)
    if annotations:
        exp["annotations"] = dict(annotations)
    for o in owner_refs or []:
        # OwnerReference: 1 kind, 3 name, 4 uid, 5 apiVersion, 6 controller*, 7 blockOwnerDeletion*
        ob = f_str(1, o["kind"]) + f_str(3, o["name"]) + f_str(4, o["uid"]) + f_str(5, o["apiVersion"])
        if "controller" in o:
            ob += f_bool(6, o["controller"])
        if "blockOwnerDeletion" in o:
            ob += f_bool(7, o["blockOwnerDeletion"])
        body += f_msg(13, ob)
    if owner_refs:
        exp["ownerReferences"] = [dict(o) for o in owner_refs]
    body += f_rep_str(14, finalizers)
    if finalizers:
        exp["finalizers"] = list(finalizers)
    for m in managed_fields or []:
        # ManagedFieldsEntry: 1 manager, 2 operation, 3 apiVersion, 4 time*, 6 fieldsType,
        # 7 fieldsV1{1 raw}, 8 subresource. kubectl hides managedFields by default.
        body += f_msg(17, f_str(1, m["manager"]) + f_str(2, m["operation"]) + f_str(3, m["apiVersion"])
                      + f_msg(4, pb_time(m["time"])) + f_str(6, "FieldsV1")
                      + f_msg(7, f_bytes(1, m["fieldsV1"].encode())) + f_str(8, ""))
    return body, exp


def configmap(o, name, ns, ts, data=None, binary=None, immutable=None, labels=None,
              annotations=None, managed=None, uid=None):
    """ConfigMap: 1 metadata, 2 data map<string,string>, 3 binaryData map<string,bytes>,
    4 immutable *bool."""
    meta, mexp = object_meta(name, ns, uid or o.uid(), ts, labels, annotations, managed_fields=managed)
    raw = f_msg(1, meta) + f_map_str(2, data) + f_map_bytes(3, binary)
    if immutable is not None:
        raw += f_bool(4, immutable)
    exp = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": mexp}
    if immutable is not None:
        exp["immutable"] = immutable
    if data:
        exp["data"] = dict(data)
    if binary:
        exp["binaryData"] = {k: b64(v) for k, v in binary.items()}
    return envelope("v1", "ConfigMap", raw), exp


def secret(o, name, ns, ts, data, type_="Opaque", immutable=None, labels=None, annotations=None):
    """Secret: 1 metadata, 2 data map<string,bytes>, 3 type, 4 stringData (never stored),
    5 immutable *bool."""
    meta, mexp = object_meta(name, ns, o.uid(), ts, labels, annotations)
    raw = f_msg(1, meta) + f_map_bytes(2, data) + f_str(3, type_)
    if immutable is not None:
        raw += f_bool(5, immutable)
    exp = {"apiVersion": "v1", "kind": "Secret", "metadata": mexp}
    if immutable is not None:
        exp["immutable"] = immutable
    if data:
        exp["data"] = {k: b64(v) for k, v in data.items()}
    if type_:
        exp["type"] = type_
    return envelope("v1", "Secret", raw), exp


def namespace_obj(o, name, ts):
    """Namespace: 1 metadata, 2 spec{1 finalizers}, 3 status{1 phase, 2 conditions}."""
    labels = {"kubernetes.io/metadata.name": name}
    meta, mexp = object_meta(name, "", o.uid(), ts, labels)
    raw = f_msg(1, meta) + f_msg(2, f_str(1, "kubernetes")) + f_msg(3, f_str(1, "Active"))
    exp = {"apiVersion": "v1", "kind": "Namespace", "metadata": mexp,
           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    return envelope("v1", "Namespace", raw), exp


def node_lease(o, node, node_uid, ts, renew_s, renew_ns, holder_uid):
    """coordination.k8s.io/v1 Lease: 1 metadata, 2 spec{1 holderIdentity*, 2 leaseDurationSeconds*,
    3 acquireTime*, 4 renewTime* (MicroTime), 5 leaseTransitions*}."""
    owner = [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}]
    meta, mexp = object_meta(node, "kube-node-lease", holder_uid, ts, owner_refs=owner)
    spec = f_str(1, node) + f_int(2, 40) + f_msg(4, pb_time(renew_s, renew_ns))
    raw = f_msg(1, meta) + f_msg(2, spec)
    exp = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": mexp,
           "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                    "renewTime": rfc3339_micro(renew_s, renew_ns)}}
    return envelope("coordination.k8s.io/v1", "Lease", raw), exp


def event_obj(o, name, ns, ts, pod, pod_uid, reason, message, etype, count, node):
    """core/v1 Event: 1 metadata, 2 involvedObject, 3 reason, 4 message, 5 source{1 component,
    2 host}, 6 firstTimestamp, 7 lastTimestamp, 8 count, 9 type, 10 eventTime (MicroTime, zero =
    empty message), 11 series*, 12 action, 13 related*, 14 reportingComponent, 15 reportingInstance.
    ObjectReference: 1 kind, 2 namespace, 3 name, 4 uid, 5 apiVersion, 6 resourceVersion, 7 fieldPath."""
    meta, mexp = object_meta(name, ns, o.uid(), ts)
    inv = (f_str(1, "Pod") + f_str(2, ns) + f_str(3, pod) + f_str(4, pod_uid) + f_str(5, "v1")
           + f_str(6, "4242") + f_str(7, "spec.containers{app}"))
    raw = (f_msg(1, meta) + f_msg(2, inv) + f_str(3, reason) + f_str(4, message)
           + f_msg(5, f_str(1, "kubelet") + f_str(2, node)) + f_msg(6, pb_time(ts))
           + f_msg(7, pb_time(ts + 60 * (count - 1))) + f_int(8, count) + f_str(9, etype)
           + f_msg(10, b"") + f_str(12, "") + f_str(14, "kubelet") + f_str(15, node))
    exp = {"apiVersion": "v1", "kind": "Event", "metadata": mexp,
           "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod, "uid": pod_uid,
                              "apiVersion": "v1", "resourceVersion": "4242",
                              "fieldPath": "spec.containers{app}"},
           "reason": reason, "message": message,
           "source": {"component": "kubelet", "host": node},
           "firstTimestamp": rfc3339(ts), "lastTimestamp": rfc3339(ts + 60 * (count - 1)),
           "count": count, "type": etype, "eventTime": None,
           "reportingComponent": "kubelet", "reportingInstance": node}
    return envelope("v1", "Event", raw), exp


def deployment(o, name, ns, ts, uid, replicas, generation):
    """apps/v1 Deployment: 1 metadata, 2 spec, 3 status.
    DeploymentSpec: 1 replicas*, 2 selector, 3 template, 4 strategy, 5 minReadySeconds,
    6 revisionHistoryLimit*, 7 paused, 9 progressDeadlineSeconds*.
    LabelSelector: 1 matchLabels. PodTemplateSpec: 1 metadata, 2 spec.
    PodSpec: 2 containers, 3 restartPolicy, 4 terminationGracePeriodSeconds*, 6 dnsPolicy,
    19 schedulerName. Container: 1 name, 2 image, 13 terminationMessagePath,
    14 imagePullPolicy, 20 terminationMessagePolicy."""
    labels = {"app": name}
    meta, mexp = object_meta(name, ns, uid, ts, labels=labels, generation=generation,
                             annotations={"deployment.kubernetes.io/revision": "1"})
    # A template's ObjectMeta has a zero creationTimestamp: Time marshals zero as empty.
    tmeta = (f_str(1, "") + f_str(2, "") + f_str(3, "") + f_str(4, "") + f_str(5, "")
             + f_str(6, "") + f_int(7, 0) + f_msg(8, b"") + f_map_str(11, labels))
    container = (f_str(1, "app") + f_str(2, "registry.example.com/app:1.2.3")
                 + f_str(13, "/dev/termination-log") + f_str(14, "IfNotPresent")
                 + f_str(20, "File"))
    podspec = (f_msg(2, container) + f_str(3, "Always") + f_int(4, 30) + f_str(6, "ClusterFirst")
               + f_str(19, "default-scheduler"))
    strategy = f_str(1, "RollingUpdate")
    spec = (f_int(1, replicas) + f_msg(2, f_map_str(1, labels))
            + f_msg(3, f_msg(1, tmeta) + f_msg(2, podspec)) + f_msg(4, strategy)
            + f_int(5, 0) + f_int(6, 10) + f_bool(7, False) + f_int(9, 600))
    raw = f_msg(1, meta) + f_msg(2, spec) + f_msg(3, b"")
    exp = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": mexp,
           "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                    "template": {"metadata": {"labels": dict(labels)},
                                 "spec": {"containers": [{"name": "app",
                                                          "image": "registry.example.com/app:1.2.3"}],
                                          "restartPolicy": "Always",
                                          "terminationGracePeriodSeconds": 30,
                                          "dnsPolicy": "ClusterFirst"}},
                    "strategy": {"type": "RollingUpdate"},
                    "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}}
    return envelope("apps/v1", "Deployment", raw), exp


# ---------------------------------------------------------------------------
# Resource prefixes for the testdata kinds: kind -> (prefix under /registry, namespaced).

RESOURCES = {
    # core
    "ConfigMap": ("configmaps", True), "Endpoints": ("services/endpoints", True),
    "Event": ("events", True), "LimitRange": ("limitranges", True),
    "Namespace": ("namespaces", False), "Node": ("minions", False),
    "PersistentVolume": ("persistentvolumes", False),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True), "Pod": ("pods", True),
    "PodTemplate": ("podtemplates", True), "ReplicationController": ("controllers", True),
    "ResourceQuota": ("resourcequotas", True), "Secret": ("secrets", True),
    "Service": ("services/specs", True), "ServiceAccount": ("serviceaccounts", True),
    # admissionregistration
    "MutatingAdmissionPolicy": ("mutatingadmissionpolicies", False),
    "MutatingAdmissionPolicyBinding": ("mutatingadmissionpolicybindings", False),
    "MutatingWebhookConfiguration": ("mutatingwebhookconfigurations", False),
    "ValidatingAdmissionPolicy": ("validatingadmissionpolicies", False),
    "ValidatingAdmissionPolicyBinding": ("validatingadmissionpolicybindings", False),
    "ValidatingWebhookConfiguration": ("validatingwebhookconfigurations", False),
    # apps / extensions
    "ControllerRevision": ("controllerrevisions", True), "DaemonSet": ("daemonsets", True),
    "Deployment": ("deployments", True), "ReplicaSet": ("replicasets", True),
    "StatefulSet": ("statefulsets", True),
    # autoscaling, batch
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "CronJob": ("cronjobs", True), "Job": ("jobs", True),
    # certificates
    "CertificateSigningRequest": ("certificatesigningrequests", False),
    "ClusterTrustBundle": ("clustertrustbundles", False),
    "PodCertificateRequest": ("podcertificaterequests", True),
    # coordination
    "Lease": ("leases", True), "LeaseCandidate": ("leasecandidates", True),
    # discovery
    "EndpointSlice": ("endpointslices", True),
    # flowcontrol
    "FlowSchema": ("flowschemas", False),
    "PriorityLevelConfiguration": ("prioritylevelconfigurations", False),
    # internal.apiserver.k8s.io
    "StorageVersion": ("storageversions", False),
    # lifecycle.k8s.io (alpha)
    "EvictionRequest": ("evictionrequests", True),
    # networking / extensions
    "IPAddress": ("ipaddresses", False), "Ingress": ("ingress", True),
    "IngressClass": ("ingressclasses", False), "NetworkPolicy": ("networkpolicies", True),
    "ServiceCIDR": ("servicecidrs", False),
    # node, policy
    "RuntimeClass": ("runtimeclasses", False), "PodDisruptionBudget": ("poddisruptionbudgets", True),
    # rbac
    "ClusterRole": ("clusterroles", False), "ClusterRoleBinding": ("clusterrolebindings", False),
    "Role": ("roles", True), "RoleBinding": ("rolebindings", True),
    # resource.k8s.io
    "DeviceClass": ("deviceclasses", False), "DeviceTaintRule": ("devicetaintrules", False),
    "ResourceClaim": ("resourceclaims", True),
    "ResourceClaimTemplate": ("resourceclaimtemplates", True),
    "ResourceSlice": ("resourceslices", False),
    "ResourcePoolStatusRequest": ("resourcepoolstatusrequests", False),
    # scheduling
    "PriorityClass": ("priorityclasses", False), "PodGroup": ("podgroups", True),
    "CompositePodGroup": ("compositepodgroups", True), "Workload": ("workloads", True),
    # storage
    "CSIDriver": ("csidrivers", False), "CSINode": ("csinodes", False),
    "CSIStorageCapacity": ("csistoragecapacities", True), "StorageClass": ("storageclasses", False),
    "VolumeAttachment": ("volumeattachments", False),
    "VolumeAttributesClass": ("volumeattributesclasses", False),
    # storagemigration
    "StorageVersionMigration": ("storageversionmigrations", False),
}

NEVER_STORED = {"TokenRequest", "Scale", "DeploymentRollback", "Binding", "ComponentStatus",
                "Status", "WatchEvent", "APIVersions", "Eviction", "ImageReview",
                "SerializedReference"}


def skip_reason(fname, kind):
    if "after_roundtrip" in fname:
        return "after_roundtrip variant"
    if kind in NEVER_STORED or kind.endswith("Review") or kind.endswith("Options") \
            or kind.endswith("List") or kind.startswith("APIGroup"):
        return "never stored"
    return None


def guess_plural(kind):
    k = kind.lower()
    if k.endswith("y") and k[-2:-1] not in "aeiou":
        return k[:-1] + "ies"
    if k.endswith(("s", "x", "ch", "sh")):
        return k + "es"
    return k + "s"


def version_rank(group, version):
    """Higher = preferred storage version for the same key."""
    import re
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        stab, major, minor = -1, 0, 0
    else:
        major = int(m.group(1))
        stab = {"alpha": 0, "beta": 1, None: 2}[m.group(2)]
        minor = int(m.group(3) or 0)
    group_pref = 0 if group in ("extensions", "events.k8s.io") else 1
    return (group_pref, stab, major, minor)


# ---------------------------------------------------------------------------

class Etcd:
    def __init__(self, args, outdir):
        self.args = args
        self.outdir = outdir
        self.ep = "http://127.0.0.1:%d" % args.client_port
        self.proc = None
        self.env = dict(os.environ, ETCDCTL_API="3")
        self.env.pop("ETCDCTL_ENDPOINTS", None)
        self.calls = 0

    def start(self):
        peer = "http://127.0.0.1:%d" % self.args.peer_port
        self.log = open(os.path.join(self.outdir, "etcd.log"), "wb")
        cmd = [self.args.etcd, "--name", "k8s-fixture",
               "--data-dir", os.path.join(self.outdir, "etcd"),
               "--listen-client-urls", self.ep, "--advertise-client-urls", self.ep,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", "k8s-fixture=" + peer,
               "--initial-cluster-token", "k8s-fixture", "--initial-cluster-state", "new"]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.fail("etcd exited early with status %d" % self.proc.returncode)
            r = subprocess.run(self.ctl_cmd(["endpoint", "health", "--command-timeout=1s"]),
                               env=self.env, capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        self.fail("etcd not healthy after 20 s")

    def fail(self, msg):
        tail = ""
        try:
            with open(os.path.join(self.outdir, "etcd.log"), "rb") as f:
                tail = f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            pass
        self.kill()
        die(msg + ("\n--- etcd.log tail ---\n" + tail if tail else ""))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("etcd did not stop within 20 s of SIGTERM")
        self.log.close()
        if rc not in (0, -signal.SIGTERM):
            die("etcd exited with status %d after SIGTERM" % rc)

    def ctl_cmd(self, args):
        return [self.args.etcdctl, "--endpoints", self.ep, "--dial-timeout=5s"] + args

    def ctl(self, args, stdin=None):
        self.calls += 1
        r = subprocess.run(self.ctl_cmd(args), env=self.env, input=stdin, capture_output=True)
        if r.returncode != 0:
            self.fail("etcdctl %s failed: %s" % (" ".join(args), r.stderr.decode("utf-8", "replace")))
        return r.stdout

    def put(self, key, value, lease=None):
        args = ["put", "-w", "json"]
        if lease:
            args.append("--lease=" + lease)
        args.append(key)
        out = json.loads(self.ctl(args, stdin=value))
        return int(out["header"]["revision"])

    def delete(self, key):
        out = json.loads(self.ctl(["del", "-w", "json", key]))
        if int(out.get("deleted", 0)) != 1:
            self.fail("delete of %s deleted %s keys" % (key, out.get("deleted")))
        return int(out["header"]["revision"])

    def lease_grant(self, ttl):
        out = json.loads(self.ctl(["lease", "grant", str(ttl), "-w", "json"]))
        return "%x" % int(out["ID"])

    def get_all(self):
        return json.loads(self.ctl(["get", "", "--prefix", "-w", "json"]))


class Recorder:
    """Writes to etcd and keeps one manifest entry per key ever written."""

    def __init__(self, etcd):
        self.etcd = etcd
        self.entries = {}
        self.order = []
        self.values = {}  # key -> bytes currently stored (None if deleted)

    def put(self, key, value, meta=None, lease=None):
        rev = self.etcd.put(key, value, lease)
        e = self.entries.get(key)
        if e is None or e["deleted"]:
            if e is None:
                e = {"key": key, "history": []}
                self.entries[key] = e
                self.order.append(key)
            e["create_revision"] = rev
            e["versions"] = 0
            e["deleted"] = False
        e["versions"] += 1
        e["mod_revision"] = rev
        e["last_put_revision"] = rev
        e["lease"] = lease is not None
        e["lease_id"] = lease
        e["value_sha256"] = hashlib.sha256(value).hexdigest()
        e["value_len"] = len(value)
        e["history"].append({"op": "put", "revision": rev, "value_sha256": e["value_sha256"]})
        for k, v in (meta or {}).items():
            e[k] = v
        self.values[key] = value
        return rev

    def delete(self, key):
        rev = self.etcd.delete(key)
        e = self.entries[key]
        e["deleted"] = True
        e["mod_revision"] = rev
        e["history"].append({"op": "delete", "revision": rev})
        self.values[key] = None
        return rev


def meta_for(source, api_version, kind, namespace, name, expected, complete, fmt, encryption=None,
             **extra):
    m = {"source": source, "kind": kind, "apiVersion": api_version, "namespace": namespace,
         "name": name, "format": fmt, "encryption": encryption, "expected": expected,
         "expected_complete": complete}
    m.update(extra)
    return m


# ---------------------------------------------------------------------------

def add_testdata(rec, testdata, skipped):
    files = sorted(f for f in os.listdir(testdata) if f.endswith(".pb"))
    if not files:
        die("no .pb files in " + testdata)
    cands = []
    for fname in files:
        stem = fname[:-3]
        parts = stem.split(".")
        if len(parts) < 3:
            skipped.append({"source": fname, "reason": "unrecognised file name"})
            continue
        kind_f, version_f, group_f = parts[-1], parts[-2], ".".join(parts[:-2])
        reason = skip_reason(fname, kind_f)
        if reason:
            skipped.append({"source": fname, "reason": reason})
            continue
        with open(os.path.join(testdata, fname), "rb") as f:
            value = f.read()
        try:
            api_version, kind = envelope_gvk(value)
        except (ValueError, IndexError, UnicodeDecodeError) as ex:
            skipped.append({"source": fname, "reason": "bad envelope: %s" % ex})
            continue
        kind = kind or kind_f
        reason = skip_reason(fname, kind)
        if reason:
            skipped.append({"source": fname, "reason": reason})
            continue
        jpath = os.path.join(testdata, stem + ".json")
        try:
            with open(jpath, encoding="utf-8") as f:
                md = json.load(f).get("metadata", {})
        except (OSError, ValueError):
            md = {}
        name = md.get("name") or "nameValue"
        ns = md.get("namespace") or "namespaceValue"
        group = "" if group_f == "core" else group_f
        guessed = kind not in RESOURCES and kind != "RangeAllocation"
        prefix, namespaced = RESOURCES.get(kind, (guess_plural(kind), True))
        if kind == "RangeAllocation":
            base = "/registry/ranges/serviceips"  # where the apiserver keeps it
            namespaced = False
        elif namespaced:
            base = "/registry/%s/%s/%s" % (prefix, ns, name)
        else:
            base = "/registry/%s/%s" % (prefix, name)
        cands.append({"fname": fname, "value": value, "api_version": api_version, "kind": kind,
                      "group": group, "version": version_f, "name": name,
                      "namespace": ns if namespaced else None, "base": base, "guessed": guessed,
                      "rank": version_rank(group, version_f)})
    by_base = {}
    for c in cands:
        by_base.setdefault(c["base"], []).append(c)
    used = set()
    plan = []
    for base in sorted(by_base):
        group_c = sorted(by_base[base], key=lambda c: c["rank"], reverse=True)
        for i, c in enumerate(group_c):
            if i == 0:
                key, suffix = base, ""
            else:
                suffix = "-" + c["version"]
                if base + suffix in used or base + suffix in by_base:
                    suffix = "-%s-%s" % ((c["group"] or "core").split(".")[0], c["version"])
                key = base + suffix
            used.add(key)
            plan.append((key, suffix, c))
    for key, suffix, c in sorted(plan, key=lambda p: p[2]["fname"]):
        extra = {"key_name_suffix": suffix or None}
        if c["guessed"]:
            extra["key_prefix_guessed"] = True
        rec.put(key, c["value"], meta_for(c["fname"], c["api_version"], c["kind"], c["namespace"],
                                          c["name"], None, False, "protobuf", **extra))
    return len(plan)


def openssl_aes_cbc(key, iv, plaintext):
    with tempfile.NamedTemporaryFile() as f:
        f.write(plaintext)
        f.flush()
        r = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex(),
                            "-in", f.name], capture_output=True)
    if r.returncode != 0:
        die("openssl enc failed: " + r.stderr.decode("utf-8", "replace"))
    ct = r.stdout
    # independent check with the Python library
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = d.update(ct) + d.finalize()
    u = sym_padding.PKCS7(128).unpadder()
    if u.update(padded) + u.finalize() != plaintext:
        die("openssl AES-CBC output does not decrypt back")
    return ct


def gcm_seal(key, etcd_key, plaintext, rng):
    nonce = bytes(rng.getrandbits(8) for _ in range(12))
    return nonce + AESGCM(key).encrypt(nonce, plaintext, etcd_key.encode())


def rbytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--testdata", required=True, help="dir with k8s.io/api testdata *.pb/*.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--client-port", type=int, required=True)
    ap.add_argument("--peer-port", type=int, required=True)
    ap.add_argument("--etcd", default="etcd")
    ap.add_argument("--etcdctl", default="etcdctl")
    ap.add_argument("--force", action="store_true", help="remove an existing OUTDIR/etcd first")
    args = ap.parse_args()
    t0 = time.time()

    for tool in (args.etcd, args.etcdctl, "openssl"):
        if shutil.which(tool) is None:
            die("%s not found (Debian: apt-get install etcd-server etcd-client openssl)" % tool, 2)
    ver = subprocess.run([args.etcd, "--version"], capture_output=True, text=True).stdout
    if "etcd Version: 3.4." not in ver:
        die("etcd 3.4 required, found: " + (ver.splitlines() or ["?"])[0], 2)
    if not os.path.isdir(args.testdata):
        die("--testdata %s is not a directory" % args.testdata)

    outdir = os.path.abspath(args.out)
    os.makedirs(outdir, exist_ok=True)
    datadir = os.path.join(outdir, "etcd")
    if os.path.exists(datadir):
        if not args.force:
            die("%s exists (use --force to replace it)" % datadir)
        shutil.rmtree(datadir)

    rng = random.Random(SEED)
    o = Obj(rng)
    etcd = Etcd(args, outdir)
    etcd.start()
    try:
        rec = Recorder(etcd)
        skipped = []
        counts = {}
        gen = "generated"

        # 1. namespaces
        namespaces = ["default", "kube-system", "kube-public", "kube-node-lease", "team-a", "encrypted"]
        for i, ns in enumerate(namespaces):
            v, exp = namespace_obj(o, ns, BASE_TS + i)
            rec.put("/registry/namespaces/" + ns, v,
                    meta_for(gen, "v1", "Namespace", None, ns, exp, True, "protobuf"))
        counts["namespaces"] = len(namespaces)

        # 2. the k8s.io/api testdata objects, as stored
        counts["testdata_pb"] = add_testdata(rec, args.testdata, skipped)

        # 3. ConfigMaps
        cm_ns = ["default", "kube-system", "team-a"]
        cm_keys = []
        for i in range(200):
            ns = cm_ns[i % 3]
            name = "cm-%03d" % i
            data = {"key%d" % j: "value-%d-%d" % (i, j) for j in range(1 + i % 4)}
            binary = None
            immutable = None
            labels = annotations = managed = None
            if i % 10 == 0:
                data["config.yaml"] = "server:\n  port: %d\n  hosts:\n    - a\n    - b\n" % (8000 + i)
            if i % 25 == 1:
                binary = {"blob.bin": bytes(range(256))[: 16 + i], "zero.bin": b"\x00\xff\n"}
            if i % 20 == 2:
                immutable = True
            if i % 40 == 3:
                immutable = False
            if i % 7 == 0:
                labels = {"app": "app-%d" % (i % 5), "tier": "backend", "app.kubernetes.io/part-of": "demo"}
            if i % 11 == 0:
                annotations = {"note": "<b>bold</b> & ünïcødé\ttab \u2028 end",
                               "1": "one", "10": "ten", "9": "nine", "a.b": "x", "a-b": "y", "a_b": "z"}
            if i % 5 == 0:
                managed = [{"manager": "kubectl-client-side-apply", "operation": "Update",
                            "apiVersion": "v1", "time": BASE_TS + 100 + i,
                            "fieldsV1": '{"f:data":{".":{},"f:key0":{}}}'}]
            if i % 50 == 3:
                data = None  # no data at all
            if i == 37:
                data["empty"] = ""
                data["yes"] = "true"
                data["leading-space"] = " x"
                data["crlf"] = "a\r\nb"
            if i == 199:
                data["big.txt"] = "".join("line %05d of a large config map value\n" % n for n in range(1600))
            v, exp = configmap(o, name, ns, BASE_TS + 1000 + i, data, binary, immutable, labels,
                               annotations, managed)
            key = "/registry/configmaps/%s/%s" % (ns, name)
            rec.put(key, v, meta_for(gen, "v1", "ConfigMap", ns, name, exp, True, "protobuf",
                                     managed_fields=bool(managed)))
            cm_keys.append((key, ns, name, data))
        counts["configmaps"] = 200

        # 4. Secrets (identity)
        sec_ns = ["default", "kube-system", "team-a"]
        for i in range(50):
            ns = sec_ns[i % 3]
            name = "secret-%02d" % i
            t = i % 5
            if t == 0:
                type_, data = "Opaque", {"password": ("pw-%d" % i).encode(), "username": b"admin"}
            elif t == 1:
                type_, data = "kubernetes.io/tls", {"tls.crt": b"-----BEGIN CERTIFICATE-----\nMIIB%d\n-----END CERTIFICATE-----\n" % i,
                                                    "tls.key": rbytes(rng, 48)}
            elif t == 2:
                type_ = "kubernetes.io/dockerconfigjson"
                data = {".dockerconfigjson": b'{"auths":{"registry.example.com":{"auth":"dXNlcjpwYXNz"}}}'}
            elif t == 3:
                type_, data = "kubernetes.io/basic-auth", {"password": b"s3cr3t\x00\xff", "username": b"bob"}
            else:
                type_, data = "Opaque", {"binary": rbytes(rng, 32 + i), "empty": b""}
            immutable = True if i % 10 == 5 else None
            v, exp = secret(o, name, ns, BASE_TS + 2000 + i, data, type_, immutable,
                            labels={"team": "a"} if i % 4 == 0 else None)
            rec.put("/registry/secrets/%s/%s" % (ns, name), v,
                    meta_for(gen, "v1", "Secret", ns, name, exp, True, "protobuf"))
        counts["secrets_plain"] = 50

        # 5. encrypted Secrets
        enc = {
            "aescbc": [("key1", rbytes(rng, 32)), ("key2", rbytes(rng, 32))],
            "aesgcm": [("gcmkey1", rbytes(rng, 16))],  # AES-128-GCM on purpose
            "secretbox": [("sbkey1", rbytes(rng, 32))],
        }
        kms_v2_name, kms_v1_name = "kms-v2-plugin", "kms-v1-plugin"
        dek_v2, dek_v1 = rbytes(rng, 32), rbytes(rng, 32)
        retired_key = rbytes(rng, 32)
        enc_list = [
            ("enc-aescbc", "aescbc", "key1"), ("enc-aescbc-key2", "aescbc", "key2"),
            ("enc-aesgcm", "aesgcm", "gcmkey1"), ("enc-secretbox", "secretbox", "sbkey1"),
            ("enc-kms-v2", "kms-v2", kms_v2_name), ("enc-kms-v1", "kms-v1", kms_v1_name),
            ("enc-unknown-key", "aescbc", "retired-key"),
        ]
        for i, (name, prov, kname) in enumerate(enc_list):
            ns = "encrypted"
            key = "/registry/secrets/%s/%s" % (ns, name)
            plain, exp = secret(o, name, ns, BASE_TS + 3000 + i,
                                {"password": ("top-secret-%s" % prov).encode(), "raw": b"\x00\x01\xfe\xff"},
                                "Opaque")
            einfo = {"provider": prov.split("-")[0], "key_name": kname, "in_config": True}
            if prov == "aescbc":
                k = dict(enc["aescbc"]).get(kname, retired_key)
                if kname == "retired-key":
                    einfo["in_config"] = False
                iv = rbytes(rng, 16)
                value = b"k8s:enc:aescbc:v1:" + kname.encode() + b":" + iv + openssl_aes_cbc(k, iv, plain)
            elif prov == "aesgcm":
                k = dict(enc["aesgcm"])[kname]
                value = b"k8s:enc:aesgcm:v1:" + kname.encode() + b":" + gcm_seal(k, key, plain, rng)
            elif prov == "secretbox":
                k = dict(enc["secretbox"])[kname]
                nonce = rbytes(rng, 24)
                box = nacl.secret.SecretBox(k).encrypt(plain, nonce)  # nonce + tag + ciphertext
                assert box[:24] == nonce
                value = b"k8s:enc:secretbox:v1:" + kname.encode() + b":" + bytes(box)
            elif prov == "kms-v2":
                edek = b"wrapped-dek-v2:" + hashlib.sha256(dek_v2).digest()[:16]
                key_id = "kms-key-id-1"
                # EncryptedObject (proto3): 1 encryptedData, 2 keyID, 3 encryptedDEKSource,
                # 4 annotations, 5 encryptedDEKSourceType (0 = AES_GCM_KEY: the proto3 default,
                # so it is not written, as the Go marshaller does).
                eo = f_bytes(1, gcm_seal(dek_v2, key, plain, rng)) + f_str(2, key_id) + f_bytes(3, edek)
                value = b"k8s:enc:kms:v2:" + kname.encode() + b":" + eo
                einfo.update({"kms_api": "v2", "key_id": key_id, "encrypted_dek_b64": b64(edek),
                              "encrypted_dek_source_type": 0})
            elif prov == "kms-v1":
                edek = b"wrapped-dek-v1:" + hashlib.sha256(dek_v1).digest()
                value = (b"k8s:enc:kms:v1:" + kname.encode() + b":" + struct.pack(">H", len(edek))
                         + edek + gcm_seal(dek_v1, key, plain, rng))
                einfo.update({"kms_api": "v1", "encrypted_dek_b64": b64(edek), "data_mode": "aesgcm"})
            einfo["provider"] = "kms" if prov.startswith("kms") else prov
            einfo["plaintext_sha256"] = hashlib.sha256(plain).hexdigest()
            rec.put(key, value, meta_for(gen, "v1", "Secret", ns, name, exp, True, "encrypted", einfo))
        counts["secrets_encrypted"] = len(enc_list)

        # 6. a Deployment scaled to zero (pointer field present with value 0)
        dep_uid = o.uid()
        key = "/registry/deployments/default/scaled-to-zero"
        v, exp = deployment(o, "scaled-to-zero", "default", BASE_TS + 4000, dep_uid, 3, 1)
        rec.put(key, v)
        v, exp = deployment(o, "scaled-to-zero", "default", BASE_TS + 4000, dep_uid, 0, 2)
        rec.put(key, v, meta_for(gen, "apps/v1", "Deployment", "default", "scaled-to-zero", exp, False,
                                 "protobuf", note="expected lists only the fields set; spec.replicas is 0"))
        counts["deployments"] = 1

        # 7. JSON-stored: CRDs, custom resources, an APIService
        def crd(plural, kind, scope, i):
            name = plural + ".example.com"
            obj = {"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
                   "metadata": {"name": name, "uid": o.uid(), "generation": 1,
                                "creationTimestamp": rfc3339(BASE_TS + 5000 + i)},
                   "spec": {"group": "example.com",
                            "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                                      "listKind": kind + "List"},
                            "scope": scope,
                            "versions": [{"name": "v1", "served": True, "storage": True,
                                          "schema": {"openAPIV3Schema": {
                                              "type": "object",
                                              "x-kubernetes-preserve-unknown-fields": True}}}],
                            "conversion": {"strategy": "None"}},
                   "status": {"conditions": [{"type": "Established", "status": "True",
                                              "lastTransitionTime": rfc3339(BASE_TS + 5001 + i),
                                              "reason": "InitialNamesAccepted",
                                              "message": "the initial names have been accepted"}],
                              "acceptedNames": {"plural": plural, "singular": kind.lower(),
                                                "kind": kind, "listKind": kind + "List"},
                              "storedVersions": ["v1"]}}
            value = (go_json(obj) + "\n").encode()
            exp = json.loads(json.dumps(obj))
            exp["metadata"]["resourceVersion"] = None
            rec.put("/registry/apiextensions.k8s.io/customresourcedefinitions/" + name, value,
                    meta_for(gen, "apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name,
                             exp, True, "json"))
        crd("widgets", "Widget", "Namespaced", 0)
        crd("clusterwidgets", "ClusterWidget", "Cluster", 1)

        crs = [("Widget", "widgets", "default", "w-alpha",
                {"size": 3, "ratio": 0.25, "big": 9007199254740993, "enabled": True, "nothing": None,
                 "tags": ["a", "b"], "text": "R&D <team> ünïcødé"}),
               ("Widget", "widgets", "team-a", "w-beta",
                {"size": -7, "nested": {"list": [{"k": 1}, {"k": 2}], "empty": {}}}),
               ("ClusterWidget", "clusterwidgets", None, "cw-global", {"region": "eu-west-1"})]
        for i, (kind, plural, ns, name, spec) in enumerate(crs):
            md = {"creationTimestamp": rfc3339(BASE_TS + 5100 + i), "generation": 1, "name": name,
                  "uid": o.uid()}
            if ns:
                md["namespace"] = ns
            obj = {"apiVersion": "example.com/v1", "kind": kind, "metadata": md, "spec": spec}
            value = (go_json(obj, sort_keys=True) + "\n").encode()
            key = "/registry/example.com/%s/%s%s" % (plural, ns + "/" if ns else "", name)
            exp = json.loads(json.dumps(obj))
            exp["metadata"]["resourceVersion"] = None
            rec.put(key, value, meta_for(gen, "example.com/v1", kind, ns, name, exp, True, "json"))
        counts["custom_resources"] = len(crs)

        apisvc = {"kind": "APIService", "apiVersion": "apiregistration.k8s.io/v1",
                  "metadata": {"name": "v1beta1.metrics.example.io", "uid": o.uid(),
                               "creationTimestamp": rfc3339(BASE_TS + 5200),
                               "labels": {"app": "metrics"}},
                  "spec": {"service": {"namespace": "kube-system", "name": "metrics", "port": 443},
                           "group": "metrics.example.io", "version": "v1beta1",
                           "insecureSkipTLSVerify": True, "groupPriorityMinimum": 100,
                           "versionPriority": 100},
                  "status": {"conditions": [{"type": "Available", "status": "False",
                                             "lastTransitionTime": rfc3339(BASE_TS + 5201),
                                             "reason": "ServiceNotFound",
                                             "message": "service/metrics in \"kube-system\" is not present"}]}}
        exp = json.loads(json.dumps(apisvc))
        exp["metadata"]["resourceVersion"] = None
        rec.put("/registry/apiregistration.k8s.io/apiservices/v1beta1.metrics.example.io",
                (go_json(apisvc) + "\n").encode(),
                meta_for(gen, "apiregistration.k8s.io/v1", "APIService", None, "v1beta1.metrics.example.io",
                         exp, True, "json"))

        # 8. a non-Kubernetes key
        rec.put("/other-app/config", b"listen = 0.0.0.0:9000\nmode = standalone\n",
                meta_for(gen, None, None, None, None, None, True, "text"))

        # 9. Events on an etcd lease
        ev_lease = etcd.lease_grant(3600)
        reasons = [("Scheduled", "Normal", "Successfully assigned %s/%s to %s"),
                   ("Pulled", "Normal", "Container image \"registry.example.com/app:1.2.3\" already present on machine"),
                   ("BackOff", "Warning", "Back-off restarting failed container app in pod %s/%s")]
        for i in range(20):
            ns = ["default", "team-a", "kube-system"][i % 3]
            pod = "web-%d-%s" % (i % 4, "abcde"[i % 5] * 5)
            node = "node-%d" % (1 + i % 3)
            reason, etype, msg = reasons[i % 3]
            if "%s" in msg:
                msg = msg % ((ns, pod, node) if msg.count("%s") == 3 else (ns, pod))
            name = "%s.%016x" % (pod, 0x17c0000000000000 + i * 7919)
            v, exp = event_obj(o, name, ns, BASE_TS + 6000 + i * 10, pod, o.uid(), reason, msg, etype,
                               1 + i % 4, node)
            rec.put("/registry/events/%s/%s" % (ns, name), v,
                    meta_for(gen, "v1", "Event", ns, name, exp, True, "protobuf"), lease=ev_lease)
        counts["events"] = 20

        # 10. node Leases, renewed several times
        for n in range(1, 4):
            node = "node-%d" % n
            node_uid, lease_uid = o.uid(), o.uid()
            for r in range(4):
                v, exp = node_lease(o, node, node_uid, BASE_TS + 7000 + n, BASE_TS + 7100 + n + 10 * r,
                                    123456789 + r * 1000, lease_uid)
                rec.put("/registry/leases/kube-node-lease/" + node, v,
                        meta_for(gen, "coordination.k8s.io/v1", "Lease", "kube-node-lease", node, exp,
                                 True, "protobuf"))
        counts["node_leases"] = 3

        # 11. updates: 10 ConfigMaps rewritten 3 times (4 versions)
        updated = []
        for idx in range(10):
            key, ns, name, _ = cm_keys[idx]
            uid_keep = rec.entries[key]["expected"]["metadata"]["uid"]  # an update keeps the uid
            for n in range(1, 4):
                data = {"key0": "value-%d-0-rev%d" % (idx, n), "generation": str(n)}
                v, exp = configmap(o, name, ns, BASE_TS + 1000 + idx, data, uid=uid_keep)
                rec.put(key, v, meta_for(gen, "v1", "ConfigMap", ns, name, exp, True, "protobuf",
                                         managed_fields=False))
            updated.append(key)
        counts["configmaps_updated_3x"] = len(updated)

        # 12. deletes, and one delete + recreate
        for idx in range(190, 195):
            rec.delete(cm_keys[idx][0])
        rec.delete("/registry/secrets/%s/secret-49" % sec_ns[49 % 3])
        key, ns, name, data = cm_keys[195]
        rec.delete(key)
        v, exp = configmap(o, name, ns, BASE_TS + 9000, {"recreated": "yes"})
        rec.put(key, v, meta_for(gen, "v1", "ConfigMap", ns, name, exp, True, "protobuf",
                                 managed_fields=False, recreated=True))
        counts["deleted"] = 6

        # 13. read everything back and check it against what was written
        got = etcd.get_all()
        revision = int(got["header"]["revision"])
        seen = {}
        for kv in got.get("kvs", []):
            seen[base64.b64decode(kv["key"]).decode("utf-8")] = kv
        for key, e in rec.entries.items():
            kv = seen.pop(key, None)
            if e["deleted"]:
                if kv is not None:
                    etcd.fail("deleted key %s still present" % key)
                continue
            if kv is None:
                etcd.fail("key %s missing" % key)
            if base64.b64decode(kv.get("value", "")) != rec.values[key]:
                etcd.fail("value of %s differs from what was written" % key)
            for field, want in (("mod_revision", e["mod_revision"]), ("create_revision", e["create_revision"]),
                                ("version", e["versions"])):
                if int(kv.get(field, 0)) != want:
                    etcd.fail("%s of %s: etcd %s, recorded %s" % (field, key, kv.get(field), want))
            lease = "%x" % int(kv.get("lease", 0)) if kv.get("lease") else None
            if lease != e["lease_id"]:
                etcd.fail("lease of %s: etcd %s, recorded %s" % (key, lease, e["lease_id"]))
        if seen:
            etcd.fail("unexpected keys in etcd: %s" % sorted(seen)[:5])
        member_id = "%x" % int(got["header"]["member_id"])
        cluster_id = "%x" % int(got["header"]["cluster_id"])
    except BaseException:
        etcd.kill()
        raise
    etcd.stop()

    # resourceVersion as the apiserver would report it: the revision of the last put
    for e in rec.entries.values():
        exp = e.get("expected")
        if isinstance(exp, dict) and isinstance(exp.get("metadata"), dict) \
                and "resourceVersion" in exp["metadata"]:
            exp["metadata"]["resourceVersion"] = str(e["last_put_revision"])

    entries = []
    field_order = ["key", "source", "kind", "apiVersion", "namespace", "name", "format", "deleted",
                   "lease", "lease_id", "encryption", "create_revision", "mod_revision",
                   "last_put_revision", "versions", "value_len", "value_sha256"]
    for key in rec.order:
        e = rec.entries[key]
        out = {f: e.get(f) for f in field_order}
        for k in sorted(e):
            if k not in out and k not in ("expected", "expected_complete", "history"):
                out[k] = e[k]
        out["history"] = e["history"]
        out["expected_complete"] = e.get("expected_complete", False)
        out["expected"] = e.get("expected")
        entries.append(out)

    manifest = {
        "revision": revision,
        "member_id": member_id,
        "cluster_id": cluster_id,
        "etcd_version": ver.splitlines()[0],
        "testdata": os.path.abspath(args.testdata),
        "counts": dict(counts, keys_written=len(entries),
                       keys_live=sum(1 for e in entries if not e["deleted"])),
        "event_lease_id": ev_lease,
        "skipped_sources": skipped,
        "entries": entries,
    }
    with open(os.path.join(outdir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")

    # EncryptionConfiguration (order matters: readers try providers/keys in this order)
    lines = ["apiVersion: apiserver.config.k8s.io/v1", "kind: EncryptionConfiguration", "resources:",
             "  - resources:", "      - secrets", "    providers:"]
    for prov in ("aescbc", "aesgcm", "secretbox"):
        lines += ["      - %s:" % prov, "          keys:"]
        for kname, kbytes in enc[prov]:
            lines += ["            - name: %s" % kname, "              secret: %s" % b64(kbytes)]
    lines += ["      - kms:", "          apiVersion: v2", "          name: %s" % kms_v2_name,
              "          endpoint: unix:///nonexistent/kms-v2.sock", "          timeout: 3s",
              "      - kms:", "          apiVersion: v1", "          name: %s" % kms_v1_name,
              "          endpoint: unix:///nonexistent/kms-v1.sock", "          cachesize: 100",
              "          timeout: 3s",
              "      - identity: {}"]
    with open(os.path.join(outdir, "encryption-config.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(outdir, "kms-deks.json"), "w") as f:
        json.dump({kms_v2_name: b64(dek_v2), kms_v1_name: b64(dek_v1)}, f, indent=1)
        f.write("\n")

    print("make_fixture.py: %d keys written (%d live), revision %d, %d etcdctl calls, %.1f s -> %s"
          % (len(entries), manifest["counts"]["keys_live"], revision, etcd.calls, time.time() - t0, outdir))


if __name__ == "__main__":
    main()
