//! `evpnctl explain`: for one MAC or IP of one VNI, the chain from the routes received to the
//! data-plane intent, each link as the node's components hold it: the EVPN routes of the
//! Loc-RIB with all their paths, the engine's import verdict on each best path
//! ([`evpnd_evpn::Engine::import_verdict`]), the engine's claims and decision
//! ([`evpnd_evpn::Engine::explain_mac`]) and the intent that decision calls for. What the data
//! plane and the kernel hold is the driver's to add.

use crate::error::CommandError;
use crate::node::Node;
use crate::query::{route_vni, PathSource, RouteFilter, RouteView};
use evpnd_dataplane::DataplaneIntent;
use evpnd_evpn::{ImportVerdict, IpExplanation, Location, MacExplanation};
use evpnd_wire::{EvpnRoute, Family, MacAddress, Route, Vni};
use std::net::IpAddr;

/// An EVPN route with the engine's verdict on its best path (the only path the engine sees).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplainedRoute {
    /// The route with all its paths, best first.
    pub route: RouteView,
    /// Imported, or why not (`None`: originated here, so not received, or no path).
    pub verdict: Option<ImportVerdict>,
}

/// The chain for one MAC of one VNI as the node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacExplain {
    /// The VNI.
    pub vni: Vni,
    /// The MAC.
    pub mac: MacAddress,
    /// The type-2 routes naming the MAC in the VNI (MAC-only and MAC+IP, every RD).
    pub routes: Vec<ExplainedRoute>,
    /// The engine's claims and decision (`None`: the engine holds nothing for the MAC).
    pub engine: Option<MacExplanation>,
    /// The data-plane intent the engine's table calls for now (`None`: none, e.g. a local MAC,
    /// which the bridge forwards by its own learning).
    pub intent: Option<DataplaneIntent>,
}

/// The chain for one IP of one VNI as the node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpExplain {
    /// The VNI.
    pub vni: Vni,
    /// The IP.
    pub ip: IpAddr,
    /// The MAC+IP routes naming the IP in the VNI.
    pub routes: Vec<ExplainedRoute>,
    /// The engine's claims and decision (`None`: nothing for the IP).
    pub engine: Option<IpExplanation>,
    /// The proxy ARP/ND intent the engine's table calls for now.
    pub intent: Option<DataplaneIntent>,
}

impl Node {
    /// The EVPN type-2 routes of `vni` that `keep` accepts, with the engine's verdicts.
    fn explained_routes(
        &self,
        filter: RouteFilter,
        vni: Vni,
        keep: impl Fn(&Route) -> bool,
    ) -> Vec<ExplainedRoute> {
        let engine = self.evpn.as_ref().map(|e| &e.engine);
        self.routes(&filter)
            .filter(|v| keep(&v.route))
            .filter(|v| {
                route_vni(&v.route, v.paths.first().map(|p| &*p.path.attrs)) == Some(vni.get())
            })
            .map(|route| {
                let verdict = route
                    .paths
                    .first()
                    .filter(|p| p.source != PathSource::Local)
                    .zip(engine)
                    .map(|(p, e)| e.import_verdict(&p.path));
                ExplainedRoute { route, verdict }
            })
            .collect()
    }

    /// The chain for `mac` in `vni` (NOT_FOUND for an unknown VNI, FAILED_PRECONDITION
    /// without an engine).
    pub fn explain_mac(&self, vni: u32, mac: MacAddress) -> Result<MacExplain, CommandError> {
        let vni = self.known_vni(vni)?;
        let filter = RouteFilter {
            family: Some(Family::L2VPN_EVPN),
            route_type: Some(2),
            mac: Some(mac),
            ..RouteFilter::default()
        };
        let routes = self.explained_routes(filter, vni, |_| true);
        let engine = self
            .evpn
            .as_ref()
            .and_then(|e| e.engine.explain_mac(vni, mac));
        let intent = engine.as_ref().and_then(|x| match x.installed {
            Some((Location::Remote { vtep }, _, sticky)) => Some(DataplaneIntent::RemoteMac {
                vni,
                mac,
                vtep,
                sticky,
            }),
            _ => None,
        });
        Ok(MacExplain {
            vni,
            mac,
            routes,
            engine,
            intent,
        })
    }

    /// The chain for `ip` in `vni` (errors as [`Node::explain_mac`]).
    pub fn explain_ip(&self, vni: u32, ip: IpAddr) -> Result<IpExplain, CommandError> {
        let vni = self.known_vni(vni)?;
        let filter = RouteFilter {
            family: Some(Family::L2VPN_EVPN),
            route_type: Some(2),
            vni: Some(vni.get()),
            ..RouteFilter::default()
        };
        let routes = self.explained_routes(
            filter,
            vni,
            |r| matches!(r, Route::Evpn(EvpnRoute::MacIp(m)) if m.ip == Some(ip)),
        );
        let engine = self
            .evpn
            .as_ref()
            .and_then(|e| e.engine.explain_ip(vni, ip));
        let intent = engine.as_ref().and_then(|x| {
            x.installed.map(|b| DataplaneIntent::Neighbor {
                vni,
                ip,
                mac: b.mac,
                router: b.router,
                local: b.location == Location::Local,
            })
        });
        Ok(IpExplain {
            vni,
            ip,
            routes,
            engine,
            intent,
        })
    }
}
