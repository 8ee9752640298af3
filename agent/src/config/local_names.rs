//! `.local` host names in the config (`gossip.seeds`, `gossip.advertise`, `mqtt.url`): refused
//! at load in the static Pi builds, which cannot resolve them. Data only: no resolving here.
//!
//! `.local` names are answered by multicast DNS (avahi), which glibc reaches through the NSS
//! module `mdns4_minimal` named in `/etc/nsswitch.conf`. The Pi builds are linked statically
//! (`+crt-static`, deploy/build-pi.sh): a static glibc can load that module only when the Pi's
//! glibc is the exact version it was built with, so such a name fails (or resolves on one Pi
//! and not another) long after start. A dynamically linked build (the amd64 `.deb`, `cargo
//! build`) uses the system's resolver like any program, so there they stay allowed.

use super::{mqtt::BrokerUrl, Config, Invalid};

/// Whether this binary was linked statically (the Pi builds).
pub const STATIC_BUILD: bool = cfg!(target_feature = "crt-static");

/// Refuses `.local` names when `static_build` (see the module doc), naming key and fix.
pub(super) fn check(config: &Config, static_build: bool) -> Result<(), Invalid> {
    if !static_build {
        return Ok(());
    }
    let mut hosts: Vec<(String, String)> = Vec::new();
    for (index, seed) in config.gossip.seeds.iter().enumerate() {
        hosts.push((format!("gossip.seeds[{index}]"), host_of(seed)));
    }
    if !config.gossip.advertise.trim().is_empty() {
        hosts.push(("gossip.advertise".into(), host_of(&config.gossip.advertise)));
    }
    if !config.mqtt.url.trim().is_empty() {
        if let Ok(url) = BrokerUrl::parse(&config.mqtt.url) {
            hosts.push(("mqtt.url".into(), url.host));
        }
    }
    match hosts.into_iter().find(|(_, host)| is_local(host)) {
        None => Ok(()),
        Some((key, host)) => Err(format!(
            "{key}: '{host}' is a .local (mDNS) name, which this statically linked Pi build \
             cannot resolve (glibc's mdns NSS module does not load into a static binary); \
             give the IP address instead (with a DHCP reservation for that host), or a name \
             your DNS server answers"
        )
        .into()),
    }
}

/// `host` of `host:port` (`[v6]:port` keeps its brackets; those are never `.local`).
fn host_of(item: &str) -> String {
    let item = item.trim();
    match item.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_string(),
        _ => item.to_string(),
    }
}

fn is_local(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "local" || host.ends_with(".local")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seeds: &[&str], advertise: &str, mqtt: &str) -> Config {
        let mut config = Config::default();
        config.gossip.seeds = seeds.iter().map(|s| s.to_string()).collect();
        config.gossip.advertise = advertise.into();
        config.mqtt.url = mqtt.into();
        config
    }

    #[test]
    fn a_static_build_refuses_local_names_with_the_key_and_the_fix() {
        let cases = [
            (config(&[], "", "mqtt://homeassistant.local"), "mqtt.url"),
            (
                config(&["192.0.2.1:7420", "pi-lobby.local:7420"], "", ""),
                "gossip.seeds[1]",
            ),
            (config(&[], "Pi-Desk.LOCAL.:7420", ""), "gossip.advertise"),
        ];
        for (config, key) in cases {
            let Err(Invalid(message)) = check(&config, true) else {
                panic!("{key}: a .local name was accepted");
            };
            assert!(message.starts_with(&format!("{key}: '")), "{message}");
            assert!(message.contains("IP address"), "{message}");
        }
    }

    #[test]
    fn addresses_dns_names_and_dynamic_builds_are_accepted() {
        let ok = config(
            &["192.0.2.1:7420", "pi.office.example:7420"],
            "[fd00::1]:7420",
            "mqtt://ha.example",
        );
        assert!(check(&ok, true).is_ok());
        let local = config(
            &["pi-lobby.local:7420"],
            "",
            "mqtt://homeassistant.local:1883",
        );
        assert!(
            check(&local, false).is_ok(),
            "the system resolver handles them"
        );
        assert!(!is_local("localhost") && !is_local("notlocal") && is_local("x.local"));
    }
}
