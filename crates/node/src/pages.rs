//! Paged queries: one page of a table per call, walked from a cursor (the last key the
//! previous page returned), so that listing a table of a million entries never builds more
//! than one page. The API turns cursors into opaque page tokens.

use crate::error::CommandError;
use crate::node::Node;
use crate::query::NeighborView;
use crate::query::{RouteFilter, RouteView, LISTED_FAMILIES};
use evpnd_evpn::{MacEntry, NeighborEntry, PortName, VniSummary, VrfName, VrfRoute, VrfSummary};
use evpnd_wire::{IpPrefix, MacAddress, Vni};
use std::net::IpAddr;
use std::time::Instant;

/// Where a route listing resumes: the family (its index in the listed order) and the table
/// slot after which to continue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteCursor {
    /// Index of the family in the listing order (EVPN, RT-Constraint, IPv4, IPv6).
    pub family: u8,
    /// The last slot returned.
    pub slot: u32,
}

/// One page and where the next one starts (`None`: the listing is complete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, C> {
    /// The entries.
    pub items: Vec<T>,
    /// The cursor of the next page.
    pub next: Option<C>,
}

/// A local endpoint and why it is here (`evpnctl show endpoints`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointView {
    /// Its MAC table row (location local).
    pub entry: MacEntry,
    /// The host interface plugged into the VNI for it.
    pub port: Option<PortName>,
    /// Attached by a command or the configuration.
    pub attached: bool,
    /// Learned by the data plane.
    pub learned: bool,
}

/// Pages from `limit` rows fetched one beyond: the extra row only says there is more.
pub(crate) fn finish<T, C>(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> C) -> Page<T, C> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more { items.last().map(key) } else { None };
    Page { items, next }
}

impl Node {
    /// The VNI filter of a paged query: 0 is every VNI, else one the engine has.
    fn page_vni(&self, vni: u32) -> Result<Option<Vni>, CommandError> {
        if vni == 0 {
            self.evpn.as_ref().ok_or_else(|| {
                CommandError::precondition(
                    "vni",
                    "the EVPN engine is off: configure [evpn] vtep and [[vni]]",
                )
            })?;
            Ok(None)
        } else {
            self.known_vni(vni).map(Some)
        }
    }

    /// One page of [`Node::routes`]: at most `limit` routes matching `filter` after `after`.
    /// With `filter.best_only`, each route keeps only its best path.
    pub fn routes_page(
        &self,
        filter: &RouteFilter,
        after: Option<RouteCursor>,
        limit: usize,
    ) -> Page<RouteView, RouteCursor> {
        let default_local_pref = self.rib.config().default_local_pref;
        let mut out: Vec<(RouteCursor, RouteView)> = Vec::new();
        for (fi, family) in LISTED_FAMILIES.into_iter().enumerate() {
            let fi = fi as u8;
            if filter.family.is_some_and(|want| want != family) {
                continue;
            }
            let from = match after {
                Some(c) if c.family > fi => continue,
                Some(c) if c.family == fi => c.slot.saturating_add(1),
                _ => 0,
            };
            for (slot, route, paths) in self.rib.loc_rib_from(family, from) {
                if !filter.matches(&route, &paths)
                    || filter
                        .vrf
                        .is_some_and(|v| !self.route_in_vrf(v, &route, &paths))
                {
                    continue;
                }
                let view = self.route_view(family, route, paths, default_local_pref);
                if !filter.matches_paths(&view) {
                    continue;
                }
                out.push((RouteCursor { family: fi, slot }, filter.trim(view)));
                if out.len() > limit {
                    break;
                }
            }
            if out.len() > limit {
                break;
            }
        }
        let page = finish(out, limit, |(c, _)| *c);
        Page {
            items: page.items.into_iter().map(|(_, v)| v).collect(),
            next: page.next,
        }
    }

    /// One page of [`Node::vrfs`]: at most `limit` VRFs after `after`, by name.
    pub fn vrfs_page(
        &self,
        after: Option<VrfName>,
        limit: usize,
    ) -> Result<Page<VrfSummary, VrfName>, CommandError> {
        let rows: Vec<VrfSummary> = self
            .vrfs()?
            .into_iter()
            .filter(|s| after.is_none_or(|a| s.vrf.name > a))
            .take(limit.saturating_add(1))
            .collect();
        Ok(finish(rows, limit, |s| s.vrf.name))
    }

    /// One page of the VRF tables (what evpnd installed, `evpnctl show ip-routes`): routes of
    /// `vrf` (`None`: every VRF) after `after`, in (VRF, prefix) order.
    pub fn vrf_routes_page(
        &self,
        vrf: Option<&str>,
        after: Option<(VrfName, IpPrefix)>,
        limit: usize,
    ) -> Result<Page<VrfRoute, (VrfName, IpPrefix)>, CommandError> {
        let vrf = match vrf {
            Some(name) => Some(self.known_vrf(name)?),
            None => {
                self.page_vni(0)?;
                None
            }
        };
        let Some(e) = &self.evpn else {
            return Ok(finish(Vec::new(), limit, |r: &VrfRoute| (r.vrf, r.prefix)));
        };
        let rows = e.engine.vrf_route_page(vrf, after, limit.saturating_add(1));
        Ok(finish(rows, limit, |r| (r.vrf, r.prefix)))
    }

    /// One page of the MAC table of `vni` (0: every VNI) after `after`, in (VNI, MAC) order.
    pub fn macs_page(
        &self,
        vni: u32,
        after: Option<(Vni, MacAddress)>,
        limit: usize,
    ) -> Result<Page<MacEntry, (Vni, MacAddress)>, CommandError> {
        let vni = self.page_vni(vni)?;
        let Some(e) = &self.evpn else {
            return Ok(finish(Vec::new(), limit, |m: &MacEntry| (m.vni, m.mac)));
        };
        let rows = e
            .engine
            .mac_page(vni, after, limit.saturating_add(1), false);
        Ok(finish(rows, limit, |m| (m.vni, m.mac)))
    }

    /// One page of the ARP/ND table of `vni` (0: every VNI) after `after`, in (VNI, IP) order.
    pub fn arp_page(
        &self,
        vni: u32,
        after: Option<(Vni, IpAddr)>,
        limit: usize,
    ) -> Result<Page<NeighborEntry, (Vni, IpAddr)>, CommandError> {
        let vni = self.page_vni(vni)?;
        let Some(e) = &self.evpn else {
            return Ok(finish(Vec::new(), limit, |n: &NeighborEntry| (n.vni, n.ip)));
        };
        let rows = e.engine.neighbor_page(vni, after, limit.saturating_add(1));
        Ok(finish(rows, limit, |n| (n.vni, n.ip)))
    }

    /// One page of flood lists (one per VNI, `vni` 0: every VNI) after VNI `after`.
    pub fn flood_page(
        &self,
        vni: u32,
        after: Option<Vni>,
        limit: usize,
    ) -> Result<Page<(Vni, Vec<IpAddr>), Vni>, CommandError> {
        let one = self.page_vni(vni)?;
        let Some(e) = &self.evpn else {
            return Ok(finish(Vec::new(), limit, |f: &(Vni, Vec<IpAddr>)| f.0));
        };
        let rows: Vec<(Vni, Vec<IpAddr>)> = e
            .engine
            .evis()
            .map(|evi| evi.vni)
            .filter(|v| one.is_none_or(|o| o == *v) && after.is_none_or(|a| *v > a))
            .take(limit.saturating_add(1))
            .map(|v| (v, e.engine.flood_list(v)))
            .collect();
        Ok(finish(rows, limit, |f| f.0))
    }

    /// One page of the local endpoints of `vni` (0: every VNI) after `after`, with why each
    /// is here.
    pub fn endpoints_page(
        &self,
        vni: u32,
        after: Option<(Vni, MacAddress)>,
        limit: usize,
    ) -> Result<Page<EndpointView, (Vni, MacAddress)>, CommandError> {
        let vni = self.page_vni(vni)?;
        let Some(e) = &self.evpn else {
            return Ok(finish(Vec::new(), limit, |x: &EndpointView| {
                (x.entry.vni, x.entry.mac)
            }));
        };
        let rows = e
            .engine
            .mac_page(vni, after, limit.saturating_add(1), true)
            .into_iter()
            .map(|entry| {
                let origin = e.origins.get(&(entry.vni, entry.mac)).copied();
                EndpointView {
                    port: e.engine.port_of(entry.vni, entry.mac),
                    attached: origin.is_some_and(|o| o.attached),
                    learned: origin.is_some_and(|o| o.learned),
                    entry,
                }
            })
            .collect();
        Ok(finish(rows, limit, |x| (x.entry.vni, x.entry.mac)))
    }

    /// One page of [`Node::vnis`]: at most `limit` EVIs after VNI `after`, in VNI order.
    pub fn vnis_page(
        &self,
        after: Option<Vni>,
        limit: usize,
    ) -> Result<Page<VniSummary, Vni>, CommandError> {
        self.page_vni(0)?;
        let rows = self
            .evpn
            .as_ref()
            .map(|e| e.engine.vni_summary_page(after, limit.saturating_add(1)))
            .unwrap_or_default();
        Ok(finish(rows, limit, |s| s.evi.vni))
    }

    /// One page of [`Node::neighbors`]: at most `limit` neighbours after slot `after` (the
    /// cursor is the neighbour's slot, so the order is the order they were configured or
    /// added, as the whole list has it).
    pub fn neighbors_page(
        &self,
        after: Option<u32>,
        limit: usize,
        now: Instant,
    ) -> Page<NeighborView, u32> {
        let from = after.map_or(0, |a| (a as usize).saturating_add(1));
        let rows: Vec<(u32, NeighborView)> = self
            .peers
            .iter()
            .enumerate()
            .skip(from)
            .filter_map(|(i, p)| {
                p.as_ref()
                    .map(|p| (i as u32, self.neighbor_view(i, p, now)))
            })
            .take(limit.saturating_add(1))
            .collect();
        let page = finish(rows, limit, |(slot, _)| *slot);
        Page {
            items: page.items.into_iter().map(|(_, v)| v).collect(),
            next: page.next,
        }
    }
}

impl RouteFilter {
    /// The filters that look at the paths as listed: route target and neighbour.
    pub fn matches_paths(&self, view: &RouteView) -> bool {
        let considered = if self.best_only { 1 } else { usize::MAX };
        if let Some(rt) = self.route_target {
            let c = evpnd_wire::ExtendedCommunity::route_target(rt);
            if !view
                .paths
                .iter()
                .take(considered)
                .any(|p| p.path.attrs.ext_communities.contains(&c))
            {
                return false;
            }
        }
        if let Some(peer) = self.peer {
            if !view.paths.iter().take(considered).any(|p| p.source == peer) {
                return false;
            }
        }
        true
    }

    /// Drops the paths a best-only listing does not show.
    fn trim(&self, mut view: RouteView) -> RouteView {
        if self.best_only {
            view.paths.truncate(1);
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::PathSource;

    use crate::{Command, EndpointSpec, EvpnConfig, NodeConfig, VniSpec};
    use evpnd_evpn::{EngineConfig, EviConfig};
    use std::net::Ipv4Addr;
    use std::time::Instant;

    /// A node with VNIs 100 and 200 (the second added at run time) and `n` endpoints spread
    /// over them.
    fn node_with_endpoints(n: u16) -> Node {
        let rid = Ipv4Addr::new(198, 19, 0, 1);
        let mut c = NodeConfig::new(65000, rid);
        c.evpn = Some(EvpnConfig {
            vrfs: Vec::new(),
            engine: EngineConfig::new(65000, rid, IpAddr::V4(rid)),
            evis: vec![EviConfig::new(Vni::new(100).unwrap())],
            endpoints: Vec::new(),
        });
        let now = Instant::now();
        let mut node = Node::new(c, now).unwrap();
        node.command(
            Command::AddVni(VniSpec {
                vni: 200,
                rd: None,
                import: Vec::new(),
                export: Vec::new(),
                vrf: None,
                gateways: Vec::new(),
            }),
            now,
        )
        .unwrap();
        for i in 0..n {
            let [hi, lo] = i.to_be_bytes();
            let mac = MacAddress([2, 0, 0, 0, hi, lo]);
            let vni = if i % 2 == 0 { 100 } else { 200 };
            node.command(Command::Attach(EndpointSpec::new(vni, mac, None)), now)
                .unwrap();
        }
        node
    }

    #[test]
    fn every_table_pages_through_every_entry_once() {
        let node = node_with_endpoints(25);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = node.macs_page(0, after, 7).unwrap();
            assert!(p.items.len() <= 7);
            seen.extend(p.items.iter().map(|m| (m.vni, m.mac)));
            match p.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen, "in key order, none twice");
        let one = node.endpoints_page(200, None, 100).unwrap();
        assert_eq!(one.items.len(), 12);
        assert!(one.items.iter().all(|e| e.attached && !e.learned));
        assert!(one.next.is_none());
        // Routes: 25 type-2 and 2 type-3, in pages of 4.
        let filter = RouteFilter::default();
        let mut routes = 0;
        let mut after = None;
        loop {
            let p = node.routes_page(&filter, after, 4);
            routes += p.items.len();
            match p.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        let evpn = RouteFilter {
            family: Some(evpnd_wire::Family::L2VPN_EVPN),
            ..RouteFilter::default()
        };
        assert_eq!(node.routes_page(&evpn, None, 1000).items.len(), 27);
        assert!(routes >= 27, "every family listed: {routes}");
        let flood = node.flood_page(0, None, 1).unwrap();
        assert_eq!(flood.items.len(), 1);
        assert_eq!(
            node.flood_page(0, flood.next, 1).unwrap().items[0].0.get(),
            200
        );
        assert_eq!(
            node.macs_page(300, None, 10).unwrap_err().kind,
            crate::ErrorKind::NotFound
        );
    }

    #[test]
    fn vnis_and_neighbours_page_in_order_with_their_counters() {
        let mut node = node_with_endpoints(25);
        let now = Instant::now();
        for vni in [300, 150, 400] {
            node.command(Command::AddVni(VniSpec::new(vni)), now)
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = node.vnis_page(after, 2).unwrap();
            assert!(p.items.len() <= 2);
            seen.extend(p.items.iter().map(|s| (s.evi.vni.get(), s.local_macs)));
            match p.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(
            seen,
            vec![(100, 13), (150, 0), (200, 12), (300, 0), (400, 0)],
            "VNI order, each once, its counters as the whole list has them"
        );
        assert_eq!(node.vnis().unwrap().len(), 5);

        for i in 1..=5u8 {
            let mut peer = evpnd_bgp::config::PeerConfig::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, 9, i)),
                65000,
                65000,
                Ipv4Addr::new(198, 19, 0, 1),
            );
            peer.passive = true;
            node.command(
                Command::AddNeighbor(Box::new(crate::NeighborConfig {
                    peer,
                    transport: crate::Transport::bgp(),
                })),
                now,
            )
            .unwrap();
        }
        node.command(
            Command::RemoveNeighbor {
                address: IpAddr::V4(Ipv4Addr::new(127, 0, 9, 2)),
            },
            now,
        )
        .unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = node.neighbors_page(after, 2, now);
            assert!(p.items.len() <= 2);
            seen.extend(p.items.iter().map(|n| n.address.to_string()));
            match p.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        let all: Vec<String> = node
            .neighbors(now)
            .iter()
            .map(|n| n.address.to_string())
            .collect();
        assert_eq!(seen, all, "the whole list's order, each once");
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn a_page_fetched_one_beyond_says_whether_more_follow() {
        let p = finish(vec![1, 2, 3], 2, |x| *x);
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next, Some(2));
        let p = finish(vec![1, 2], 2, |x| *x);
        assert_eq!(p.next, None);
        let p: Page<PathSource, u8> = finish(Vec::new(), 2, |_| 0);
        assert!(p.items.is_empty() && p.next.is_none());
    }
}
