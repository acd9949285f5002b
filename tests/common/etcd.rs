//! Running real etcd 3.4 as an oracle: is it installed (required under CI),
//! does it serve on a data dir, and what `check` predicts for that dir.

use super::port;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn have_etcd() -> bool {
    let ok = Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "etcd 3.4 is needed (apt-get install etcd-server etcd-client)"
        );
        eprintln!("SKIPPED: etcd not installed");
    }
    ok
}

/// Start etcd as member `name` on `dir` on free loopback ports, with
/// `extra` flags; the process and its client URL.
pub fn spawn_etcd(dir: &Path, name: &str, extra: &[&str]) -> (std::process::Child, String) {
    spawn_etcd_bin(Path::new("etcd"), dir, name, extra)
}

/// [`spawn_etcd`] with a given etcd binary (an oracle of another line).
pub fn spawn_etcd_bin(
    bin: &Path,
    dir: &Path,
    name: &str,
    extra: &[&str],
) -> (std::process::Child, String) {
    let (c, p) = (port(), port());
    let client = format!("http://127.0.0.1:{c}");
    let child = Command::new(bin)
        .args(["--name", name, "--data-dir"])
        .arg(dir)
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{p}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, client)
}

/// Start etcd on `dir`; true when it serves within the time limit.
pub fn etcd_starts(dir: &Path) -> bool {
    let (mut child, client) = spawn_etcd(dir, "n1", &[]);
    let start = Instant::now();
    let mut serving = false;
    while start.elapsed() < Duration::from_secs(15) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let health = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &client,
                "--user",
                "root:rootpw",
                "--dial-timeout",
                "1s",
                "endpoint",
                "health",
            ])
            .output()
            .unwrap();
        if health.status.success() {
            serving = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
    serving
}

pub fn predicted(dir: &Path) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(["check", dir.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["boot"].clone()
}

/// Restore `snapshot` with `etcdctl snapshot restore` (which must accept it,
/// hash check included) into `work/restored`, start etcd on it, and return
/// what `etcdctl get "" --prefix -w json` answers (as `user`, if given).
pub fn restore_and_get(snapshot: &Path, work: &Path, user: Option<&str>) -> Value {
    let restored = work.join("restored");
    let r = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "restore"])
        .arg(snapshot)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "snapshot restore refused {}: {}",
        snapshot.display(),
        String::from_utf8_lossy(&r.stderr)
    );
    let (mut child, client) = spawn_etcd(
        &restored,
        "default",
        &["--initial-advertise-peer-urls", "http://localhost:2380"],
    );
    let start = Instant::now();
    let mut got = None;
    while start.elapsed() < Duration::from_secs(20) {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .args(["--endpoints", &client, "--dial-timeout", "2s"]);
        if let Some(u) = user {
            cmd.args(["--user", u]);
        }
        let o = cmd
            .args(["get", "", "--prefix", "-w", "json"])
            .output()
            .unwrap();
        if o.status.success() {
            got = Some(o.stdout);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    serde_json::from_slice(&got.expect("etcd did not serve the restored member")).unwrap()
}
