//! clap definitions and dispatch. Thin: parse, call an operation, render.
#![forbid(unsafe_code)]

use clap::{CommandFactory, Parser, Subcommand};
use etcd_rescue::input::{self, Input};
use etcd_rescue::ops::exit;
use etcd_rescue::ops::render::Format;
use std::io::Write;
use std::path::PathBuf;

const ABOUT: &str = "Read, check and rescue a stopped etcd member offline: the bbolt db, WAL \
segments, .snap files and `etcdctl snapshot save` files, straight from disk. Inputs are \
never written to.";

const AFTER: &str = "\
PATH may be an etcd data dir (with member/), a member dir, a bare db file
(member/snap/db) or an `etcdctl snapshot save` file.

Examples:
  etcd-rescue inspect /var/lib/etcd
  etcd-rescue check /var/lib/etcd/member/snap/db -o json
  etcd-rescue check backup.db
  etcd-rescue repair /var/lib/etcd --out rescued.db --salvage --replay-wal
  etcd-rescue doctor
  etcd-rescue bolt map /var/lib/etcd --svg map.svg

Exit codes: 0 no error found, 1 errors found, 2 input unusable or bad usage.";

#[derive(Parser)]
#[command(name = "etcd-rescue", version, about = ABOUT, after_help = AFTER)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Read a member that a running process (etcd) has open: its files may be mid-write.
    #[arg(long, global = true)]
    allow_live: bool,
}

/// etcd-dump-logs' entry type filters, for `wal dump --entry-type`.
const ENTRY_TYPES: [&str; 12] = [
    "ConfigChange",
    "Normal",
    "Request",
    "InternalRaftRequest",
    "IRRRange",
    "IRRPut",
    "IRRDeleteRange",
    "IRRTxn",
    "IRRCompaction",
    "IRRLeaseGrant",
    "IRRLeaseRevoke",
    "IRRLeaseCheckpoint",
];

/// `--allow-live`, set once from the command line.
static ALLOW_LIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-o`/`-w`: the output format, on every command that reports.
#[derive(clap::Args, Clone, Copy)]
pub struct OutputArg {
    /// Output format (-w is the same flag, for etcdctl users).
    #[arg(short = 'o', long = "output", visible_short_alias = 'w', visible_alias = "write-out", value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Subcommand)]
enum Command {
    /// Check a db (or snapshot file) for every structural and etcd-level problem.
    #[command(after_help = "\
Examples:
  etcd-rescue check /var/lib/etcd
  etcd-rescue check snapshot.db -o json | jq '.findings[] | select(.severity==\"error\")'

Exit codes: 0 no error finding, 1 at least one error finding, 2 input unusable.")]
    Check {
        /// Data dir, member dir, db file or snapshot file.
        path: PathBuf,
        #[command(flatten)]
        version: VersionArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Where two members or backups diverge: the first differing revision, then each revision and record that differs.
    #[command(after_help = "\
Examples:
  etcd-rescue diff /var/lib/etcd member2-backup.db
  etcd-rescue diff a.snapshot.db b.snapshot.db -o json

Exit codes: 0 identical (member-specific meta aside), 1 different or damaged (said on stderr), 2 cannot compare.")]
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Compare the key buckets by one merge walk on one core (default: revision ranges compared in parallel, only the ranges that differ walked record by record; the answer is the same).
        #[arg(long)]
        merge_walk: bool,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show what PATH is and what is in it: files, db meta, buckets, revisions, members, leases, auth, alarms.
    #[command(after_help = "\
Examples:
  etcd-rescue inspect /var/lib/etcd
  etcd-rescue inspect backup.db -o json")]
    Inspect {
        path: PathBuf,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Read keys as `etcdctl get` does, at any revision still stored.
    #[command(after_help = "\
Examples:
  etcd-rescue get /var/lib/etcd /registry/secrets/default/db-password
  etcd-rescue get /var/lib/etcd \"\" --prefix -w json > keyspace.json
  etcd-rescue get backup.db /app/ --prefix --rev 1200 --keys-only
  etcd-rescue get /var/lib/etcd /registry/ --prefix --count-only

Output matches etcdctl's for the same request (-w simple|json|fields|protobuf|table).
Exit codes: 0 answered, 1 answered but the db is damaged so the answer may be incomplete,
2 unusable input or a revision etcd would refuse (compacted or future).")]
    Get(GetArgs),
    /// Every stored revision of a key (or prefix), tombstones included.
    #[command(after_help = "\
Examples:
  etcd-rescue history /var/lib/etcd /app/config
  etcd-rescue history backup.db /registry/configmaps/ --prefix --values -o json")]
    History {
        path: PathBuf,
        key: String,
        /// Every key with KEY as a prefix.
        #[arg(long)]
        prefix: bool,
        /// Show values too.
        #[arg(long)]
        values: bool,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Snapshot files: `snapshot status` as etcdctl prints it, with the SHA-256 trailer verified.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// The hash `etcdctl endpoint hashkv` gives for this member, to compare with live members.
    #[command(after_help = "\
Examples:
  etcd-rescue hashkv /var/lib/etcd
  etcd-rescue hashkv /var/lib/etcd --rev 5000 -w json
  etcd-rescue hashkv /var/lib/etcd --backend     # the corruption checker's whole-db hash")]
    Hashkv {
        path: PathBuf,
        /// Revision to hash at (default: the current revision).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// The whole-db hash etcd's corruption checker compares instead.
        #[arg(long)]
        backend: bool,
        /// Print as `etcdutl hashkv` (3.6+) prints, rather than `etcdctl endpoint hashkv`.
        #[arg(long)]
        etcdutl: bool,
        #[command(flatten)]
        version: VersionArg,
        #[command(flatten)]
        out: EtcdOutputArg,
    },
    /// Members recorded in the db, as `etcdctl member list` shows them.
    #[command(
        after_help = "Examples:\n  etcd-rescue members /var/lib/etcd\n  etcd-rescue members backup.db -w json"
    )]
    Members {
        path: PathBuf,
        #[command(flatten)]
        out: EtcdOutputArg,
    },
    /// Leases with their TTLs and attached keys.
    #[command(
        after_help = "Examples:\n  etcd-rescue leases /var/lib/etcd\n  etcd-rescue leases backup.db -w json"
    )]
    Leases {
        path: PathBuf,
        #[command(flatten)]
        out: EtcdOutputArg,
    },
    /// Auth: enabled or not, users with their roles, roles with their permissions.
    #[command(
        after_help = "Examples:\n  etcd-rescue auth /var/lib/etcd\n  etcd-rescue auth backup.db -w json --show-secrets"
    )]
    Auth {
        path: PathBuf,
        /// Include password hashes.
        #[arg(long)]
        show_secrets: bool,
        #[command(flatten)]
        out: EtcdOutputArg,
    },
    /// Raised alarms (NOSPACE, CORRUPT) per member.
    #[command(
        after_help = "Examples:\n  etcd-rescue alarms /var/lib/etcd\n  etcd-rescue alarms backup.db -w json"
    )]
    Alarms {
        path: PathBuf,
        #[command(flatten)]
        out: EtcdOutputArg,
    },
    /// The raft log: verify the WAL segments as etcd reads them, or dump their entries.
    #[command(subcommand)]
    Wal(WalCommand),
    /// Low-level bbolt views: pages, one page, buckets, keys, and a map of the file.
    #[command(subcommand)]
    Bolt(BoltCommand),
    /// Salvage a member (tree, page scan, WAL replay) into a snapshot file `etcdctl snapshot restore` accepts, with an exact account of losses.
    #[command(after_help = "\
Examples:
  etcd-rescue repair /var/lib/etcd --out rescued.db
  etcdctl snapshot restore rescued.db --data-dir /var/lib/etcd-new

  etcd-rescue repair /var/lib/etcd --out rescued.db --salvage --replay-wal --report losses.json

A clean db is streamed into a compacted copy (like a defrag: same keyspace, history and hashkv).
A bad meta page: the other one is used; both bad: the newest root leaf the page scan finds.
--salvage scans every page of the file (free, orphaned, past the high-water mark) for records that
validate and adds those the tree lacks; --replay-wal applies the committed log entries past the
db's consistent index as etcd would on start. The report says where each bucket's records came
from, which revisions are lost, and per key whether its latest revision survived (--report writes
it as JSON). The input is never written; the output is written to a temp file, fsynced and
renamed, and an existing output is refused unless --force. Exit 0 everything recovered, 1 the file
was written but something was lost (said on the first line), 2 nothing could be written.")]
    Repair {
        /// Data dir, member dir, db file or snapshot file.
        path: PathBuf,
        /// The snapshot file to write.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Scan every page of the db for records the tree no longer reaches.
        #[arg(long)]
        salvage: bool,
        /// Apply the WAL's committed entries past the db's consistent index.
        #[arg(long)]
        replay_wal: bool,
        #[command(flatten)]
        version: VersionArg,
    },
    /// Why etcd on a control-plane node will not come up: manifest, certificates, disk, identity, data.
    Doctor(doctor_commands::DoctorArgs),
    /// Kubernetes objects: decode stored values, get them as kubectl shows them.
    #[command(subcommand)]
    K8s(k8s_commands::K8sCommand),
    /// What `etcdctl endpoint status` and `endpoint health` would say, offline: ids, version, db size, raft term and indices, leader as last known, errors, and a health verdict.
    #[command(after_help = "\
Examples:
  etcd-rescue status /var/lib/etcd
  etcd-rescue status /var/lib/etcd -w table
  etcd-rescue status /var/lib/etcd -w json

The table has etcdctl 3.4's columns; the JSON is etcdctl's list, each with a Health verdict.
VERSION is the cluster version stored in the db (etcd does not store its own version);
RAFT APPLIED INDEX is the db's consistent index (etcd replays the log past it at start).
Exit codes: 0 healthy (etcd is predicted to start, no error finding), 1 unhealthy or damaged,
2 unusable input.")]
    Status {
        /// Data dir or member dir (a db or snapshot file gives what the db holds).
        path: PathBuf,
        #[command(flatten)]
        out: EtcdOutputArg,
    },
    /// Print shell completions.
    #[command(after_help = "\
Examples:
  etcd-rescue completions bash > /etc/bash_completion.d/etcd-rescue
  etcd-rescue completions zsh > \"${fpath[1]}/_etcd-rescue\"
  etcd-rescue completions fish > ~/.config/fish/completions/etcd-rescue.fish")]
    Completions { shell: clap_complete::Shell },
    /// (Developers) write the man pages, one per command, into DIR (docs/man in the repo).
    #[command(hide = true)]
    Man {
        /// The directory to write `etcd-rescue*.1` into (created if missing).
        dir: PathBuf,
    },
}

/// `--etcd-version`: whose rules a verdict follows.
#[derive(clap::Args, Clone, Copy)]
pub struct VersionArg {
    /// The etcd release to judge for: 3.4, 3.5, 3.6, 3.7, optionally with a
    /// patch (3.5.21) or as an image tag (registry.k8s.io/etcd:3.5.21-0).
    /// Default: the line that wrote the files.
    #[arg(long = "etcd-version", value_name = "X.Y[.Z]")]
    pub etcd_version: Option<etcd_rescue::etcd::lines::EtcdVersion>,
}

/// `-w`/`-o` for the etcdctl-like commands.
#[derive(clap::Args, Clone, Copy)]
pub struct EtcdOutputArg {
    /// Output format (-o is the same flag).
    #[arg(short = 'w', long = "write-out", visible_short_alias = 'o', visible_alias = "output", value_enum, default_value_t = EtcdFormat::Simple)]
    pub output: EtcdFormat,
}

/// Formats of the etcdctl-like commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EtcdFormat {
    Simple,
    Json,
    Table,
}

#[derive(clap::Args)]
pub struct GetArgs {
    /// Data dir, member dir, db file or snapshot file.
    pub path: PathBuf,
    /// The key (with --prefix, the prefix; "" with --prefix: every key).
    pub key: String,
    /// End of the range [KEY, RANGE_END).
    pub range_end: Option<String>,
    /// Get keys with KEY as a prefix.
    #[arg(long, conflicts_with_all = ["from_key", "range_end"])]
    pub prefix: bool,
    /// Get keys greater than or equal to KEY.
    #[arg(long, conflicts_with = "range_end")]
    pub from_key: bool,
    /// Revision to read at (default: the current revision).
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// Read below the compacted revision: whatever history survived.
    #[arg(long)]
    pub include_compacted: bool,
    /// Keys only, no values.
    #[arg(long)]
    pub keys_only: bool,
    /// Only the number of keys.
    #[arg(long)]
    pub count_only: bool,
    /// At most this many keys.
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
    /// Sort target.
    #[arg(long, value_enum, ignore_case = true, default_value = "KEY")]
    pub sort_by: etcd_rescue::mvcc::range::SortTarget,
    /// Sort order.
    #[arg(long, value_enum, ignore_case = true, default_value = "NONE")]
    pub order: etcd_rescue::mvcc::range::SortOrder,
    /// Print values only (simple format).
    #[arg(long)]
    pub print_value_only: bool,
    /// Print keys and values as hex (simple and table formats).
    #[arg(long)]
    pub hex: bool,
    /// Output format (-o is the same flag).
    #[arg(short = 'w', long = "write-out", visible_short_alias = 'o', visible_alias = "output", value_enum, default_value_t = etcd_rescue::ops::keyspace::GetFormat::Simple)]
    pub output: etcd_rescue::ops::keyspace::GetFormat,
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Hash, revision, total keys and total size, as `etcdctl snapshot status` prints them.
    #[command(after_help = "\
Examples:
  etcd-rescue snapshot status backup.db
  etcd-rescue snapshot status backup.db -w json
  etcd-rescue snapshot status /var/lib/etcd -w table --v3.6

Exit codes: 0 read and (for a snapshot file) the SHA-256 trailer matches; 1 the trailer does
not match or the file is cut; 2 unusable input.")]
    Status {
        path: PathBuf,
        /// Same as --etcd-version 3.6 (live keys as total keys, and the storage version).
        #[arg(long = "v3.6")]
        v36: bool,
        #[command(flatten)]
        version: VersionArg,
        #[command(flatten)]
        out: EtcdOutputArg,
    },
}

#[derive(Subcommand)]
enum WalCommand {
    /// Write a copy of the member whose log etcd reads: the torn tail cut as wal.Repair cuts it.
    #[command(after_help = "\
Examples:
  etcd-rescue wal repair /var/lib/etcd --out /var/lib/etcd-repaired
  etcd-rescue wal repair /var/lib/etcd --out /tmp/fixed --allow-data-loss

The input is never modified. Exit codes: 0 written (or nothing to repair), 1 written with
committed entries dropped (--allow-data-loss), 2 refused or unusable input.")]
    Repair {
        /// Data dir or member dir.
        path: PathBuf,
        /// The new data dir to write.
        #[arg(long)]
        out: PathBuf,
        /// Also cut at a corruption before the tail, dropping the entries after it.
        #[arg(long)]
        allow_data_loss: bool,
        /// Replace an existing output dir.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Check every segment: framing, the CRC chain, torn tails, sequence and index gaps, metadata.
    #[command(after_help = "\
Examples:
  etcd-rescue wal verify /var/lib/etcd
  etcd-rescue wal verify /var/lib/etcd/member -o json

Exit codes: 0 etcd reads the whole log (a torn tail it repairs is a warning), 1 etcd refuses it,
2 unusable input.")]
    Verify {
        /// Data dir or member dir.
        path: PathBuf,
        #[command(flatten)]
        version: VersionArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// One row per entry (term, index, type, decoded request), like etcd-dump-logs.
    #[command(after_help = "\
Examples:
  etcd-rescue wal dump /var/lib/etcd
  etcd-rescue wal dump /var/lib/etcd --start-index 100 --end-index 200 --entry-type IRRPut,IRRTxn
  etcd-rescue wal dump /var/lib/etcd --raw -o json")]
    Dump {
        path: PathBuf,
        /// First index to show.
        #[arg(long)]
        start_index: Option<u64>,
        /// Show indices below this one.
        #[arg(long)]
        end_index: Option<u64>,
        /// Comma-separated etcd-dump-logs filters: ConfigChange, Normal, Request, InternalRaftRequest,
        /// IRRRange, IRRPut, IRRDeleteRange, IRRTxn, IRRCompaction, IRRLeaseGrant, IRRLeaseRevoke,
        /// IRRLeaseCheckpoint.
        #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(ENTRY_TYPES))]
        entry_type: Vec<String>,
        /// Every record (metadata, CRC, hard state, snapshot) with its file offset.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        out: OutputArg,
    },
}

#[derive(Subcommand)]
enum BoltCommand {
    /// A table of every page: id, type, count, overflow, and reachable/free/orphan state.
    #[command(after_help = "Example:\n  etcd-rescue bolt pages /var/lib/etcd/member/snap/db")]
    Pages {
        path: PathBuf,
        #[command(flatten)]
        out: OutputArg,
    },
    /// One page, decoded and as hex.
    #[command(
        after_help = "Examples:\n  etcd-rescue bolt page db 0\n  etcd-rescue bolt page db 12 -o json"
    )]
    Page {
        path: PathBuf,
        id: u64,
        /// Hex dump at most this many bytes (the whole logical page by default).
        #[arg(long)]
        hex_limit: Option<usize>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// The top-level buckets with their key counts.
    #[command(after_help = "Example:\n  etcd-rescue bolt buckets /var/lib/etcd")]
    Buckets {
        path: PathBuf,
        #[command(flatten)]
        out: OutputArg,
    },
    /// The keys (and with --values the values) of one bucket, in key order.
    #[command(
        after_help = "Examples:\n  etcd-rescue bolt keys /var/lib/etcd meta --values\n  etcd-rescue bolt keys db key --limit 10"
    )]
    Keys {
        path: PathBuf,
        bucket: String,
        /// Print values too.
        #[arg(long)]
        values: bool,
        /// Stop after this many keys.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Draw the whole file, one cell per page coloured by type and state, damage ringed: SVG and/or a zoomable HTML page.
    #[command(
        after_help = "Examples:\n  etcd-rescue bolt map /var/lib/etcd --svg map.svg\n  etcd-rescue bolt map backup.db --html map.html\n\nExit codes: 0 no damage, 1 damage found (the map shows where), 2 unusable input.",
        group = clap::ArgGroup::new("picture").required(true).multiple(true).args(["svg", "html"])
    )]
    Map {
        path: PathBuf,
        /// Write the map as SVG (refuses to overwrite without --force).
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Write the map as one self-contained HTML page: zoom, hover, the damaged places as links.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
    },
}

/// The completion script for `shell`. clap_complete's bash script names
/// the functions of a hyphenated binary's subcommands in two ways
/// (`etcd__rescue__subcmd__get` where it dispatches, `etcd__subcmd__rescue__subcmd__get`
/// in the case labels, clap-rs/clap#6421), so nothing past the first word
/// completed: the labels are renamed to what the dispatch uses.
fn completions(shell: clap_complete::Shell) -> String {
    let mut b = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "etcd-rescue", &mut b);
    let s = String::from_utf8_lossy(&b).into_owned();
    match shell {
        clap_complete::Shell::Bash => s.replace("etcd__subcmd__rescue", "etcd__rescue"),
        _ => s,
    }
}

/// The man pages of the CLI, generated from the clap definitions: one per
/// command that is not hidden, named `etcd-rescue[-SUB[-SUB]].1`, in file
/// name order.
fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            walk(sub, pages)?;
        }
        let man = clap_mangen::Man::new(cmd);
        let mut b = Vec::new();
        man.render(&mut b)?;
        pages.push((man.get_filename(), b));
        Ok(())
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    walk(cmd, &mut pages)?;
    pages.sort();
    Ok(pages)
}

/// `man DIR`: write every man page (replacing older ones of the same name).
fn write_man_pages(dir: &std::path::Path, out: &mut dyn Write) -> Result<i32, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure {
        code: exit::UNUSABLE,
        message: format!("{}: {e}", dir.display()),
    })?;
    let pages = man_pages()?;
    for (name, bytes) in &pages {
        etcd_rescue::ops::write::write_new_file(&dir.join(name), bytes, true)?;
    }
    writeln!(
        out,
        "{} man pages written to {}",
        pages.len(),
        dir.display()
    )?;
    Ok(exit::OK)
}

/// A command failure that maps to an exit code.
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            code: exit::UNUSABLE,
            message: e.to_string(),
        }
    }
}

/// Resolve PATH, refusing a member a running process has open unless
/// `--allow-live` (no lock is taken: `/proc/*/fd` tells).
pub fn resolve(path: &std::path::Path) -> Result<Input, Failure> {
    let i = input::resolve(path)?;
    let live = input::open_by_processes(&i);
    if let Some((pid, comm, file)) = live.first() {
        let what = format!(
            "{} is open by process {pid} ({comm}): the member is in use (etcd running on it?), so its files may be mid-write and any answer may be torn; take a consistent copy with `etcdctl snapshot save FILE` and read that, or stop etcd first",
            file.display()
        );
        if !ALLOW_LIVE.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Failure {
                code: exit::UNUSABLE,
                message: format!("{what} (--allow-live reads it anyway)"),
            });
        }
        eprintln!("etcd-rescue: warning: {what}");
    }
    Ok(i)
}

pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::UNUSABLE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    ALLOW_LIVE.store(cli.allow_live, std::sync::atomic::Ordering::Relaxed);
    // Progress bars only for a person watching stderr.
    etcd_rescue::progress::enable(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let stdout = std::io::stdout();
    let mut out = output::Held::new(std::io::BufWriter::new(stdout.lock()));
    let r = dispatch(cli.command, &mut out);
    let written = match &r {
        Ok(_) => out.commit(),
        Err(_) => out.discard(),
    };
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("etcd-rescue: writing the output: {e}");
            return exit::UNUSABLE;
        }
    }
    let code = match r {
        Ok(code) => code,
        // A reader that went away (`| head`) is not an error.
        Err(f) if f.message.contains("Broken pipe") => exit::OK,
        Err(f) => {
            eprintln!("etcd-rescue: {}", f.message);
            f.code
        }
    };
    read_faults(code)
}

/// Reads that failed through a mapping during the run are said now (the
/// pages read as zeros, so the answer was made from the rest); any failed
/// read makes a clean exit 1.
fn read_faults(code: i32) -> i32 {
    for (path, a, b) in etcd_rescue::mmap::take_faults() {
        eprintln!(
            "etcd-rescue: damage: {}: bytes {a}..{b} cannot be read (I/O error while reading): read as zeros, the rest of the file was used",
            path.display()
        );
    }
    if code == exit::OK && etcd_rescue::mmap::damage_met() {
        exit::FINDINGS
    } else {
        code
    }
}

fn dispatch(cmd: Command, out: &mut dyn Write) -> Result<i32, Failure> {
    match cmd {
        Command::Check {
            path,
            version,
            out: o,
        } => commands::check(&path, version.etcd_version, o.output, out),
        Command::Inspect { path, out: o } => commands::inspect(&path, o.output, out),
        Command::Diff {
            a,
            b,
            merge_walk,
            out: o,
        } => commands::diff(&a, &b, merge_walk, o.output, out),
        Command::Get(args) => keyspace_commands::get(&args, out),
        Command::History {
            path,
            key,
            prefix,
            values,
            out: o,
        } => keyspace_commands::history(&path, &key, prefix, values, o.output, out),
        Command::Snapshot(SnapshotCommand::Status {
            path,
            v36,
            version,
            out: o,
        }) => {
            let v = version.etcd_version.or_else(|| {
                v36.then(|| {
                    etcd_rescue::etcd::lines::EtcdVersion::line(
                        etcd_rescue::etcd::lines::Line::V3_6,
                    )
                })
            });
            keyspace_commands::snapshot_status(&path, v, o.output, out)
        }
        Command::Hashkv {
            path,
            rev,
            backend,
            etcdutl,
            version,
            out: o,
        } => keyspace_commands::hashkv(
            &path,
            rev,
            backend,
            version.etcd_version,
            etcdutl,
            o.output,
            out,
        ),
        Command::Members { path, out: o } => keyspace_commands::members(&path, o.output, out),
        Command::Leases { path, out: o } => keyspace_commands::leases(&path, o.output, out),
        Command::Auth {
            path,
            show_secrets,
            out: o,
        } => keyspace_commands::auth(&path, show_secrets, o.output, out),
        Command::Alarms { path, out: o } => keyspace_commands::alarms(&path, o.output, out),
        Command::Wal(WalCommand::Verify {
            path,
            version,
            out: o,
        }) => wal_commands::verify(&path, version.etcd_version, o.output, out),
        Command::Wal(WalCommand::Repair {
            path,
            out: dest,
            allow_data_loss,
            force,
            output,
        }) => wal_commands::repair(&path, &dest, allow_data_loss, force, output.output, out),
        Command::Wal(WalCommand::Dump {
            path,
            start_index,
            end_index,
            entry_type,
            raw,
            out: o,
        }) => {
            let filter = etcd_rescue::ops::wal::DumpFilter {
                start_index,
                end_index,
                entry_types: entry_type,
                raw,
            };
            wal_commands::dump(&path, &filter, o.output, out)
        }
        Command::Bolt(b) => match b {
            BoltCommand::Pages { path, out: o } => commands::bolt_pages(&path, o.output, out),
            BoltCommand::Page {
                path,
                id,
                hex_limit,
                out: o,
            } => commands::bolt_page(&path, id, hex_limit, o.output, out),
            BoltCommand::Buckets { path, out: o } => commands::bolt_buckets(&path, o.output, out),
            BoltCommand::Keys {
                path,
                bucket,
                values,
                limit,
                out: o,
            } => commands::bolt_keys(&path, &bucket, values, limit, o.output, out),
            BoltCommand::Map {
                path,
                svg,
                html,
                force,
            } => commands::bolt_map(&path, svg.as_deref(), html.as_deref(), force, out),
        },
        Command::K8s(k) => k8s_commands::dispatch(k, out),
        Command::Doctor(a) => doctor_commands::doctor(a, out),
        Command::Repair {
            path,
            out: dest,
            force,
            report,
            salvage,
            replay_wal,
            version,
        } => commands::repair(
            &path,
            &dest,
            force,
            report.as_deref(),
            etcd_rescue::ops::repair::RepairOptions {
                salvage,
                replay_wal,
                etcd_version: version.etcd_version,
            },
            out,
        ),
        Command::Status { path, out: o } => commands::status(&path, o.output, out),
        Command::Completions { shell } => {
            out.write_all(completions(shell).as_bytes())?;
            Ok(exit::OK)
        }
        Command::Man { dir } => write_man_pages(&dir, out),
    }
}

mod commands;
mod doctor_commands;
mod k8s_commands;
mod keyspace_commands;
mod output;
mod wal_commands;
