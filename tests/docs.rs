//! The documentation under `docs/` is true:
//!
//! * every runbook (`docs/runbooks/*.md`) is run as written: its fenced `sh`
//!   blocks, in order, in one bash shell, in a scratch directory holding a
//!   link to the repository's `testdata/` (and `k8s-testdata` to
//!   `../shared/k8s-testdata`), with the built `etcd-rescue` first on PATH.
//!   Each command must exit 0 unless a `# expect: exit N` line right after it
//!   says otherwise; `# expect: stdout has TEXT` / `# expect: stderr has TEXT`
//!   check what it printed. A runbook names the tools it needs in a
//!   `<!-- runbook needs: ... -->` comment: missing ones fail under CI=true
//!   and skip (said) otherwise.
//! * the man pages in `docs/man/` are what `etcd-rescue man DIR` generates
//!   from the clap definitions today.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_etcd-rescue"))
}

/// One command of a runbook and what the runbook promises about it.
#[derive(Debug, Default)]
struct Step {
    line: usize,
    cmd: String,
    exit: i32,
    stdout_has: Vec<String>,
    stderr_has: Vec<String>,
}

/// The commands of the fenced `sh` blocks, with their expectations. A line
/// ending in `\` continues on the next; other comments are left out.
fn steps(md: &str) -> Result<Vec<Step>, String> {
    let mut out: Vec<Step> = Vec::new();
    let mut in_sh = false;
    let mut pending: Option<Step> = None;
    for (i, l) in md.lines().enumerate() {
        let n = i + 1;
        let t = l.trim();
        if !in_sh {
            if t == "```sh" {
                in_sh = true;
            }
            continue;
        }
        if let Some(p) = pending.as_mut() {
            p.cmd.push('\n');
            p.cmd.push_str(l);
            if !l.ends_with('\\') {
                out.extend(pending.take());
            }
            continue;
        }
        if t == "```" {
            in_sh = false;
            continue;
        }
        if let Some(e) = t.strip_prefix("# expect:") {
            let e = e.trim();
            let last = out
                .last_mut()
                .ok_or_else(|| format!("line {n}: `# expect:` before any command"))?;
            if let Some(code) = e.strip_prefix("exit ") {
                last.exit = code
                    .trim()
                    .parse()
                    .map_err(|_| format!("line {n}: bad exit code {code:?}"))?;
            } else if let Some(s) = e.strip_prefix("stdout has ") {
                last.stdout_has.push(s.to_string());
            } else if let Some(s) = e.strip_prefix("stderr has ") {
                last.stderr_has.push(s.to_string());
            } else {
                return Err(format!("line {n}: unknown expectation {e:?}"));
            }
            continue;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let s = Step {
            line: n,
            cmd: l.to_string(),
            ..Step::default()
        };
        if l.ends_with('\\') {
            pending = Some(s);
        } else {
            out.push(s);
        }
    }
    if in_sh || pending.is_some() {
        return Err("a fenced sh block is not closed".into());
    }
    Ok(out)
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The bash script that runs `steps` one by one, each in the current shell
/// (so `cd`, variables and functions carry over), its output kept in
/// `R/N.out` and `R/N.err`, stopping at the first broken promise (its number
/// in `R/failed`).
fn script(steps: &[Step], results: &Path) -> String {
    let r = sh_quote(&results.display().to_string());
    let mut s = format!("set -o pipefail\nR={r}\n");
    for (i, st) in steps.iter().enumerate() {
        s.push_str(&format!(
            "{{ {}\n}} >\"$R/{i}.out\" 2>\"$R/{i}.err\" </dev/null; echo $? >\"$R/{i}.rc\"\n",
            st.cmd
        ));
        s.push_str(&format!(
            "[ \"$(cat \"$R/{i}.rc\")\" = {} ] || {{ echo {i} >\"$R/failed\"; exit 1; }}\n",
            st.exit
        ));
        for (stream, texts) in [("out", &st.stdout_has), ("err", &st.stderr_has)] {
            for t in texts {
                s.push_str(&format!(
                    "grep -qF -- {} \"$R/{i}.{stream}\" || {{ echo {i} >\"$R/failed\"; exit 1; }}\n",
                    sh_quote(t)
                ));
            }
        }
    }
    s.push_str("echo done >\"$R/done\"\n");
    s
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// What the runbook says it needs that this machine lacks.
fn missing_needs(md: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for l in md.lines() {
        let Some(rest) = l.trim().strip_prefix("<!-- runbook needs:") else {
            continue;
        };
        for need in rest.trim_end_matches("-->").split_whitespace() {
            let ok = if need == "k8s-testdata" {
                repo().join("../shared/k8s-testdata/HEAD").is_dir()
            } else {
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {need}"))
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if !ok {
                missing.push(need.to_string());
            }
        }
    }
    missing
}

fn run_runbook(name: &str) {
    let path = repo().join("docs/runbooks").join(name);
    let md = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let steps = steps(&md).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(steps.len() >= 5, "{name}: only {} commands", steps.len());
    let missing = missing_needs(&md);
    if !missing.is_empty() {
        assert!(!ci(), "{name}: needs {missing:?}, missing under CI=true");
        eprintln!("SKIPPED runbook {name}: this machine lacks {missing:?}");
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let scratch = work.path().join("practice");
    let results = work.path().join("results");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    std::fs::create_dir_all(&results).expect("results dir");
    std::os::unix::fs::symlink(repo().join("testdata"), scratch.join("testdata")).expect("link");
    let k8s = repo().join("../shared/k8s-testdata");
    if k8s.is_dir() {
        std::os::unix::fs::symlink(&k8s, scratch.join("k8s-testdata")).expect("link");
    }
    let script_path = work.path().join("runbook.sh");
    std::fs::write(&script_path, script(&steps, &results)).expect("script");
    let bin_dir = bin().parent().expect("bin dir").to_path_buf();
    let path_env = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("bash")
        .arg(&script_path)
        .current_dir(&scratch)
        .env("PATH", path_env)
        .process_group(0)
        .spawn()
        .expect("bash");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(600) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Whatever the runbook left running (an etcd it started) ends with it.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .output();
    let _ = child.wait();
    let read = |f: String| std::fs::read_to_string(results.join(f)).unwrap_or_default();
    if results.join("done").exists() {
        eprintln!(
            "runbook {name}: {} commands ran as the runbook says ({:.1} s)",
            steps.len(),
            start.elapsed().as_secs_f64()
        );
        return;
    }
    let failed: Option<usize> = read("failed".into()).trim().parse().ok();
    match failed.and_then(|i| steps.get(i).map(|s| (i, s))) {
        Some((i, st)) => panic!(
            "{name}:{}: `{}` broke its promise (exit {} expected, got {}; stdout has {:?}; stderr has {:?})\n--- stdout\n{}\n--- stderr\n{}",
            st.line,
            st.cmd,
            st.exit,
            read(format!("{i}.rc")).trim(),
            st.stdout_has,
            st.stderr_has,
            read(format!("{i}.out")),
            read(format!("{i}.err")),
        ),
        None => panic!(
            "{name}: the runbook did not finish (status {status:?}, {} s)",
            start.elapsed().as_secs()
        ),
    }
}

#[test]
fn every_runbook_is_tested() {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("docs/runbooks"))
        .expect("docs/runbooks")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "control-plane-rebuild.md",
            "full-disk.md",
            "secret-from-backup.md",
            "verify-backup.md"
        ],
        "a runbook without its test below (or a test without its runbook)"
    );
}

#[test]
fn runbook_full_disk() {
    run_runbook("full-disk.md");
}

#[test]
fn runbook_verify_backup() {
    run_runbook("verify-backup.md");
}

#[test]
fn runbook_secret_from_backup() {
    run_runbook("secret-from-backup.md");
}

#[test]
fn runbook_control_plane_rebuild() {
    run_runbook("control-plane-rebuild.md");
}

#[test]
fn step_parser_reads_expectations_and_continuations() {
    let md = "text\n```sh\ncp a b\n# expect: exit 1\n# expect: stderr has no such file\n# a comment\nx \\\n  --y\n```\n```console\n$ not run\n```\n";
    let s = steps(md).expect("parses");
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].line, s[0].exit), (3, 1));
    assert_eq!(s[0].stderr_has, ["no such file"]);
    assert_eq!((s[1].cmd.as_str(), s[1].exit), ("x \\\n  --y", 0));
    assert!(steps("```sh\n# expect: exit 1\n```\n").is_err());
    assert!(steps("```sh\nls\n").is_err());
}

#[test]
fn man_pages_are_up_to_date() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = Command::new(bin())
        .arg("man")
        .arg(dir.path())
        .output()
        .expect("run etcd-rescue man");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let committed = repo().join("docs/man");
    let fresh = list(dir.path());
    assert!(
        fresh.len() >= 30,
        "only {} man pages generated",
        fresh.len()
    );
    assert!(fresh.contains(&"etcd-rescue-k8s-get.1".to_string()));
    let hint =
        "regenerate with `cargo run --release -- man docs/man` (after removing docs/man/*.1)";
    assert_eq!(
        list(&committed),
        fresh,
        "docs/man lists other pages: {hint}"
    );
    for f in &fresh {
        let a = std::fs::read(dir.path().join(f)).expect("fresh page");
        let b = std::fs::read(committed.join(f)).expect("committed page");
        assert!(a == b, "docs/man/{f} is out of date: {hint}");
    }
}
