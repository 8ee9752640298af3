//! Read-only answers over a replica (presence, readings, network, people). Filled in by the API work.
