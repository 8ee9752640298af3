//! The `officemesh` binary: parses the command line and runs the agent or a client command.
//! All wiring lives in the library; this file is the edge where errors become messages.

fn main() -> anyhow::Result<()> {
    Ok(())
}
