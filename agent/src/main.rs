//! The `officemesh` binary: parses the command line and runs the agent (`run`) or a client
//! command against an agent's HTTP API. All wiring lives in the library; this file is the edge
//! where errors become messages.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use officemesh::client::{self, Client};
use officemesh::config::Config;
use officemesh::runtime::Agent;
use serde_json::{json, Value as Json};

/// officemesh: office sensors and presence on a leaderless mesh of Raspberry Pis.
///
/// Every Pi runs `officemesh run`. Any agent answers "who's at the office?" and "meeting room
/// temperature?" from its own replica, over HTTP, this CLI, chat and MQTT.
#[derive(Debug, Parser)]
#[command(name = "officemesh", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent. Without --config: simulated sensors and devices, data in
    /// ./officemesh-data, HTTP API on 127.0.0.1:8420.
    Run(RunArgs),
    /// Write a new cluster key file (32 random bytes, hex, mode 0600). Copy the same file to
    /// every Pi of the cluster (`gossip.key_file`).
    Keygen {
        /// Where to write the key, e.g. /etc/officemesh/cluster.key.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file (every Pi then needs the new key; see key rotation in
        /// docs/config.md: `gossip.accept_key_files`).
        #[arg(long)]
        force: bool,
    },
    /// Check this machine for what people usually get wrong on a Pi (I2C/SPI enabled, device
    /// nodes, group membership, overlays, clock sync, data directory, cluster key) and print
    /// the fix for each problem. Exits 1 when a check fails.
    Doctor {
        /// The config file the agent runs with (its sensors decide what is checked).
        #[arg(long, short, env = "OFFICEMESH_CONFIG")]
        config: Option<PathBuf>,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Who is at the office (registered people whose devices were seen recently).
    Who(ClientArgs),
    /// Latest readings of every sensor, with their age.
    Readings {
        #[command(flatten)]
        client: ClientArgs,
        /// Only this room.
        #[arg(long)]
        room: Option<String>,
        /// Only this quantity (temperature, humidity, sound).
        #[arg(long)]
        quantity: Option<String>,
    },
    /// Devices on the office network (MAC, IP, who saw them, who owns them).
    Network(ClientArgs),
    /// Mesh health: every node, its status and what this agent may be missing.
    Status(ClientArgs),
    /// The replicated state's hash (equal on agents holding the same state).
    Hash(ClientArgs),
    /// What this agent saw happen to the mesh: peers suspect, dead, alive again (with their
    /// downtime), catch-ups, heals, resets, refused peers, clock-ahead entries.
    Events {
        #[command(flatten)]
        client: ClientArgs,
        /// Only events in the last this many seconds.
        #[arg(long)]
        last: Option<u64>,
        /// Only events of this kind (peer_dead, peer_alive, mesh_healed, …).
        #[arg(long)]
        kind: Option<String>,
    },
    /// List, add or remove people and their devices.
    People {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        action: Option<PeopleAction>,
    },
    /// List or set a room's target band (alerts fire outside it).
    Targets {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        action: Option<TargetAction>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Config file (TOML); keys are documented in docs/config.md.
    #[arg(long, short, env = "OFFICEMESH_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory; overrides storage.data_dir. Default without --config: ./officemesh-data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct ClientArgs {
    /// The agent's HTTP API.
    #[arg(
        long,
        global = true,
        env = "OFFICEMESH_API",
        default_value = "http://127.0.0.1:8420"
    )]
    api: String,
    /// The agent's api.token: needed for writes and for reads of personal data when it has one.
    #[arg(long, global = true, env = "OFFICEMESH_TOKEN")]
    token: Option<String>,
    /// Print the agent's JSON answer instead of a table (for scripts).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum PeopleAction {
    /// List registered people and their MACs (the default).
    List,
    /// Register a device as someone's: `people add "Ada Lovelace" aa:bb:cc:dd:ee:ff`.
    Add { name: String, mac: String },
    /// Forget one of someone's devices.
    Remove { name: String, mac: String },
}

#[derive(Debug, Subcommand)]
enum TargetAction {
    /// List target bands (the default).
    List,
    /// Set a room's target: `targets set "meeting room" temperature 22 --tolerance 1.5`.
    Set {
        room: String,
        quantity: String,
        value: f64,
        #[arg(long, default_value_t = 1.0)]
        tolerance: f64,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Keygen { out, force } => keygen(&out, force),
        Command::Doctor { config, json } => doctor(config, json),
        other => client_command(other),
    };
    if let Err(err) = result {
        eprintln!("officemesh: error: {err:#}");
        std::process::exit(1);
    }
}

fn keygen(out: &std::path::Path, force: bool) -> anyhow::Result<()> {
    let fingerprint = officemesh::net::keygen(out, force)?;
    println!(
        "wrote cluster key {} (fingerprint {fingerprint}); copy it to every Pi as gossip.key_file",
        out.display()
    );
    Ok(())
}

fn doctor(config_path: Option<PathBuf>, as_json: bool) -> anyhow::Result<()> {
    use officemesh_sensors::Check;
    let mut checks: Vec<Check> = Vec::new();
    let config = match &config_path {
        Some(path) => match Config::load(path) {
            Ok(config) => {
                checks.push(Check {
                    name: "config".into(),
                    ok: true,
                    detail: format!("{} is valid", path.display()),
                    fix: None,
                });
                config
            }
            Err(err) => {
                checks.push(Check {
                    name: "config".into(),
                    ok: false,
                    detail: err.to_string(),
                    fix: Some("fix the key named above (docs/config.md lists every key)".into()),
                });
                Config::default()
            }
        },
        None => Config::local_default(std::path::Path::new("officemesh-data")),
    };
    checks.extend(officemesh_sensors::run_checks(
        &config.sensors,
        std::path::Path::new("/"),
    ));
    let data_dir = &config.storage.data_dir;
    let probe = data_dir.join(".doctor-probe");
    let writable = std::fs::create_dir_all(data_dir)
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe));
    checks.push(Check {
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
    });
    if !config.gossip.insecure && config_path.is_some() {
        let key = officemesh::net::load_key(&config.gossip.key_file);
        checks.push(Check {
            name: "cluster key".into(),
            ok: key.is_ok(),
            detail: match &key {
                Ok(_) => format!("{} is a valid key", config.gossip.key_file.display()),
                Err(err) => err.to_string(),
            },
            fix: key.as_ref().err().map(|_| {
                format!(
                    "officemesh keygen --out {} (once), then copy the same file to every Pi",
                    config.gossip.key_file.display()
                )
            }),
        });
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if as_json {
        let rows: Vec<Json> = checks
            .iter()
            .map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix}))
            .collect();
        print_json(&json!({ "checks": rows, "failed": failed }))?;
    } else {
        for check in &checks {
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
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load_config(args: &RunArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            let data_dir = args
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("officemesh-data"));
            Config::local_default(&data_dir)
        }
    };
    if let Some(dir) = &args.data_dir {
        config.storage.data_dir = dir.clone();
    }
    Ok(config)
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_agent(config, args.config.is_none()))
}

async fn run_agent(config: Config, local_mode: bool) -> anyhow::Result<()> {
    officemesh::clock::set_test_clock_offset_ms(config.gossip.test_clock_offset_ms);
    if config.gossip.test_clock_offset_ms != 0 {
        tracing::warn!(
            offset_ms = config.gossip.test_clock_offset_ms,
            "TEST ONLY: this agent's clock is shifted (gossip.test_clock_offset_ms)"
        );
    }
    let api_addr = config.api.listen;
    let data_dir = config.storage.data_dir.clone();
    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .with_context(|| {
            format!("cannot listen for the HTTP API on {api_addr} (is another agent running? set api.listen)")
        })?;
    let mut agent = Agent::start(config).with_context(|| {
        format!(
            "cannot start the agent with data directory {}",
            data_dir.display()
        )
    })?;
    if local_mode && !agent.shared.config.gossip.insecure {
        // Local mode: a cluster key of its own in the data directory, made on first start.
        officemesh::net::keys::load_or_generate_key(&agent.shared.config.gossip.key_file)?;
    }
    officemesh::mesh::start(&mut agent).await?;
    let shared = agent.shared.clone();
    if let officemesh::clock::WallClockStatus::Unsynced(why) =
        officemesh::clock::wall_clock_status()
    {
        tracing::warn!(reason = %why, "wall clock not synchronized");
    }
    if shared.config.api.token.is_empty() && !shared.config.api.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %shared.config.api.listen,
            "api.token is not set and the API listens beyond this machine: other machines may \
             read presence, people and the network, and their writes are refused (403); set \
             api.token (prepare-sd and the .deb generate one)"
        );
    }
    let mut api_shutdown = agent.shutdown_signal();
    let api_shared = Arc::clone(&shared);
    agent.spawn(async move {
        let stop = async move {
            let _ = api_shutdown.changed().await;
        };
        if let Err(err) = officemesh::api::serve(listener, api_shared, stop).await {
            tracing::error!(error = %err, "HTTP API stopped");
        }
    });
    tracing::info!(
        node = %shared.node,
        name = %shared.name,
        room = %shared.config.node.room,
        api = %api_addr,
        data_dir = %data_dir.display(),
        "officemesh agent running"
    );
    eprintln!(
        "officemesh {} — node '{}' ({}) in room '{}'\n  HTTP API:  http://{api_addr}/v1/readings  (also /v1/presence, /v1/nodes, /healthz)\n  dashboard: http://{api_addr}/\n  gossip:    {}  (cluster '{}')\n  CLI:       officemesh readings | who | status   (--api http://{api_addr})\n  data:      {}{}\n  stop with Ctrl-C",
        officemesh::VERSION,
        shared.name,
        shared.node,
        shared.config.node.room,
        officemesh::mesh::advertise_addr(&shared),
        shared.config.gossip.cluster,
        data_dir.display(),
        if local_mode { "  (no --config: simulated sensors and devices)" } else { "" },
    );
    drop(shared);
    wait_for_stop_signal().await;
    tracing::info!("stopping: committing pending writes");
    agent.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

fn now_ms() -> u64 {
    officemesh::clock::wall_ms()
}

fn print_json(value: &Json) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn str_of<'a>(value: &'a Json, key: &str) -> &'a str {
    value.get(key).and_then(Json::as_str).unwrap_or("")
}

fn print_note(answer: &Json) {
    if let Some(note) = client::completeness_note(answer, now_ms()) {
        println!("{note}");
    }
}

fn client_command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(_) | Command::Keygen { .. } | Command::Doctor { .. } => {
            unreachable!("handled in main")
        }
        Command::Who(args) => {
            let answer = Client::new(&args.api, args.token).get("/v1/presence")?;
            if args.json {
                return print_json(&answer);
            }
            let people = answer
                .get("people")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            let present: Vec<&Json> = people
                .iter()
                .filter(|p| p.get("present").and_then(Json::as_bool) == Some(true))
                .collect();
            if present.is_empty() {
                println!("Nobody registered is at the office right now.");
            } else {
                let rows: Vec<Vec<String>> = present
                    .iter()
                    .map(|person| {
                        let devices = person
                            .get("devices")
                            .and_then(Json::as_array)
                            .cloned()
                            .unwrap_or_default();
                        let seen_by: Vec<String> = devices
                            .iter()
                            .flat_map(|d| {
                                d.get("seen_by")
                                    .and_then(Json::as_array)
                                    .cloned()
                                    .unwrap_or_default()
                            })
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect();
                        let last = devices
                            .iter()
                            .filter_map(|d| d.get("last_seen_ms").and_then(Json::as_u64))
                            .max()
                            .map(|t| client::age(now_ms().saturating_sub(t)))
                            .unwrap_or_default();
                        vec![str_of(person, "name").to_string(), seen_by.join(", "), last]
                    })
                    .collect();
                print!(
                    "{}",
                    client::table(&["name", "seen by", "last seen"], &rows)
                );
            }
            let unknown = answer
                .get("unknown_devices")
                .and_then(Json::as_u64)
                .unwrap_or(0);
            if unknown > 0 {
                println!("(+{unknown} unregistered device(s) on the network)");
            }
            print_note(&answer);
        }
        Command::Readings {
            client: args,
            room,
            quantity,
        } => {
            let mut query = Vec::new();
            if let Some(room) = room {
                query.push(format!("room={}", client::path_segment(&room)));
            }
            if let Some(quantity) = quantity {
                query.push(format!("quantity={}", client::path_segment(&quantity)));
            }
            let path = if query.is_empty() {
                "/v1/readings".to_string()
            } else {
                format!("/v1/readings?{}", query.join("&"))
            };
            let answer = Client::new(&args.api, args.token).get(&path)?;
            if args.json {
                return print_json(&answer);
            }
            let rows: Vec<Vec<String>> = answer
                .get("readings")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let value = r.get("value").and_then(Json::as_f64).unwrap_or(f64::NAN);
                    vec![
                        str_of(r, "room").to_string(),
                        str_of(r, "node_name").to_string(),
                        str_of(r, "sensor").to_string(),
                        str_of(r, "quantity").to_string(),
                        format!("{value:.1} {}", str_of(r, "unit")),
                        str_of(r, "status").to_string(),
                        client::age(r.get("age_ms").and_then(Json::as_u64).unwrap_or(0)),
                    ]
                })
                .collect();
            print!(
                "{}",
                client::table(
                    &["room", "node", "sensor", "quantity", "value", "status", "age"],
                    &rows
                )
            );
            print_note(&answer);
        }
        Command::Network(args) => {
            let answer = Client::new(&args.api, args.token).get("/v1/network")?;
            if args.json {
                return print_json(&answer);
            }
            let rows: Vec<Vec<String>> = answer
                .get("devices")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    let owners: Vec<String> = d
                        .get("owners")
                        .and_then(Json::as_array)
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|o| o.as_str().map(String::from))
                        .collect();
                    let mut flags = Vec::new();
                    if d.get("present").and_then(Json::as_bool) == Some(true) {
                        flags.push("present");
                    }
                    if d.get("randomized").and_then(Json::as_bool) == Some(true) {
                        flags.push("randomized-mac");
                    }
                    vec![
                        str_of(d, "mac").to_string(),
                        str_of(d, "ip").to_string(),
                        str_of(d, "observer_name").to_string(),
                        client::age(now_ms().saturating_sub(
                            d.get("last_seen_ms").and_then(Json::as_u64).unwrap_or(0),
                        )),
                        owners.join(", "),
                        flags.join(" "),
                    ]
                })
                .collect();
            print!(
                "{}",
                client::table(
                    &["mac", "ip", "seen by", "last seen", "owner", "flags"],
                    &rows
                )
            );
            print_note(&answer);
        }
        Command::Status(args) => {
            let answer = Client::new(&args.api, args.token).get("/v1/nodes")?;
            if args.json {
                return print_json(&answer);
            }
            let rows: Vec<Vec<String>> = answer
                .get("nodes")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|n| {
                    vec![
                        str_of(n, "name").to_string(),
                        str_of(n, "room").to_string(),
                        str_of(n, "status").to_string(),
                        str_of(n, "gossip_addr").to_string(),
                        n.get("heartbeat_age_ms")
                            .and_then(Json::as_u64)
                            .map(client::age)
                            .unwrap_or_else(|| "-".into()),
                        n.get("phi")
                            .and_then(Json::as_f64)
                            .map(|phi| format!("{phi:.1}"))
                            .unwrap_or_else(|| "-".into()),
                        n.get("missing_versions")
                            .and_then(Json::as_u64)
                            .unwrap_or(0)
                            .to_string(),
                        str_of(n, "version").to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                client::table(
                    &[
                        "name",
                        "room",
                        "status",
                        "gossip",
                        "heartbeat",
                        "phi",
                        "missing",
                        "version"
                    ],
                    &rows
                )
            );
            print_note(&answer);
        }
        Command::Events {
            client: args,
            last,
            kind,
        } => {
            let mut query = Vec::new();
            if let Some(last) = last {
                query.push(format!(
                    "since={}",
                    now_ms().saturating_sub(last.saturating_mul(1000))
                ));
            }
            if let Some(kind) = kind {
                query.push(format!("kind={}", client::path_segment(&kind)));
            }
            let path = if query.is_empty() {
                "/v1/events".to_string()
            } else {
                format!("/v1/events?{}", query.join("&"))
            };
            let answer = Client::new(&args.api, args.token).get(&path)?;
            if args.json {
                return print_json(&answer);
            }
            let rows: Vec<Vec<String>> = answer
                .get("events")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    let numbers: Vec<String> = e
                        .get("numbers")
                        .and_then(Json::as_object)
                        .map(|numbers| {
                            numbers
                                .iter()
                                .map(|(name, value)| format!("{name}={value}"))
                                .collect()
                        })
                        .unwrap_or_default();
                    vec![
                        client::age(
                            now_ms()
                                .saturating_sub(e.get("t_ms").and_then(Json::as_u64).unwrap_or(0)),
                        ),
                        str_of(e, "kind").to_string(),
                        str_of(e, "peer_name").to_string(),
                        numbers.join(" "),
                        str_of(e, "detail").to_string(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("No mesh events recorded.");
            } else {
                print!(
                    "{}",
                    client::table(&["ago", "kind", "peer", "numbers", "detail"], &rows)
                );
            }
        }
        Command::Hash(args) => {
            let answer = Client::new(&args.api, args.token).get("/v1/state/hash")?;
            if args.json {
                return print_json(&answer);
            }
            println!("{}", str_of(&answer, "hash"));
        }
        Command::People {
            client: args,
            action,
        } => {
            let api = Client::new(&args.api, args.token);
            let answer = match action.unwrap_or(PeopleAction::List) {
                PeopleAction::List => api.get("/v1/people")?,
                PeopleAction::Add { name, mac } => api.post(
                    "/v1/people",
                    json!({ "name": name, "mac": mac, "added_by": "cli" }),
                )?,
                PeopleAction::Remove { name, mac } => api.delete(&format!(
                    "/v1/people/{}/{}",
                    client::path_segment(&name),
                    client::path_segment(&mac)
                ))?,
            };
            if args.json {
                return print_json(&answer);
            }
            if let Some(people) = answer.get("people").and_then(Json::as_array) {
                let rows: Vec<Vec<String>> = people
                    .iter()
                    .map(|p| {
                        let macs: Vec<String> = p
                            .get("macs")
                            .and_then(Json::as_array)
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|m| m.as_str().map(String::from))
                            .collect();
                        vec![str_of(p, "name").to_string(), macs.join(", ")]
                    })
                    .collect();
                print!("{}", client::table(&["name", "macs"], &rows));
            } else if answer.get("removed").is_some() {
                println!(
                    "removed {} from {}",
                    str_of(&answer, "mac"),
                    str_of(&answer, "name")
                );
            } else if answer.get("created").and_then(Json::as_bool) == Some(false) {
                println!(
                    "{} was already registered to {}",
                    str_of(&answer, "mac"),
                    str_of(&answer, "name")
                );
            } else {
                println!(
                    "registered {} to {}",
                    str_of(&answer, "mac"),
                    str_of(&answer, "name")
                );
            }
        }
        Command::Targets {
            client: args,
            action,
        } => {
            let api = Client::new(&args.api, args.token);
            let answer = match action.unwrap_or(TargetAction::List) {
                TargetAction::List => api.get("/v1/targets")?,
                TargetAction::Set {
                    room,
                    quantity,
                    value,
                    tolerance,
                } => api.put(
                    &format!("/v1/targets/{}", client::path_segment(&room)),
                    json!({ "quantity": quantity, "value": value, "tolerance": tolerance }),
                )?,
            };
            if args.json {
                return print_json(&answer);
            }
            let rows: Vec<Json> = match answer.get("targets").and_then(Json::as_array) {
                Some(rows) => rows.clone(),
                None => vec![answer.clone()],
            };
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|t| {
                    vec![
                        str_of(t, "room").to_string(),
                        str_of(t, "quantity").to_string(),
                        format!(
                            "{}",
                            t.get("value").and_then(Json::as_f64).unwrap_or(f64::NAN)
                        ),
                        format!(
                            "±{}",
                            t.get("tolerance")
                                .and_then(Json::as_f64)
                                .unwrap_or(f64::NAN)
                        ),
                    ]
                })
                .collect();
            print!(
                "{}",
                client::table(&["room", "quantity", "target", "tolerance"], &rows)
            );
        }
    }
    Ok(())
}
