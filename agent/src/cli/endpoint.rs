//! Where a client command finds the agent and its token: `--api`/`--token` (or
//! `OFFICEMESH_API`/`OFFICEMESH_TOKEN`) when given, else the agent's own config file
//! (`--config PATH`, default `/etc/officemesh/config.toml` when it exists and is readable:
//! `api.listen` and `api.token`), else `http://127.0.0.1:8420` without a token. Also the hint a
//! 401 prints (which of these to use). Reads one file; never talks to the agent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::ApiConfig;

/// The config file the packaged agent runs with; client commands read it when it is readable.
pub const DEFAULT_CONFIG: &str = "/etc/officemesh/config.toml";
/// The agent's address when neither a flag nor a config names one.
pub const DEFAULT_API: &str = "http://127.0.0.1:8420";

/// The agent's config file could not be used for the API address and token.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot read {path} (--config): {source}\n(run with sudo, or as a member of the group that owns it, or give --api and --token)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} (--config) is not an officemesh config: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Where the token came from, for the message of a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `--token` or `OFFICEMESH_TOKEN`.
    Given,
    /// `api.token` of this config file.
    Config(PathBuf),
    /// No token: the default config exists but this user cannot read it (when `Some`).
    Missing { unreadable_default: Option<PathBuf> },
}

/// The agent to talk to and the token to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub api: String,
    pub token: Option<String>,
    pub token_from: TokenSource,
}

/// The `[api]` section of an agent config; every other section is ignored here.
#[derive(Debug, Default, Deserialize)]
struct AgentFile {
    #[serde(default)]
    api: ApiConfig,
}

/// Resolves the endpoint from the flags (`None` when not given) and the config file:
/// `config` when given (it must be readable), else `default_config` when it is readable and
/// no `--api` names another agent (its token is not sent elsewhere unasked).
pub fn resolve(
    api: Option<&str>,
    token: Option<&str>,
    config: Option<&Path>,
    default_config: &Path,
) -> Result<Endpoint, EndpointError> {
    let token = token.filter(|t| !t.is_empty());
    let (file, unreadable_default) = match config {
        Some(path) => (Some((path.to_path_buf(), read_api(path)?)), None),
        // `--api` names another agent: this machine's token is not sent there unasked.
        None if api.is_some() => (None, None),
        None => match read_api(default_config) {
            Ok(section) => (Some((default_config.to_path_buf(), section)), None),
            Err(EndpointError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                (None, Some(default_config.to_path_buf()))
            }
            // Missing (not a Pi) or not an officemesh config: the flags' defaults, as before.
            Err(_) => (None, None),
        },
    };
    let api = match (api, &file) {
        (Some(api), _) => api.to_string(),
        (None, Some((_, section))) => api_url(section.listen),
        (None, None) => DEFAULT_API.to_string(),
    };
    let (token, token_from) = match (token, file) {
        (Some(token), _) => (Some(token.to_string()), TokenSource::Given),
        (None, Some((path, section))) if !section.token.is_empty() => {
            (Some(section.token), TokenSource::Config(path))
        }
        (None, _) => (None, TokenSource::Missing { unreadable_default }),
    };
    Ok(Endpoint {
        api,
        token,
        token_from,
    })
}

fn read_api(path: &Path) -> Result<ApiConfig, EndpointError> {
    let text = std::fs::read_to_string(path).map_err(|source| EndpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str::<AgentFile>(&text)
        .map(|file| file.api)
        .map_err(|err| EndpointError::Invalid {
            path: path.to_path_buf(),
            message: err.message().trim().to_string(),
        })
}

/// The URL a client on this machine uses for an agent listening on `listen` (an unspecified
/// address is reached through loopback).
pub fn api_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

impl Endpoint {
    /// What a 401 adds: where this command took its token from and what to use instead.
    pub fn auth_hint(&self) -> String {
        let choices = format!(
            "give the agent's api.token: --config <the agent's config> (default {DEFAULT_CONFIG}), \
             OFFICEMESH_TOKEN=<token> or --token <token>"
        );
        match &self.token_from {
            TokenSource::Given => {
                format!("the token given with --token/OFFICEMESH_TOKEN is not this agent's; {choices}")
            }
            TokenSource::Config(path) => format!(
                "the api.token in {} is not the token of the agent at {} (another agent's config?); {choices}",
                path.display(),
                self.api
            ),
            TokenSource::Missing {
                unreadable_default: Some(path),
            } => format!(
                "no token sent: {} exists but this user cannot read it (run with sudo, or join \
                 its group); or {choices}",
                path.display()
            ),
            TokenSource::Missing {
                unreadable_default: None,
            } => format!("no token sent; {choices}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn the_agents_config_gives_address_and_token_unless_flags_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write(
            dir.path(),
            "config.toml",
            "[node]\nroom = 'lab'\n[api]\nlisten = '0.0.0.0:8421'\ntoken = 's3cret'\n[[sensors]]\ndriver = 'sim'\nname = 'desk'\n",
        );
        let none = dir.path().join("absent.toml");
        let from_file = resolve(None, None, Some(&config), &none).expect("resolves");
        assert_eq!(from_file.api, "http://127.0.0.1:8421");
        assert_eq!(from_file.token.as_deref(), Some("s3cret"));
        assert_eq!(from_file.token_from, TokenSource::Config(config.clone()));
        // The default path is read when no --config is given.
        let by_default = resolve(None, None, None, &config).expect("resolves");
        assert_eq!(by_default, from_file);
        let flags = resolve(Some("http://pi:8420"), Some("t"), Some(&config), &none).expect("ok");
        assert_eq!(flags.api, "http://pi:8420");
        assert_eq!(flags.token.as_deref(), Some("t"));
        assert_eq!(flags.token_from, TokenSource::Given);
        let elsewhere = resolve(Some("http://pi-2:8420"), None, None, &config).expect("ok");
        assert_eq!(
            elsewhere.token, None,
            "the local token is not sent to another agent"
        );
        let nothing = resolve(None, None, None, &none).expect("no file is fine");
        assert_eq!(nothing.api, DEFAULT_API);
        assert_eq!(nothing.token, None);
        assert!(
            nothing.auth_hint().contains("--config"),
            "{}",
            nothing.auth_hint()
        );
    }

    #[test]
    fn an_explicit_config_that_cannot_be_used_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let none = dir.path().join("absent.toml");
        let err = resolve(None, None, Some(&none), &none).expect_err("missing --config");
        assert!(err.to_string().contains("absent.toml"), "{err}");
        let bad = write(dir.path(), "bad.toml", "[api]\nlisten = 'nowhere'\n");
        let err = resolve(None, None, Some(&bad), &none).expect_err("bad listen");
        assert!(err.to_string().contains("bad.toml"), "{err}");
        assert_eq!(
            api_url("[::]:8420".parse().expect("addr")),
            "http://[::1]:8420"
        );
        assert_eq!(
            api_url("192.0.2.5:8420".parse().expect("addr")),
            "http://192.0.2.5:8420"
        );
    }
}
