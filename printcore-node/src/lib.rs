//! The napi-rs binding of printcore for the website. Filled in by the node-binding issue.
