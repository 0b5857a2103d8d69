//! Fleet rollouts through an MQTT broker.
//!
//! The release, its stages and every device's state live in the broker as
//! retained QoS 1 messages ([`msg`]), so any `belljar` process can start,
//! resume, watch or stop a rollout, and a restarted broker (with
//! persistence) or controller loses nothing. [`plan`] holds the rules,
//! [`controller`] applies them, [`agent`] is the device's side.

pub mod agent;
pub mod broker;
pub mod controller;
pub mod msg;
pub mod plan;

pub use broker::Broker;
