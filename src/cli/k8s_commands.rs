//! `etcd-rescue k8s ...`: Kubernetes objects from a stopped member or a
//! backup, decoded to what kubectl shows.
#![forbid(unsafe_code)]

use super::Failure;
use clap::Subcommand;
use etcd_rescue::ops::exit;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum K8sCommand {
    /// (Developers) infer the built-in schema from Kubernetes' round-trip test data.
    #[command(hide = true)]
    InferSchema {
        /// Folders of `<group>.<version>.<Kind>.pb` files with `.json` beside them.
        #[arg(required = true)]
        testdata: Vec<PathBuf>,
        /// Go facts (pointer, omitempty) to apply.
        #[arg(long)]
        facts: Option<PathBuf>,
    },
}

pub fn dispatch(cmd: K8sCommand, out: &mut dyn Write) -> Result<i32, Failure> {
    match cmd {
        K8sCommand::InferSchema { testdata, facts } => {
            let pairs = etcd_rescue::k8s::infer::read_pairs(&testdata)?;
            let facts = match facts {
                Some(p) => std::fs::read_to_string(p)?,
                None => String::new(),
            };
            let (text, rep) = etcd_rescue::k8s::infer::schema_file(&pairs, &facts);
            out.write_all(text.as_bytes())?;
            for (what, list) in [
                ("unmatched protobuf field", &rep.unmatched),
                ("unused JSON member", &rep.unused),
                ("ambiguous (settled by JSON order)", &rep.ambiguous),
                ("fact not applied", &rep.bad_facts),
            ] {
                for l in list {
                    eprintln!("{what}: {l}");
                }
            }
            Ok(exit::OK)
        }
    }
}
