//! Crash safety of the store, for real: a child process (this test binary, re-executed to run
//! only `crash_child_writes_until_killed`) writes readings through `Replica::write`,
//! `take_changes` and `Store::apply`, 50 per batch, and prints `committed <n>` after each `apply`
//! returned. The parent kills it with SIGKILL after a random delay (seeded), at least 25 times,
//! and after each kill reopens the database and checks: it opens, `PRAGMA integrity_check` says
//! ok, every reading reported committed is in the sample history and in the replica, and what
//! was persisted is one consistent transaction boundary (samples, entries and the one-minute
//! aggregates agree), and the gossip safety state (GC floors, mark, incarnation) committed with
//! each batch is exactly the last persisted batch's. The next child resumes from what was
//! persisted.
//!
//! This kills the process, not the machine: the operating system still writes out what SQLite
//! handed it. Power cuts are covered by `synchronous=FULL` in WAL mode, not by this test.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use officemesh::crdt::{NodeId, Stamp};
use officemesh::state::{Key, ReadingStatus, ReadingValue, Replica, SafetyState, Value};
use officemesh::store::{HistoryQuery, RetentionPolicy, Store, DB_FILE};
use officemesh_sensors::Quantity;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Set (to the data directory) only in the child process.
const CHILD_ENV: &str = "OFFICEMESH_STORE_CRASH_CHILD_DIR";
const CHILD_TEST: &str = "store_crash::crash_child_writes_until_killed";
const ME: NodeId = NodeId(0x0c0a_5b00);
const BATCH: u64 = 50;
const KILLS: usize = 25;
/// Kills continue until at least this many children had committed something.
const MIN_COMMITTING_RUNS: usize = 20;
/// Reading `n` is taken at `T0 + n * 100 ms`.
const T0: u64 = 20_000 * 86_400_000;
/// The child gives up by itself after this long, in case nobody kills it.
const CHILD_MAX_RUN: Duration = Duration::from_secs(20);

/// The quantities the child writes in turn: linear ones, whose history average is the
/// arithmetic mean this test checks (sound levels average as energy).
const QUANTITIES: [Quantity; 3] = [
    Quantity::Temperature,
    Quantity::Humidity,
    Quantity::SoundActivity,
];

fn key(n: u64) -> Key {
    Key::Reading {
        node: ME,
        sensor: "desk".into(),
        quantity: QUANTITIES[(n % 3) as usize],
    }
}

fn taken_at(n: u64) -> u64 {
    T0 + n * 100
}

/// The reading number a replica entry holds (its value is its number).
fn number_in(replica: &Replica, key: &Key) -> Option<u64> {
    match replica.value(key) {
        Some(Value::Reading(reading)) => Some(reading.value as u64),
        _ => None,
    }
}

/// The safety state (GC floors, mark, incarnation) the child persists with reading `n`'s batch.
fn safety_after(n: u64) -> SafetyState {
    SafetyState {
        floors: vec![(NodeId(0x77), n)],
        gc_mark: Stamp::new(Stamp::time_from_unix_ms(taken_at(n)), NodeId(0x77)),
        incarnation: n,
        ..SafetyState::default()
    }
}

/// The highest reading number persisted, from the replica loaded from the database.
fn last_persisted(replica: &Replica) -> Option<u64> {
    (0..3).filter_map(|n| number_in(replica, &key(n))).max()
}

#[test]
#[ignore = "the child half of sigkill_never_loses_committed_readings, which starts it"]
fn crash_child_writes_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut store = Store::open(Path::new(&dir)).expect("child opens the store");
    let mut replica = store.load_replica(ME).expect("child loads the replica");
    let mut next = last_persisted(&replica).map_or(0, |n| n + 1);
    let started = Instant::now();
    let mut stdout = std::io::stdout();
    let mut batches = 0u64;
    while started.elapsed() < CHILD_MAX_RUN {
        for _ in 0..BATCH {
            let value = Value::Reading(ReadingValue {
                value: next as f64,
                unit: "x".into(),
                room: "lab".into(),
                status: ReadingStatus::Ok,
                taken_at_ms: taken_at(next),
            });
            let stamp = Stamp::new(Stamp::time_from_unix_ms(taken_at(next)), ME);
            replica
                .write(key(next), Some(value), stamp)
                .expect("stamps grow with n");
            next += 1;
        }
        // The protocol's safety state changes with the batch: it must commit with it.
        replica.set_safety(safety_after(next - 1));
        store
            .apply(&replica.take_changes())
            .expect("child applies a batch");
        writeln!(stdout, "committed {}", next - 1).expect("stdout");
        stdout.flush().expect("flush");
        batches += 1;
        if batches % 5 == 0 {
            // Aggregation only (nothing is old enough to delete): its transaction is killed too.
            let keep = RetentionPolicy {
                raw_days: 100_000,
                aggregate_days: 100_000,
            };
            store
                .run_retention(taken_at(next), &keep)
                .expect("child runs retention");
        }
    }
}

/// Runs the child until killed after `delay`; returns the highest number it reported committed.
fn run_child_and_kill(dir: &Path, delay: Duration) -> Option<u64> {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            CHILD_TEST,
            "--exact",
            "--nocapture",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut highest = None;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return highest,
                Ok(_) => {
                    // Only whole lines count: the kill may cut one short.
                    if let Some(n) = line
                        .strip_suffix('\n')
                        .and_then(|l| l.strip_prefix("committed "))
                    {
                        highest = Some(n.parse::<u64>().expect("a number"));
                    }
                }
            }
        }
    });
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert_eq!(
        status.signal(),
        Some(9),
        "the child must still be running when killed, got {status}"
    );
    reader.join().expect("reader thread")
}

/// Reopens the database and checks it against what the child reported committed.
fn check(dir: &Path, committed: Option<u64>) {
    let store = Store::open(dir).expect("the database reopens after SIGKILL");
    assert!(store.integrity_ok().expect("integrity check runs"));
    let replica = store.load_replica(ME).expect("the replica loads");
    let persisted = last_persisted(&replica);
    let Some(committed) = committed else {
        return;
    };
    let persisted = persisted.expect("something was committed, so something is persisted");
    assert!(
        persisted >= committed,
        "reading {committed} was reported committed but the replica holds only up to {persisted}"
    );
    // The latest reading of each key is what the replica holds.
    for n in persisted.saturating_sub(2)..=persisted {
        assert_eq!(number_in(&replica, &key(n)), Some(n));
    }
    assert!(replica.watermark(ME) > persisted, "own versions survive");
    assert_eq!(
        replica.safety(),
        &safety_after(persisted),
        "the GC floors, mark and incarnation are those committed with the last batch"
    );
    // Every reading up to the last persisted one is in the history, once.
    let mut total = 0;
    for quantity in QUANTITIES {
        let history = store
            .history(&HistoryQuery {
                node: ME,
                sensor: "desk".into(),
                quantity,
                from_ms: T0,
                to_ms: u64::MAX / 2,
                step_ms: u64::MAX / 4,
            })
            .expect("history");
        let numbers: Vec<u64> = (0..=persisted)
            .filter(|n| QUANTITIES[(n % 3) as usize] == quantity)
            .collect();
        let count: u64 = history.iter().map(|p| p.count).sum();
        assert_eq!(count, numbers.len() as u64, "{quantity:?} samples");
        if let [point] = history.as_slice() {
            assert_eq!(point.min, numbers[0] as f64);
            assert_eq!(point.max, *numbers.last().expect("some") as f64);
            assert_eq!(
                point.avg * point.count as f64,
                numbers.iter().sum::<u64>() as f64
            );
        }
        total += count;
    }
    assert_eq!(
        store.stats().expect("stats").samples,
        total,
        "no sample beyond the last committed transaction"
    );
    // Aggregates hold exactly the samples marked aggregated.
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).expect("open for reading");
    let (in_aggregates, marked): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT IFNULL(SUM(count), 0) FROM samples_1m),
                    (SELECT COUNT(*) FROM samples WHERE aggregated = 1)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("aggregate counts");
    assert_eq!(in_aggregates, marked);
}

#[test]
fn sigkill_never_loses_committed_readings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = StdRng::seed_from_u64(0x0ff1_ce5e);
    let mut committed: Option<u64> = None;
    let (mut kills, mut runs_that_committed) = (0, 0);
    // On a slow machine a child may be killed before its first commit: such kills still count
    // (they hit open, migration or the first batch), and later children get more time.
    let mut extra = Duration::ZERO;
    while kills < KILLS || runs_that_committed < MIN_COMMITTING_RUNS {
        assert!(
            kills < 10 * KILLS,
            "children keep dying before their first commit"
        );
        let delay = Duration::from_millis(rng.gen_range(20..250)) + extra;
        let reported = run_child_and_kill(dir.path(), delay);
        kills += 1;
        match reported {
            Some(n) => {
                assert!(
                    committed.is_none_or(|c| n > c),
                    "the child resumes after {committed:?}"
                );
                committed = Some(n);
                runs_that_committed += 1;
            }
            None => extra += Duration::from_millis(50),
        }
        check(dir.path(), committed);
    }
    println!("{kills} kills, {runs_that_committed} after commits; last reading {committed:?}");
}
