//! The `etcd-rescue` command line: argument parsing and output only; the
//! work is done by the library's operations.
#![forbid(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::run());
}
