//! `officemesh keygen`: writes a new cluster key file. Local only: no agent, no HTTP.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key, e.g. /etc/officemesh/cluster.key.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an existing file (every Pi then needs the new key; see key rotation in
    /// docs/config.md: `gossip.accept_key_files`).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &KeygenArgs) -> anyhow::Result<()> {
    let fingerprint = crate::net::keygen(&args.out, args.force)?;
    println!(
        "wrote cluster key {} (fingerprint {fingerprint}); copy it to every Pi as gossip.key_file",
        args.out.display()
    );
    Ok(())
}
