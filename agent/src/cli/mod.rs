//! The `officemesh` command line: the top-level `Cli`/`Command` (clap) and the dispatch to one
//! file per subcommand, each holding its arguments and its `run`. Client commands talk to an
//! agent only through `crate::client` and decode the shared answer types (`state::query`,
//! `api_types`); nothing here reaches into the running agent's internals.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::client::{self, Answer, Client};
use crate::state::query::Completeness;

pub mod doctor;
pub mod endpoint;
pub mod events;
pub mod hash;
pub mod keygen;
pub mod network;
pub mod people;
pub mod readings;
pub mod run;
pub mod status;
pub mod targets;
pub mod who;

/// officemesh: office sensors and presence on a leaderless mesh of Raspberry Pis.
///
/// Every Pi runs `officemesh run`. Any agent answers "who's at the office?" and "meeting room
/// temperature?" from its own replica, over HTTP, this CLI, chat and MQTT.
#[derive(Debug, Parser)]
#[command(name = "officemesh", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent. Without --config: simulated sensors and devices, data in
    /// ./officemesh-data, HTTP API on 127.0.0.1:8420.
    Run(run::RunArgs),
    /// Write a new cluster key file (32 random bytes, hex, mode 0600). Copy the same file to
    /// every Pi of the cluster (`gossip.key_file`).
    Keygen(keygen::KeygenArgs),
    /// Check this machine for what people usually get wrong on a Pi (I2C/SPI enabled, device
    /// nodes, group membership, overlays, clock sync, data directory, cluster key) and print
    /// the fix for each problem. Exits 1 when a check fails.
    Doctor(doctor::DoctorArgs),
    /// Who is at the office (registered people whose devices were seen recently).
    Who(ClientArgs),
    /// Latest readings of every sensor, with their age.
    Readings(readings::ReadingsArgs),
    /// Devices on the office network (MAC, IP, who saw them, who owns them).
    Network(ClientArgs),
    /// Mesh health: every node, its status and what this agent may be missing.
    Status(ClientArgs),
    /// The replicated state's hash (equal on agents holding the same state).
    Hash(ClientArgs),
    /// What this agent saw happen to the mesh: peers suspect, dead, alive again (with their
    /// downtime), catch-ups, heals, resets, refused peers, clock-ahead entries.
    Events(events::EventsArgs),
    /// List, add or remove people and their devices.
    People(people::PeopleArgs),
    /// List or set a room's target band (alerts fire outside it).
    Targets(targets::TargetsArgs),
}

impl Cli {
    /// Runs the parsed command; the exit code says whether it succeeded (`doctor` exits 1
    /// when a check fails).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Run(args) => run::run(args)?,
            Command::Keygen(args) => keygen::run(&args)?,
            Command::Doctor(args) => return doctor::run(&args),
            Command::Who(args) => who::run(&args)?,
            Command::Readings(args) => readings::run(&args)?,
            Command::Network(args) => network::run(&args)?,
            Command::Status(args) => status::run(&args)?,
            Command::Hash(args) => hash::run(&args)?,
            Command::Events(args) => events::run(&args)?,
            Command::People(args) => people::run(args)?,
            Command::Targets(args) => targets::run(args)?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Where a client command finds the agent, and how it prints the answer.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The agent's HTTP API [default: api.listen of the config file, else
    /// http://127.0.0.1:8420].
    #[arg(long, global = true, env = "OFFICEMESH_API")]
    pub api: Option<String>,
    /// The agent's api.token [default: api.token of the config file]. With a token set, the
    /// agent needs it for every /v1 request and the metrics; without one, for writes only.
    #[arg(long, global = true, env = "OFFICEMESH_TOKEN")]
    pub token: Option<String>,
    /// The agent's config file, for its api.listen and api.token [default:
    /// /etc/officemesh/config.toml when it exists, this user can read it and no --api is
    /// given].
    #[arg(long, global = true, env = "OFFICEMESH_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Print the agent's JSON answer instead of a table (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    /// Where the agent is and which token to send (flags, then the config file).
    pub fn endpoint(&self) -> Result<endpoint::Endpoint, endpoint::EndpointError> {
        endpoint::resolve(
            self.api.as_deref(),
            self.token.as_deref(),
            self.config.as_deref(),
            std::path::Path::new(endpoint::DEFAULT_CONFIG),
        )
    }

    /// A client for the agent these arguments name.
    pub fn client(&self) -> anyhow::Result<Client> {
        let endpoint = self.endpoint()?;
        let hint = endpoint.auth_hint();
        Ok(Client::new(&endpoint.api, endpoint.token)?.with_auth_hint(hint))
    }

    /// With `--json`: prints the answer as the agent sent it and returns None. Otherwise the
    /// answer decoded into its type, for the table.
    pub fn decode_unless_json<T: DeserializeOwned>(
        &self,
        answer: Answer,
    ) -> anyhow::Result<Option<T>> {
        if self.json {
            print_json(answer.json())?;
            return Ok(None);
        }
        Ok(Some(answer.decode()?))
    }
}

/// `path` with the query parameters that are set (`path?a=1&b=2`).
pub(crate) fn with_query(path: &str, params: &[String]) -> String {
    if params.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", params.join("&"))
    }
}

pub(crate) fn now_ms() -> u64 {
    crate::clock::wall_ms()
}

pub(crate) fn print_json(value: &Json) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints the caveat line when the answer may be missing unreachable nodes' data.
pub(crate) fn print_note(completeness: &Completeness) {
    if let Some(note) = client::completeness_note(completeness, now_ms()) {
        println!("{note}");
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_parses_client_flags_anywhere() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "officemesh",
            "readings",
            "--room",
            "lobby",
            "--json",
            "--api",
            "http://pi:8420",
        ])
        .expect("parses");
        let Command::Readings(args) = cli.command else {
            panic!("not readings: {:?}", cli.command);
        };
        assert_eq!(args.room.as_deref(), Some("lobby"));
        assert!(args.client.json);
        assert_eq!(args.client.api.as_deref(), Some("http://pi:8420"));
        let cli = Cli::try_parse_from(["officemesh", "status", "--config", "/tmp/agent.toml"])
            .expect("client commands take --config");
        let Command::Status(args) = cli.command else {
            panic!("not status: {:?}", cli.command);
        };
        assert_eq!(
            args.config.as_deref(),
            Some(std::path::Path::new("/tmp/agent.toml"))
        );
    }

    #[test]
    fn query_strings_join_only_the_set_parameters() {
        assert_eq!(with_query("/v1/events", &[]), "/v1/events");
        assert_eq!(
            with_query("/v1/events", &["since=5".into(), "kind=peer_dead".into()]),
            "/v1/events?since=5&kind=peer_dead"
        );
    }
}
