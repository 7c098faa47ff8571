//! Routing: the price registry, the learned table and the cost/quality policy. Pure Rust: no candle, no tokio.

pub mod policy;
pub mod registry;
pub mod table;

pub use policy::{Candidate, Decision, Policy, RouteOptions};
pub use registry::{PriceRegistry, ProviderPrice};
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
