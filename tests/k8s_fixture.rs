//! Kubernetes objects read back from a real etcd 3.4 data dir that
//! `testdata/k8s/make_fixture.py` fills in the test run (every stored kind
//! of ../shared/k8s-testdata under its real key, generated ConfigMaps,
//! Secrets, Events on a lease, Leases, custom resources as JSON, a
//! Deployment scaled to zero, encrypted Secrets). Each object must decode to
//! what the script wrote; and kubectl itself must print our JSON exactly as
//! we print it, in JSON and in YAML.

mod common;
use common::port;
use etcd_rescue::k8s::render::{kubectl_json, kubectl_yaml};
use etcd_rescue::k8s::schema;
use etcd_rescue::mvcc::range::{range_stream, RangeRequest};
use etcd_rescue::mvcc::KeyIndex;
use etcd_rescue::ops::k8s::{object_of, K8sObject, ShowOptions};
use etcd_rescue::ops::open::OpenDb;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s-testdata/HEAD")
}

/// Everything the fixture needs, or (outside CI) a reason to skip.
fn prerequisites() -> bool {
    let mut missing = Vec::new();
    if !shared().is_dir() {
        missing.push("../shared/k8s-testdata".to_string());
    }
    for (cmd, arg) in [
        ("etcd", "--version"),
        ("kubectl", "version"),
        ("openssl", "version"),
    ] {
        let ok = Command::new(cmd)
            .arg(arg)
            .args(if cmd == "kubectl" {
                vec!["--client"]
            } else {
                vec![]
            })
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            missing.push(cmd.to_string());
        }
    }
    let py = Command::new("python3")
        .args(["-c", "import cryptography, nacl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !py {
        missing.push("python3 with cryptography and pynacl".into());
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "missing for the Kubernetes fixture: {missing:?} (scripts/test.sh installs them)"
    );
    eprintln!("SKIPPED: missing {missing:?}");
    false
}

fn make_fixture(out: &Path) -> Value {
    let st = Command::new("python3")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/k8s/make_fixture.py"))
        .arg("--testdata")
        .arg(shared())
        .arg("--out")
        .arg(out)
        .args([
            "--client-port",
            &port().to_string(),
            "--peer-port",
            &port().to_string(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "make_fixture.py failed");
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// The JSON the apiserver would serve for a test-data object stored at
/// `mod_revision`: the file's JSON with resourceVersion set, managedFields
/// hidden.
fn served_testdata(file: &str, mod_revision: i64) -> Value {
    let name = file.trim_end_matches(".pb");
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(shared().join(format!("{name}.json"))).unwrap())
            .unwrap();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert(
            "resourceVersion".into(),
            Value::String(mod_revision.to_string()),
        );
        m.remove("managedFields");
    }
    v
}

/// The object stored under exactly `key`, if any.
fn object_at(index: &KeyIndex<'_>, key: &str, show: &ShowOptions) -> Option<K8sObject> {
    let mut found = None;
    range_stream(
        index,
        &RangeRequest::from_cli(key.as_bytes(), None, false, false),
        &mut |kv| {
            found = Some(object_of(schema::builtin(), &kv, show));
            Ok(())
        },
    )
    .unwrap();
    found
}

/// Whether every member of `want` is in `got` with the same value.
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|x| contains(x, v))),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(x, y)| contains(x, y))
        }
        _ => got == want,
    }
}

#[test]
fn fixture_objects_decode_and_print_as_kubectl_prints_them() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let manifest = make_fixture(tmp.path());
    let input = etcd_rescue::input::resolve(&tmp.path().join("etcd")).unwrap();
    let db = OpenDb::open(&input).unwrap();
    let bolt = db.bolt().unwrap();
    let index = KeyIndex::build(&bolt).unwrap();
    let show = ShowOptions {
        managed_fields: false,
        secrets: true,
        keyring: None,
    };
    let mut wrong = Vec::new();
    let mut objects = Vec::new();
    let (mut checked, mut encrypted) = (0, 0);
    for e in manifest["entries"].as_array().unwrap() {
        if e["deleted"] == true {
            continue;
        }
        let key = e["key"].as_str().unwrap();
        let found = object_at(&index, key, &show);
        let Some(o) = found else {
            wrong.push(format!("{key}: not found"));
            continue;
        };
        if e["format"] == "text" {
            if o.object.is_some() || o.error.is_none() {
                wrong.push(format!("{key}: plain text passed off as an object"));
            }
            continue;
        }
        if !e["encryption"].is_null() {
            encrypted += 1;
            if o.object.is_some() || o.error.is_none() {
                wrong.push(format!("{key}: encrypted value shown without a key"));
            }
            continue;
        }
        let Some(obj) = o.object.clone() else {
            wrong.push(format!("{key}: {:?}", o.error));
            continue;
        };
        checked += 1;
        let ok = if e["source"] == "generated" {
            if e["expected_complete"] == true {
                obj == e["expected"]
            } else {
                contains(&obj, &e["expected"])
            }
        } else {
            obj == served_testdata(e["source"].as_str().unwrap(), o.mod_revision)
        };
        if !ok {
            wrong.push(format!("{key}: decoded {obj}"));
        }
        if o.notes.is_empty() {
            objects.push(obj);
        }
    }
    // With the apiserver's encryption config (and the KMS data keys), every
    // encrypted Secret decrypts to what was written; a key rotated out of
    // the config is named in a clean per-object error.
    let mut ring = etcd_rescue::k8s::crypt::Keyring::from_config(
        &std::fs::read_to_string(tmp.path().join("encryption-config.yaml")).unwrap(),
    )
    .unwrap();
    let deks: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("kms-deks.json")).unwrap()).unwrap();
    for (name, key) in deks.as_object().unwrap() {
        let k = etcd_rescue::k8s::crypt::b64_decode(key.as_str().unwrap()).unwrap();
        ring.kms_keys.insert(name.clone(), k);
    }
    let with_keys = ShowOptions {
        managed_fields: false,
        secrets: true,
        keyring: Some(ring),
    };
    let mut decrypted = 0;
    for e in manifest["entries"].as_array().unwrap() {
        if e["encryption"].is_null() || e["deleted"] == true {
            continue;
        }
        let key = e["key"].as_str().unwrap();
        let found = object_at(&index, key, &with_keys);
        let o = found.unwrap();
        let provider = e["encryption"]["provider"].as_str().unwrap();
        if e["encryption"]["in_config"] == true {
            if o.object.as_ref() == Some(&e["expected"]) {
                decrypted += 1;
            } else {
                wrong.push(format!("{key} ({provider}): {:?} {:?}", o.error, o.object));
            }
        } else if o.object.is_some()
            || !o
                .error
                .as_deref()
                .unwrap_or("")
                .contains("no key configured")
        {
            wrong.push(format!(
                "{key}: a key not in the config gave {:?} {:?}",
                o.error, o.object
            ));
        }
    }
    println!("k8s fixture: {decrypted} encrypted Secrets decrypted (aescbc by openssl, aesgcm, secretbox, KMS v1 and v2 by Python cryptography)");
    assert!(decrypted >= 6, "only {decrypted} decrypted");

    println!(
        "k8s fixture: {checked} objects decoded as written, {encrypted} encrypted values refused without a key, {} wrong",
        wrong.len()
    );
    assert!(checked > 400, "only {checked} objects checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // kubectl prints our JSON exactly as we print it. kubectl needs an
    // edit to print a local file: it adds a label, and we add the same
    // label to our objects before printing them ourselves.
    for o in &mut objects {
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            let labels = m
                .entry("labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(l) = labels.as_object_mut() {
                l.insert("etcd-rescue-oracle".into(), Value::String("x".into()));
            } else {
                *labels = serde_json::json!({"etcd-rescue-oracle": "x"});
            }
        }
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
    let file = tmp.path().join("objects.json");
    std::fs::write(&file, serde_json::to_vec(&list).unwrap()).unwrap();
    // jsonpath: kubectl evaluates each template over each object; our
    // evaluator must print the same bytes (or fail where kubectl fails).
    // No wildcard over maps: Go visits map keys in random order.
    let mut compared = 0;
    for t in [
        "{.metadata.name}{\"\\n\"}",
        "{.kind}/{.metadata.namespace}|{.apiVersion}{\"\\n\"}",
        "{.metadata.labels}{\"\\n\"}",
        "{.spec.containers[*].name}{\"\\n\"}",
        "{range .spec.containers[*]}{.name}={.image};{end}{\"\\n\"}",
        "{.spec.template.spec.containers[?(@.name==\"nameValue\")].image}{\"\\n\"}",
        "{.spec.containers[0].ports[-1:].containerPort}{\"\\n\"}",
        "{.data}{\"\\n\"}",
        "{.metadata.creationTimestamp} {.metadata.generation}{\"\\n\"}",
        "{.spec.replicas} {.status.replicas}{\"\\n\"}",
        "{.metadata.ownerReferences[*]['kind','name']}{\"\\n\"}",
        "{.spec.ports[?(@.port>1)].name}{\"\\n\"}",
        "{.metadata.finalizers[0]}{\"\\n\"}",
        "{.spec}{\"\\n\"}",
    ] {
        let k = Command::new("kubectl")
            .args(["label", "--local", "-f"])
            .arg(&file)
            .args(["--overwrite", "etcd-rescue-oracle=x", "-o"])
            .arg(format!("jsonpath={t}"))
            .output()
            .unwrap();
        let tpl = etcd_rescue::k8s::jsonpath::Template::parse(t).unwrap();
        let ours: Result<String, _> = objects.iter().map(|o| tpl.execute(o)).collect();
        match ours {
            Ok(text) => {
                assert!(
                    k.status.success(),
                    "{t}: kubectl failed: {}",
                    String::from_utf8_lossy(&k.stderr)
                );
                assert_eq!(String::from_utf8_lossy(&k.stdout), text, "{t}");
            }
            Err(e) => assert!(!k.status.success(), "{t}: we failed ({e}), kubectl did not"),
        }
        compared += 1;
    }
    println!(
        "k8s fixture: {compared} jsonpath templates print as kubectl prints them over {} objects",
        objects.len()
    );

    for (format, ours) in [
        ("yaml", objects.iter().map(kubectl_yaml).collect::<String>()),
        ("json", objects.iter().map(kubectl_json).collect::<String>()),
    ] {
        let o = Command::new("kubectl")
            .args(["label", "--local", "-f"])
            .arg(&file)
            .args(["-o", format, "--overwrite", "etcd-rescue-oracle=x"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "kubectl: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let theirs = String::from_utf8(o.stdout).unwrap();
        if theirs != ours {
            let at = theirs
                .lines()
                .zip(ours.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let show = |s: &str| {
                s.lines()
                    .skip(at.saturating_sub(3))
                    .take(12)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "{format}: kubectl differs from us at line {}:\n--- kubectl\n{}\n--- ours\n{}",
                at + 1,
                show(&theirs),
                show(&ours)
            );
        }
        println!(
            "k8s fixture: kubectl {format} output identical for {} objects",
            objects.len()
        );
    }

    // extract: one file per object, Secrets 0600; the --for-apply tree is
    // stripped of server-set fields and kubectl reads every file of it.
    let db_dir = tmp.path().join("etcd");
    let bin = env!("CARGO_BIN_EXE_etcd-rescue");
    let all = tmp.path().join("all");
    let o = Command::new(bin)
        .args(["k8s", "extract"])
        .arg(&db_dir)
        .arg("--to")
        .arg(&all)
        .args(["--show-secrets", "--encryption-config"])
        .arg(tmp.path().join("encryption-config.yaml"))
        .output()
        .unwrap();
    let files: Vec<PathBuf> = walk(&all);
    // 426 plain objects, 4 of 7 encrypted ones (KMS needs --kms-dek, one key
    // was rotated out of the config).
    assert_eq!(
        files.len(),
        checked + 4,
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "three values could not be decrypted: exit 1"
    );
    #[cfg(unix)]
    for f in files.iter().filter(|f| f.starts_with(all.join("secrets"))) {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            f.display()
        );
    }
    let apply = tmp.path().join("apply");
    let o = Command::new(bin)
        .args(["k8s", "extract"])
        .arg(&db_dir)
        .arg("--to")
        .arg(&apply)
        .arg("--for-apply")
        .output()
        .unwrap();
    let files = walk(&apply);
    assert!(files.len() > 200, "{}", String::from_utf8_lossy(&o.stdout));
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for field in [
            "\n  uid:",
            "\n  resourceVersion:",
            "\n  managedFields:",
            "\nstatus:",
        ] {
            assert!(!text.contains(field), "{}: {field:?} left in", f.display());
        }
    }
    let k = Command::new("kubectl")
        .args(["label", "--local", "-R", "-f"])
        .arg(&apply)
        .args(["-o", "name", "--overwrite", "etcd-rescue-oracle=x"])
        .output()
        .unwrap();
    assert!(
        k.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&k.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&k.stdout).lines().count(),
        files.len()
    );
    // decode: a value as `etcdctl get --print-value-only` prints it (raw
    // bytes and a newline), piped in, decrypted with the config and key.
    for key in [
        "/registry/configmaps/default/cm-000",
        "/registry/secrets/encrypted/enc-aesgcm",
    ] {
        let value = Command::new(bin)
            .args(["get"])
            .arg(&db_dir)
            .args([key, "--print-value-only"])
            .output()
            .unwrap()
            .stdout;
        let mut child = Command::new(bin)
            .args([
                "k8s",
                "decode",
                "-",
                "-o",
                "json",
                "--show-secrets",
                "--key",
                key,
            ])
            .arg("--encryption-config")
            .arg(tmp.path().join("encryption-config.yaml"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &value).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{key}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got: Value = serde_json::from_slice(&o.stdout).unwrap();
        let want = manifest["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .unwrap()["expected"]
            .clone();
        // decode has no etcd revision: everything but resourceVersion.
        let mut want = want;
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert_eq!(got, want, "{key}");
    }
    // decode reads etcdctl's key-and-value output (our `get` prints it as
    // etcdctl does), many pairs, and -o name names each object.
    let kv = Command::new(bin)
        .arg("get")
        .arg(&db_dir)
        .args(["/registry/configmaps/default/", "--prefix"])
        .output()
        .unwrap()
        .stdout;
    let mut child = Command::new(bin)
        .args(["k8s", "decode", "-", "-w", "name"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &kv).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let want: Vec<String> = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["deleted"] != true
                && e["key"]
                    .as_str()
                    .unwrap()
                    .starts_with("/registry/configmaps/default/")
        })
        .map(|e| format!("configmap/{}", e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names, want);
    // kubectl habits: TYPE/NAME, TYPE,TYPE, -o name, label selectors.
    let lines = |args: &[&str]| -> Vec<String> {
        let o = Command::new(bin)
            .args(["k8s", "get"])
            .arg(&db_dir)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let cm = &want[..2];
    let by_name: Vec<String> = cm.iter().map(|n| n.replace("configmap/", "cm/")).collect();
    let mut args: Vec<&str> = by_name.iter().map(String::as_str).collect();
    args.extend(["-o", "name"]);
    assert_eq!(lines(&args), cm);
    let both = lines(&["cm,ns", "-A", "-o", "name"]);
    assert!(
        both.iter().any(|l| l.starts_with("configmap/"))
            && both.iter().any(|l| l.starts_with("namespace/")),
        "{both:?}"
    );
    let all_cm = lines(&["cm", "-A", "-o", "name"]);
    let none = lines(&["cm", "-A", "-o", "name", "-l", "no-such-label"]);
    let not = lines(&["cm", "-A", "-o", "name", "-l", "!no-such-label"]);
    assert!(none.is_empty() && not == all_cm && !all_cm.is_empty());
    let jp = lines(&[
        "cm",
        "-n",
        "default",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
    ]);
    assert_eq!(jp.len(), want.len());
    // get without -o: kubectl's default columns per kind, NAMESPACE first
    // with -A, cells computed from the decoded objects.
    let table = |args: &[&str]| -> Vec<Vec<String>> {
        let o = Command::new(bin)
            .args(["k8s", "get"])
            .arg(&db_dir)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                l.split("   ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    };
    for (args, want) in [
        (
            &["pods", "-A"][..],
            &["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"][..],
        ),
        (
            &["deploy", "-A"],
            &[
                "NAMESPACE",
                "NAME",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
            ],
        ),
        (
            &["svc", "-A"],
            &[
                "NAMESPACE",
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
        ),
        (&["cm", "-n", "default"], &["NAME", "DATA", "AGE"]),
        (
            &["secrets", "-A"],
            &["NAMESPACE", "NAME", "TYPE", "DATA", "AGE"],
        ),
        (&["ns"], &["NAME", "STATUS", "AGE"]),
        (&["crd"], &["NAME", "CREATED AT"]),
    ] {
        let t = table(args);
        assert!(t.len() > 1, "{args:?}: no rows");
        assert_eq!(t[0], want, "{args:?}");
        for row in &t[1..] {
            assert!(row.len() <= want.len(), "{args:?}: {row:?}");
        }
    }
    let deps = table(&["deploy", "-n", "default", "scaled-to-zero"]);
    assert_eq!(
        deps[1][..4],
        ["scaled-to-zero", "0/0", "0", "0"],
        "{deps:?}"
    );
    println!(
        "k8s fixture: extract wrote {} files; --for-apply {} files, all read by kubectl",
        checked + 4,
        files.len()
    );
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
