//! clap definitions and dispatch. Thin: parse, call an operation, render.

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
  etcd-rescue bolt map /var/lib/etcd --svg map.svg

Exit codes: 0 no error found, 1 errors found, 2 input unusable or bad usage.";

#[derive(Parser)]
#[command(name = "etcd-rescue", version, about = ABOUT, after_help = AFTER)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

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
    /// Low-level bbolt views: pages, one page, buckets, keys, and a map of the file.
    #[command(subcommand)]
    Bolt(BoltCommand),
    /// Print shell completions.
    #[command(after_help = "\
Examples:
  etcd-rescue completions bash > /etc/bash_completion.d/etcd-rescue
  etcd-rescue completions zsh > \"${fpath[1]}/_etcd-rescue\"
  etcd-rescue completions fish > ~/.config/fish/completions/etcd-rescue.fish")]
    Completions { shell: clap_complete::Shell },
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
    /// Draw the whole file, one cell per page coloured by type and state, as SVG.
    #[command(after_help = "Example:\n  etcd-rescue bolt map /var/lib/etcd --svg map.svg")]
    Map {
        path: PathBuf,
        /// Where to write the SVG (refuses to overwrite without --force).
        #[arg(long)]
        svg: PathBuf,
        /// Overwrite an existing output file.
        #[arg(long)]
        force: bool,
    },
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

pub fn resolve(path: &std::path::Path) -> Result<Input, Failure> {
    Ok(input::resolve(path)?)
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
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let r = dispatch(cli.command, &mut out);
    let _ = out.flush();
    match r {
        Ok(code) => code,
        Err(f) => {
            eprintln!("etcd-rescue: {}", f.message);
            f.code
        }
    }
}

fn dispatch(cmd: Command, out: &mut dyn Write) -> Result<i32, Failure> {
    match cmd {
        Command::Check { path, out: o } => commands::check(&path, o.output, out),
        Command::Inspect { path, out: o } => commands::inspect(&path, o.output, out),
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
            BoltCommand::Map { path, svg, force } => commands::bolt_map(&path, &svg, force, out),
        },
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "etcd-rescue", out);
            Ok(exit::OK)
        }
    }
}

mod commands;
