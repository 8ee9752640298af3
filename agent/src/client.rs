//! HTTP client for the CLI's client commands (`who`, `readings`, `status`, …).
