//! Routing: the price registry, the learned table, a provider's estimates, the decision rule and the
//! policy that applies it. Pure Rust: no candle, no tokio, no axum (the layer test enforces it).

pub mod estimate;
pub mod needs;
pub mod options;
pub mod policy;
pub mod prices;
pub mod registry;
pub mod rule;
pub mod table;

pub use needs::Needs;
pub use options::RouteOptions;
pub use policy::{Candidate, Decision, Policy};
pub use registry::{ProviderEntry, ProviderRegistry};
pub use table::{PromptLabels, RoutingTable};

/// The six domains, in the order used by every probability vector.
pub const DOMAINS: [&str; 6] = [
    "code",
    "math",
    "reasoning",
    "knowledge",
    "writing",
    "general",
];
/// Difficulty levels, in order.
pub const LEVELS: [&str; 3] = ["easy", "medium", "hard"];
