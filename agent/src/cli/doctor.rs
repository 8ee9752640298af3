//! `officemesh doctor`: checks this machine for what people usually get wrong on a Pi (the
//! sensors' checks from `officemesh_sensors`, plus the config, data directory and cluster key)
//! and prints the fix for each problem. Local only: no agent, no HTTP; it writes nothing but a
//! probe file it removes again.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use officemesh_sensors::Check;
use serde_json::{json, Value as Json};

use super::print_json;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The config file the agent runs with (its sensors decide what is checked).
    #[arg(long, short, env = "OFFICEMESH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs every check and prints them; exits 1 when one fails.
pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut checks: Vec<Check> = Vec::new();
    let config = match &args.config {
        Some(path) => {
            let (check, config) = config_check(path);
            checks.push(check);
            config
        }
        None => Config::local_default(Path::new("officemesh-data")),
    };
    checks.extend(officemesh_sensors::run_checks(
        &config.sensors,
        Path::new("/"),
    ));
    checks.push(data_dir_check(&config.storage.data_dir));
    if !config.gossip.insecure && args.config.is_some() {
        checks.push(cluster_key_check(&config.gossip.key_file));
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if args.json {
        print_json(&checks_json(&checks, failed))?;
    } else {
        print_checks(&checks, failed);
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether the config file loads; the defaults stand in when it does not.
fn config_check(path: &Path) -> (Check, Config) {
    match Config::load(path) {
        Ok(config) => (
            Check {
                name: "config".into(),
                ok: true,
                detail: format!("{} is valid", path.display()),
                fix: None,
            },
            config,
        ),
        Err(err) => (
            Check {
                name: "config".into(),
                ok: false,
                detail: err.to_string(),
                fix: Some("fix the key named above (docs/config.md lists every key)".into()),
            },
            Config::default(),
        ),
    }
}

/// Whether the agent can create and write files in its data directory.
fn data_dir_check(data_dir: &Path) -> Check {
    let probe = data_dir.join(".doctor-probe");
    let writable = std::fs::create_dir_all(data_dir)
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe));
    Check {
        name: "data directory".into(),
        ok: writable.is_ok(),
        detail: match &writable {
            Ok(()) => format!("{} is writable", data_dir.display()),
            Err(err) => format!("{}: {err}", data_dir.display()),
        },
        fix: writable.as_ref().err().map(|_| {
            format!(
                "create it and give the agent's user write access: sudo install -d -o officemesh {}",
                data_dir.display()
            )
        }),
    }
}

/// Whether the cluster key file holds a valid key.
fn cluster_key_check(key_file: &Path) -> Check {
    let key = crate::net::load_key(key_file);
    Check {
        name: "cluster key".into(),
        ok: key.is_ok(),
        detail: match &key {
            Ok(_) => format!("{} is a valid key", key_file.display()),
            Err(err) => err.to_string(),
        },
        fix: key.as_ref().err().map(|_| {
            format!(
                "officemesh keygen --out {} (once), then copy the same file to every Pi",
                key_file.display()
            )
        }),
    }
}

fn checks_json(checks: &[Check], failed: usize) -> Json {
    let rows: Vec<Json> = checks
        .iter()
        .map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix}))
        .collect();
    json!({ "checks": rows, "failed": failed })
}

fn print_checks(checks: &[Check], failed: usize) {
    for check in checks {
        println!(
            "[{}] {}: {}",
            if check.ok { " ok " } else { "FAIL" },
            check.name,
            check.detail
        );
        if let Some(fix) = &check.fix {
            println!("       fix: {fix}");
        }
    }
    println!("{} checks, {failed} failed", checks.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwritable_data_directory_fails_with_a_fix() {
        let dir = std::env::temp_dir().join(format!("officemesh-doctor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        let check = data_dir_check(&file);
        assert!(!check.ok, "{check:?}");
        assert!(check.fix.is_some_and(|fix| fix.contains("install -d")));
        assert!(data_dir_check(&dir.join("data")).ok);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
