//! `doctor` on kubeadm-like node layouts made by
//! `testdata/doctor/make_layout.sh` (openssl certificates, a real etcd 3.4
//! data dir): nothing on the healthy layout, each planted problem found
//! with its code and file, and the good certificates proven good by real
//! etcd 3.4 serving TLS to etcdctl.

mod common;
use common::etcd::have_etcd;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Runs of real etcd share the layout's ports: one at a time.
static ETCD: Mutex<()> = Mutex::new(());

fn have_tools() -> bool {
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !openssl {
        assert!(
            std::env::var("CI").is_err(),
            "openssl is needed (apt-get install openssl)"
        );
        eprintln!("SKIPPED: openssl not installed");
        return false;
    }
    have_etcd()
}

fn script() -> PathBuf {
    common::testdata().join("doctor/make_layout.sh")
}

/// The healthy layout, made once per test run.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let _g = ETCD.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Layouts of earlier runs (each is made anew).
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("doctor-base-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let d = tmp.join(format!("doctor-base-{}", std::process::id()));
        let o = Command::new("bash").arg(script()).arg(&d).output().unwrap();
        assert!(
            o.status.success(),
            "make_layout.sh: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        d
    })
}

/// A copy of the healthy layout with one problem planted.
fn planted(case: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("node");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(base())
        .arg(&d)
        .status()
        .unwrap()
        .success());
    if !case.is_empty() {
        let _g = (case == "nospace").then(|| ETCD.lock().unwrap_or_else(|e| e.into_inner()));
        let o = Command::new("bash")
            .arg(script())
            .args(["--plant", case])
            .arg(&d)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "plant {case}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    t
}

fn manifest(root: &Path) -> PathBuf {
    root.join("etc/kubernetes/manifests/etcd.yaml")
}

fn doctor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .arg("doctor")
        .args(args)
        .output()
        .unwrap()
}

fn doctor_json(root: &Path) -> (i32, Value) {
    let o = doctor(&["--manifest", manifest(root).to_str().unwrap(), "-o", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor -o json: {e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v)
}

fn problems(v: &Value) -> Vec<(String, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn healthy_layout_is_ready() {
    if !have_tools() {
        return;
    }
    let t = planted("");
    let root = t.path().join("node");
    let (code, v) = doctor_json(&root);
    assert_eq!(problems(&v), vec![], "{v:#}");
    assert_eq!(v["verdict"], "ready");
    assert_eq!(code, 0);
    // Every certificate was read, the key compared and the CA checked.
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 5, "{certs:#?}");
    for c in certs.iter().filter(|c| c["role"] != "ca") {
        assert_eq!(c["key_matches"], true, "{c:#}");
        assert_eq!(c["signed_by_ca"], true, "{c:#}");
    }
    assert_eq!(v["identity"]["members"].as_object().unwrap().len(), 1);
    assert_eq!(v["boot"]["starts"], true);
    // The text form leads with the verdict; --root gives the same answer.
    let o = doctor(&["--root", root.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("READY"), "{text}");
    assert_eq!(o.status.code(), Some(0), "{text}");
    // Without a manifest: etcd's flags (node paths) on the command line.
    let mut args = vec!["--".to_string()];
    args.extend(
        v["etcd_command"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|s| s.as_str().unwrap().to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = doctor(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn planted_problems_are_found() {
    if !have_tools() {
        return;
    }
    // (case, code, severity, file the finding names, verdict)
    let cases = [
        (
            "expired",
            "cert.expired",
            "error",
            "etc/kubernetes/pki/etcd/server.crt",
            "will-not-start",
        ),
        (
            "expiring",
            "cert.expiring",
            "warning",
            "etc/kubernetes/pki/etcd/peer.crt",
            "at-risk",
        ),
        (
            "wrong-san",
            "cert.san-missing",
            "error",
            "etc/kubernetes/pki/etcd/server.crt",
            "will-not-start",
        ),
        (
            "key-mismatch",
            "cert.key-mismatch",
            "error",
            "etc/kubernetes/pki/etcd/server.crt",
            "will-not-start",
        ),
        (
            "other-ca",
            "cert.wrong-ca",
            "error",
            "etc/kubernetes/pki/etcd/peer.crt",
            "will-not-start",
        ),
        (
            "wrong-eku",
            "cert.eku-missing",
            "error",
            "etc/kubernetes/pki/etcd/peer.crt",
            "will-not-start",
        ),
        (
            "client-other-ca",
            "cert.wrong-ca",
            "error",
            "etc/kubernetes/pki/apiserver-etcd-client.crt",
            "will-not-start",
        ),
        (
            "bad-pem",
            "cert.unreadable",
            "error",
            "etc/kubernetes/pki/etcd/server.crt",
            "will-not-start",
        ),
        (
            "name-mismatch",
            "identity.name-mismatch",
            "warning",
            "var/lib/etcd",
            "at-risk",
        ),
        (
            "peer-url",
            "identity.peer-url-mismatch",
            "warning",
            "var/lib/etcd",
            "will-not-start",
        ),
        (
            "foreign-data",
            "identity.other-member",
            "error",
            "var/lib/etcd",
            "will-not-start",
        ),
        (
            "existing-empty",
            "identity.existing-empty",
            "error",
            "var/lib/etcd",
            "will-not-start",
        ),
        (
            "new-grown",
            "identity.initial-cluster-mismatch",
            "warning",
            "etc/kubernetes/manifests/etcd.yaml",
            "at-risk",
        ),
        (
            "quota",
            "disk.quota-exceeded",
            "error",
            "var/lib/etcd/member/snap/db",
            "will-not-start",
        ),
        (
            "nospace",
            "disk.nospace-alarm",
            "error",
            "var/lib/etcd/member/snap/db",
            "will-not-start",
        ),
        (
            "defrag-leftover",
            "disk.defrag-leftover",
            "warning",
            "var/lib/etcd/member/snap/db.tmp.123",
            "at-risk",
        ),
        (
            "damaged-db",
            "data.will-not-start",
            "error",
            "var/lib/etcd",
            "will-not-start",
        ),
    ];
    let mut wrong = Vec::new();
    for (case, code, sev, file, verdict) in cases {
        let t = planted(case);
        let root = t.path().join("node");
        let (exit, v) = doctor_json(&root);
        let want = root.join(file).display().to_string();
        let found = problems(&v);
        println!("{case}: {} -> {found:?}", v["verdict"]);
        let ok = exit == 1
            && v["verdict"] == verdict
            && found
                .iter()
                .any(|(s, c, f)| s == sev && c == code && *f == want);
        if !ok {
            wrong.push(format!("{case}: want {sev} {code} on {want} ({verdict}, exit 1); got exit {exit}, {} {found:?}", v["verdict"]));
        }
        // Each fix is concrete.
        for f in v["findings"].as_array().unwrap() {
            if f["severity"] != "info" {
                assert!(!f["fix"].as_str().unwrap_or("").is_empty(), "{case}: {f:#}");
            }
        }
        if case == "expired" {
            let f = &v["findings"][0];
            assert!(
                f["message"].as_str().unwrap().contains("2025-01-01"),
                "{f:#}"
            );
            assert!(
                f["fix"]
                    .as_str()
                    .unwrap()
                    .contains("kubeadm certs renew etcd-server"),
                "{f:#}"
            );
            assert!(
                f["fix"]
                    .as_str()
                    .unwrap()
                    .contains("kubeadm certs check-expiration"),
                "{f:#}"
            );
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn bad_input_is_a_finding_or_exit_2() {
    if !have_tools() {
        return;
    }
    // A missing manifest given explicitly, or nothing at all to look at.
    let t = tempfile::tempdir().unwrap();
    let o = doctor(&["--manifest", t.path().join("nope.yaml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let o = doctor(&["--root", t.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    // Broken manifest, key and certificate files are findings.
    let t = planted("");
    let root = t.path().join("node");
    let pki = root.join("etc/kubernetes/pki/etcd");
    std::fs::write(
        pki.join("peer.key"),
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        pki.join("healthcheck-client.crt"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::remove_file(root.join("etc/kubernetes/pki/apiserver-etcd-client.key")).unwrap();
    let (exit, v) = doctor_json(&root);
    assert_eq!(exit, 1);
    let codes: Vec<String> = problems(&v).into_iter().map(|p| p.1).collect();
    for c in ["cert.key-unreadable", "cert.unreadable", "cert.key-missing"] {
        assert!(codes.iter().any(|x| x == c), "{c} not in {codes:?}");
    }
    for text in [
        "kind: Pod\nspec: [",
        "\u{0}\u{1}",
        "spec:\n  containers:\n  - name: etcd\n    command: 7\n",
    ] {
        std::fs::write(manifest(&root), text).unwrap();
        let (exit, v) = doctor_json(&root);
        assert_eq!(exit, 1, "{v:#}");
        assert!(
            problems(&v)
                .iter()
                .any(|p| p.1 == "manifest.invalid" || p.1 == "config.no-data-dir"),
            "{v:#}"
        );
    }
}

/// The good set is really good: etcd 3.4 started with the manifest's flags
/// (paths resolved to the layout) serves TLS with client-cert-auth, and
/// etcdctl reaches it with the apiserver's and the healthcheck client's
/// certificates; and doctor's identity and data views agree with it.
#[test]
fn real_etcd_serves_with_the_good_certificates() {
    if !have_tools() {
        return;
    }
    let t = planted("");
    let root = t.path().join("node");
    let (_, v) = doctor_json(&root);
    let cmd: Vec<String> = v["etcd_command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let flags = &v["flags"];
    let client = flags["advertise-client-urls"].as_str().unwrap().to_string();
    let _g = ETCD.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pki = root.join("etc/kubernetes/pki");
    let ctl = |cert: &str, key: &str, args: &[&str]| {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &client, "--dial-timeout", "2s"])
            .arg("--cacert")
            .arg(pki.join("etcd/ca.crt"))
            .arg("--cert")
            .arg(pki.join(cert))
            .arg("--key")
            .arg(pki.join(key))
            .args(args)
            .output()
            .unwrap()
    };
    let start = Instant::now();
    let mut healthy = false;
    while start.elapsed() < Duration::from_secs(15) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if ctl(
            "apiserver-etcd-client.crt",
            "apiserver-etcd-client.key",
            &["endpoint", "health"],
        )
        .status
        .success()
        {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let put = ctl(
        "apiserver-etcd-client.crt",
        "apiserver-etcd-client.key",
        &["put", "/doctor", "ok"],
    );
    let get = ctl(
        "etcd/healthcheck-client.crt",
        "etcd/healthcheck-client.key",
        &["get", "/registry/namespaces/default", "--print-value-only"],
    );
    // Without a client certificate, client-cert-auth refuses.
    let anonymous = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &client,
            "--dial-timeout",
            "2s",
            "--command-timeout",
            "3s",
        ])
        .arg("--cacert")
        .arg(pki.join("etcd/ca.crt"))
        .args(["get", "/doctor"])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        healthy,
        "etcd 3.4 did not serve with the generated certificates"
    );
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&get.stdout).trim(),
        r#"{"kind":"Namespace"}"#
    );
    assert!(!anonymous.status.success());
    // After a clean stop the layout is still ready.
    let (code, v) = doctor_json(&root);
    assert_eq!(problems(&v), vec![], "{v:#}");
    assert_eq!(code, 0);
}
