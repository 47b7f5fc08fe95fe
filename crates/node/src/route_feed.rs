//! The best-path change feed for watchers (`WatchRoutes`): off by default; once on, every
//! best-path change of every family is kept until [`Node::poll_route_change`] takes it, in the
//! order the RIB reported it (coalesced per route and flush, RFC 4271 §9.1.2's outcome).

use crate::node::Node;
use crate::query::{PathView, RouteView};
use evpnd_wire::{Family, Route};
use std::collections::VecDeque;

impl Node {
    /// Keeps best-path changes for [`Node::poll_route_change`] (`on`), or stops and drops what
    /// is kept. A driver that turns it on must drain the feed after every input, as it does
    /// outputs and intents.
    pub fn set_route_feed(&mut self, on: bool) {
        self.route_feed = on.then(|| self.route_feed.take().unwrap_or_default());
        // The engine needs the changes anyway; without it only the feed does.
        self.rib.set_best_change_tracking(on || self.evpn.is_some());
    }

    /// The next best-path change, in order: the route with its new best path as its only
    /// path, or with no path when the route is gone.
    pub fn poll_route_change(&mut self) -> Option<RouteView> {
        self.poll_best_path_change().map(RouteView::from)
    }

    /// [`Node::poll_route_change`] without building the view's vector of paths: a change has
    /// at most one. A driver keeping every change for its watchers (a million on a full
    /// table) keeps them in this form and makes views when they are read.
    pub fn poll_best_path_change(&mut self) -> Option<RouteChange> {
        let change = self.route_feed.as_mut().and_then(VecDeque::pop_front)?;
        let default_local_pref = self.rib.config().default_local_pref;
        let best = change
            .best
            .map(|path| self.path_view(path, true, default_local_pref));
        Some(RouteChange {
            family: change.family,
            route: change.route,
            best,
        })
    }
}

/// A best-path change ([`Node::poll_best_path_change`]): the route and its new best path,
/// `None` when the route is gone. [`RouteView::from`] gives the same view as
/// [`Node::poll_route_change`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteChange {
    /// The family.
    pub family: Family,
    /// The route as advertised (its best path's labels, ESI and gateway), or as it was
    /// advertised when it is gone.
    pub route: Route,
    /// The new best path.
    pub best: Option<PathView>,
}

impl From<RouteChange> for RouteView {
    fn from(c: RouteChange) -> RouteView {
        RouteView {
            family: c.family,
            route: c.route,
            paths: c.best.into_iter().collect(),
        }
    }
}
