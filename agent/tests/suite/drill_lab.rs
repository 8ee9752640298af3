//! The partition drills for real: `deploy/lab/drill.sh` brings up 5 Pis in network namespaces
//! (each a real `officemesh` agent, this build's binary) plus phones, and runs every scenario in
//! `deploy/lab/scenarios/` — one Pi unplugged, the office split in two, a rolling `kill -9`, a
//! clock an hour ahead, hostile peers. Each must pass its expectations (detection from the
//! agents' own events, convergence, LWW under skew, refusals) with no acknowledged write lost.
//! Afterwards no namespace of the run may be left behind.
//!
//! Needs root, `ip`, `curl` and `jq`: skips with a printed reason otherwise, but fails when
//! `CI=true`. Skips when `OFFICEMESH_SKIP_SERVICES=1` (the aarch64-under-qemu run).
//! Bounds are in intervals and generous; the figures are printed, not asserted.

use std::path::PathBuf;
use std::process::Command;

fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("drill_lab cannot run under CI=true: {reason}");
    }
    eprintln!("SKIPPED drill_lab: {reason}");
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn lab_namespaces(lab_id: &str) -> Vec<String> {
    let output = Command::new("ip").args(["netns", "list"]).output();
    let text = output
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(&format!("{lab_id}-")))
        .map(String::from)
        .collect()
}

#[test]
fn every_drill_scenario_passes_with_no_lost_write() {
    // One namespace/mount lab at a time in this process (support::netns_lock).
    let _lab = crate::support::netns_lock();
    if std::env::var("OFFICEMESH_SKIP_SERVICES").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED drill_lab: OFFICEMESH_SKIP_SERVICES=1");
        return;
    }
    if effective_uid() != Some(0) {
        return skip("needs root for network namespaces (run the suite with sudo)");
    }
    for tool in ["ip", "curl", "jq"] {
        if !has(tool) {
            return skip(&format!(
                "{tool} is missing (apt-get install iproute2 curl jq)"
            ));
        }
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let lab_dir = repo.join("deploy/lab");
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(lab_dir.join("scenarios"))
        .expect("deploy/lab/scenarios")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "drill"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 5, "scenarios: {scenarios:?}");

    let lab_id = format!("omci{}", std::process::id() % 100_000);
    let state = tempfile::tempdir().expect("tempdir");
    let output = Command::new(lab_dir.join("drill.sh"))
        .args(["--pis", "5", "--interval", "200"])
        .args(&scenarios)
        .env("OFFICEMESH_BIN", env!("CARGO_BIN_EXE_officemesh"))
        .env("LAB_ID", &lab_id)
        .env("LAB_STATE", state.path().join("lab"))
        .output()
        .expect("run deploy/lab/drill.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    let leftovers = lab_namespaces(&lab_id);
    if !leftovers.is_empty() {
        let _ = Command::new(lab_dir.join("lab.sh"))
            .arg("down")
            .env("LAB_ID", &lab_id)
            .status();
    }
    assert!(
        output.status.success(),
        "drills failed ({}):\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let reports: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("REPORT "))
        .collect();
    assert_eq!(reports.len(), scenarios.len(), "one report per scenario");
    for report in &reports {
        assert!(report.contains("result=PASS"), "{report}");
        assert!(report.contains(" lost=0 "), "{report}");
    }
    // 04 ends with pi4's clock set right: the writes it acknowledged while an hour ahead count
    // like everyone's (none held back, none lost) and are on every Pi.
    let clock: Vec<&&str> = reports
        .iter()
        .filter(|r| r.contains("scenario=04-clock-ahead"))
        .collect();
    assert_eq!(clock.len(), 1, "{reports:?}");
    assert!(
        clock[0].contains(" writes=4 ") && clock[0].contains(" held_back=0 "),
        "the fixed Pi's writes count as acknowledged writes: {clock:?}"
    );
    assert!(
        leftovers.is_empty(),
        "the drill left namespaces behind: {leftovers:?}"
    );
}
