//! The `officemesh` binary: parses the command line and hands it to `officemesh::cli`, where
//! each subcommand lives in a file of its own. This file is only the edge where errors become
//! a message and an exit code.

use std::process::ExitCode;

use clap::Parser;
use officemesh::cli::Cli;

fn main() -> ExitCode {
    match Cli::parse().run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("officemesh: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
