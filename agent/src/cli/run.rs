//! `officemesh run`: loads the config, starts logging, the agent, the mesh and the HTTP API,
//! prints where everything is, and stops cleanly on Ctrl-C or SIGTERM. The wiring itself lives
//! in `runtime`, `mesh` and `api`; this file only starts them in order.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::runtime::Agent;
use crate::shared::Shared;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML); keys are documented in docs/config.md.
    #[arg(long, short, env = "OFFICEMESH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory; overrides storage.data_dir. Default without --config: ./officemesh-data.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_agent(config, args.config.is_none()))
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

async fn run_agent(config: Config, local_mode: bool) -> anyhow::Result<()> {
    crate::clock::set_test_clock_offset_ms(config.gossip.test_clock_offset_ms);
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
        crate::net::keys::load_or_generate_key(&agent.shared.config.gossip.key_file)?;
    }
    crate::mesh::start(&mut agent).await?;
    if let crate::clock::WallClockStatus::Unsynced(why) = crate::clock::wall_clock_status() {
        tracing::warn!(reason = %why, "wall clock not synchronized");
    }
    let api_config = &agent.shared.config.api;
    if api_config.token.is_empty() && !api_config.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %api_config.listen,
            "api.token is not set and the API listens beyond this machine: other machines may \
             read presence, people and the network, and their writes are refused (403); set \
             api.token (prepare-sd and the .deb generate one)"
        );
    }
    let mut api_shutdown = agent.shutdown_signal();
    let api_shared = Arc::clone(&agent.shared);
    agent.spawn(async move {
        let stop = async move {
            let _ = api_shutdown.changed().await;
        };
        if let Err(err) = crate::api::serve(listener, api_shared, stop).await {
            tracing::error!(error = %err, "HTTP API stopped");
        }
    });
    announce(&agent.shared, api_addr, &data_dir, local_mode);
    wait_for_stop_signal().await;
    tracing::info!("stopping: committing pending writes");
    agent.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Logs that the agent runs and tells the person at the terminal where everything is.
fn announce(shared: &Shared, api_addr: SocketAddr, data_dir: &Path, local_mode: bool) {
    let data_dir = data_dir.display();
    tracing::info!(
        node = %shared.node,
        name = %shared.name,
        room = %shared.config.node.room,
        api = %api_addr,
        data_dir = %data_dir,
        "officemesh agent running"
    );
    eprintln!(
        "officemesh {} — node '{}' ({}) in room '{}'\n  HTTP API:  http://{api_addr}/v1/readings  (also /v1/presence, /v1/nodes, /healthz)\n  dashboard: http://{api_addr}/\n  gossip:    {}  (cluster '{}')\n  CLI:       officemesh readings | who | status   (--api http://{api_addr})\n  data:      {}{}\n  stop with Ctrl-C",
        crate::VERSION,
        shared.name,
        shared.node,
        shared.config.node.room,
        crate::mesh::advertise_addr(&shared.config.gossip),
        shared.config.gossip.cluster,
        data_dir,
        if local_mode { "  (no --config: simulated sensors and devices)" } else { "" },
    );
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
