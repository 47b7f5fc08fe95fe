//! Watch streams (`service Watch` in crates/api/proto/watch.proto): the data-plane intent
//! stream and the RIB, MAC-table and event streams, transport-free. The driver publishes into
//! the [`Publisher`] once per drain; the gRPC module (`api::watch`) reads through a
//! [`WatchHandle`]. The contract the streams keep is in docs/watch.md.
//!
//! * `log.rs`: the bounded, sequence-numbered log a watcher resumes from;
//! * `table.rs`: the desired data-plane state, read page by page for snapshots;
//! * `hub.rs`: both behind one lock, the publisher and the watcher handle;
//! * `route_feed.rs`: when the node's best-path feed runs (only while someone watches).

mod hub;
mod log;
mod route_feed;
mod table;

pub use hub::{Hub, Publisher, Retention, RouteWatcher, StreamVersion, WatchHandle};
pub use log::{Read, Resume, SeqLog};
pub use route_feed::RouteFeedSwitch;
pub use table::SnapshotWalk;
