//! The agent's integration tests as ONE binary (`cargo test -p officemesh --test suite`): one
//! module per area, named as the test files were, so `-- sim_invariants::` runs one area, and
//! one `support` (agent processes, Mosquitto, Synapse, the chat fakes, the shared lab lock).
//! Modules run concurrently in this one process: no test may change the environment, the
//! current directory or any global; tests that must not overlap (network namespaces, mounts,
//! file limits) hold `support::netns_lock()`.
//! Must not touch: anything outside temporary directories and the lab namespaces it creates.

mod support;

mod api_fairness;
mod api_process;
mod chat_alerts;
mod chat_connected;
mod chat_matrix;
mod chat_process;
mod chat_sockets;
mod cli_install;
mod clock_offset;
mod clock_recovery;
mod cluster_process;
mod dashboard_chromium;
mod drill_events;
mod drill_lab;
mod fuzz_corpus;
mod gossip_under_load;
mod held_readings;
mod hostile_lan;
mod metrics_process;
mod mqtt_broker;
mod mqtt_buffer_bound;
mod mqtt_tls;
mod net_bench;
mod net_transport;
mod presence_lab;
mod presence_office;
mod rolling_upgrade;
mod sensor_failures;
mod sim_invariants;
mod store_crash;
mod tidy;
