//! SD-card write budget: bytes one agent writes to its disk per hour at office defaults, from
//! the kernel's own count (`/proc/<pid>/io` `write_bytes`: bytes the process caused to be sent
//! to the storage layer, page-granular, fsyncs included). A plain `main` printing figures; it
//! asserts nothing.
//!
//! The agent is the real binary (`OFFICEMESH_BIN`, default `target/release/officemesh`, else
//! `target/debug/officemesh`) with the shipped defaults except what a bench machine needs:
//! presence on simulated devices (`SD_BENCH_DEVICES`, default 30, the office's phones and
//! laptops; none registered, so presence writes only its device count), one simulated sensor at its default poll, gossip
//! and API on loopback. After a warm-up of one minute (start-up, schema, first scans) it counts
//! `write_bytes` for `SD_BENCH_MINUTES` (default 10) and prints MB per hour and per day.
//! The data directory is on a real file system (`SD_BENCH_DIR`, default `/var/tmp`): on tmpfs
//! nothing reaches a block device and `write_bytes` stays 0.
//!
//! Run: `cargo build --release -p officemesh && cargo bench -p officemesh --bench sd_writes`

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn agent_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("OFFICEMESH_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let release = target.join("release/officemesh");
    if release.exists() {
        release
    } else {
        target.join("debug/officemesh")
    }
}

/// `write_bytes` of `pid`, or `None` once the process is gone.
fn write_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18420)
}

fn config(dir: &Path, devices: u64) -> String {
    format!(
        "[node]\nname = \"pi-bench\"\nroom = \"office\"\n\n[storage]\ndata_dir = \"{}\"\n\n\
         [api]\nlisten = \"127.0.0.1:{}\"\n\n[gossip]\nlisten = \"127.0.0.1:{}\"\n\
         insecure = true\n\n[presence]\ninterface = \"sim\"\nsim_devices = {devices}\n\n\
         [[sensors]]\ndriver = \"sim\"\nname = \"desk\"\n",
        dir.join("data").display(),
        free_port(),
        free_port()
    )
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let devices = env_u64("SD_BENCH_DEVICES", 30);
    let minutes = env_u64("SD_BENCH_MINUTES", 10).max(1);
    let base = std::env::var("SD_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into());
    let dir = match tempfile::Builder::new()
        .prefix("sd-bench")
        .tempdir_in(&base)
    {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("sd_writes: cannot make a directory in {base}: {err}");
            std::process::exit(1);
        }
    };
    let config_path = dir.path().join("config.toml");
    if let Err(err) = std::fs::write(&config_path, config(dir.path(), devices)) {
        eprintln!("sd_writes: cannot write {}: {err}", config_path.display());
        std::process::exit(1);
    }
    let bin = agent_binary();
    let child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let agent = match child {
        Ok(child) => Agent(child),
        Err(err) => {
            eprintln!("sd_writes: cannot start {}: {err}", bin.display());
            std::process::exit(1);
        }
    };
    let pid = agent.0.id();
    println!(
        "sd_writes: {} with {devices} simulated devices and one simulated sensor, data in {}",
        bin.display(),
        dir.path().display()
    );
    std::thread::sleep(Duration::from_secs(60));
    let (Some(start), started) = (write_bytes(pid), Instant::now()) else {
        eprintln!("sd_writes: the agent stopped during the warm-up");
        std::process::exit(1);
    };
    for minute in 1..=minutes {
        std::thread::sleep(Duration::from_secs(60));
        let Some(now) = write_bytes(pid) else {
            eprintln!("sd_writes: the agent stopped");
            std::process::exit(1);
        };
        let hours = started.elapsed().as_secs_f64() / 3600.0;
        println!(
            "  after {minute:>2} min: {:.2} MB written, {:.2} MB/hour",
            (now - start) as f64 / 1e6,
            (now - start) as f64 / 1e6 / hours
        );
    }
    let end = write_bytes(pid).unwrap_or(start);
    let hours = started.elapsed().as_secs_f64() / 3600.0;
    let per_hour = (end - start) as f64 / 1e6 / hours;
    let db = dir.path().join("data/officemesh.db");
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    println!(
        "sd_writes: {per_hour:.2} MB/hour ({:.0} MB/day) over {minutes} min; officemesh.db {} KB, WAL {} KB",
        per_hour * 24.0,
        file_size(&db) / 1024,
        file_size(Path::new(&wal)) / 1024
    );
}
