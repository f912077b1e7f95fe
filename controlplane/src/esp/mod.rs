//! IPsec ESP on the control core: the data path is the workers' (`dataplane::pipeline`,
//! SAs from the crate `esp`, tables in `vr::esp`); here lives what needs a clock.
//!
//! [`service::EspService`] watches every installed SA's lifetime once a second: past a
//! soft limit it logs once and counts (`esp_soft_expired`) so the operator or the AAA can
//! replace the SA; past a hard limit it marks the SA expired — the workers refuse its
//! packets from that instant (`esp_sa_expired`) — and removes it from the tables
//! (`esp_hard_expired`).

pub mod service;
