//! The data-plane intents as their `evpnd.v1` messages (crates/api/proto/watch.proto,
//! `DataplaneIntent`): one message per variant, for the intent stream (`Watch.WatchIntents`).

use evpnd_api::v1;
use evpnd_dataplane::DataplaneIntent;

/// An intent as its message, every variant.
pub fn intent(i: &DataplaneIntent) -> v1::DataplaneIntent {
    use v1::dataplane_intent::Kind;
    use DataplaneIntent as I;
    let vni = |v: evpnd_wire::Vni| v1::IntentVni {
        vni: v.get(),
        vrf: String::new(),
    };
    let port = |v: evpnd_wire::Vni, p: &evpnd_dataplane::PortName| v1::IntentPort {
        vni: v.get(),
        port: p.to_string(),
    };
    let kind = match i {
        I::Vni { vni: v, vrf } => Kind::Vni(v1::IntentVni {
            vni: v.get(),
            vrf: vrf.map(|n| n.to_string()).unwrap_or_default(),
        }),
        I::RemoveVni { vni: v } => Kind::RemoveVni(vni(*v)),
        I::Port { vni: v, port: p } => Kind::Port(port(*v, p)),
        I::RemovePort { vni: v, port: p } => Kind::RemovePort(port(*v, p)),
        I::Synced => Kind::Synced(v1::IntentSynced {}),
        I::RemoteMac {
            vni: v,
            mac,
            vtep,
            sticky,
        } => Kind::RemoteMac(v1::IntentRemoteMac {
            vni: v.get(),
            mac: mac.to_string(),
            vtep: vtep.to_string(),
            sticky: *sticky,
        }),
        I::RemoveRemoteMac { vni: v, mac } => Kind::RemoveRemoteMac(v1::IntentRemoteMac {
            vni: v.get(),
            mac: mac.to_string(),
            ..Default::default()
        }),
        I::Flood { vni: v, vtep } => Kind::Flood(v1::IntentFlood {
            vni: v.get(),
            vtep: vtep.to_string(),
        }),
        I::RemoveFlood { vni: v, vtep } => Kind::RemoveFlood(v1::IntentFlood {
            vni: v.get(),
            vtep: vtep.to_string(),
        }),
        I::Neighbor {
            vni: v,
            ip,
            mac,
            router,
            local,
        } => Kind::Neighbor(v1::IntentNeighbor {
            vni: v.get(),
            ip: ip.to_string(),
            mac: mac.to_string(),
            router: *router,
            local: *local,
        }),
        I::RemoveNeighbor { vni: v, ip } => Kind::RemoveNeighbor(v1::IntentNeighbor {
            vni: v.get(),
            ip: ip.to_string(),
            ..Default::default()
        }),
        I::Vrf {
            vrf,
            l3vni,
            router_mac,
        } => Kind::Vrf(v1::IntentVrf {
            vrf: vrf.to_string(),
            l3vni: l3vni.map_or(0, |v| v.get()),
            router_mac: router_mac.to_string(),
        }),
        I::RemoveVrf { vrf } => Kind::RemoveVrf(v1::IntentVrf {
            vrf: vrf.to_string(),
            ..Default::default()
        }),
        I::Gateway {
            vni: v,
            address,
            prefix_len,
            mac,
        } => Kind::Gateway(v1::IntentGateway {
            vni: v.get(),
            address: address.to_string(),
            prefix_len: u32::from(*prefix_len),
            mac: mac.to_string(),
        }),
        I::RemoveGateway {
            vni: v,
            address,
            prefix_len,
        } => Kind::RemoveGateway(v1::IntentGateway {
            vni: v.get(),
            address: address.to_string(),
            prefix_len: u32::from(*prefix_len),
            mac: String::new(),
        }),
        I::RouterMac { vrf, vtep, mac } => Kind::RouterMac(v1::IntentRouterMac {
            vrf: vrf.to_string(),
            vtep: vtep.to_string(),
            mac: mac.to_string(),
        }),
        I::RemoveRouterMac { vrf, vtep } => Kind::RemoveRouterMac(v1::IntentRouterMac {
            vrf: vrf.to_string(),
            vtep: vtep.to_string(),
            mac: String::new(),
        }),
        I::RemoteRoute { vrf, prefix, vtep } => Kind::RemoteRoute(v1::IntentRemoteRoute {
            vrf: vrf.to_string(),
            prefix: prefix.to_string(),
            vtep: vtep.to_string(),
        }),
        I::RemoveRemoteRoute { vrf, prefix, vtep } => {
            Kind::RemoveRemoteRoute(v1::IntentRemoteRoute {
                vrf: vrf.to_string(),
                prefix: prefix.to_string(),
                vtep: vtep.to_string(),
            })
        }
        I::GatewayRoute { vrf, prefix, via } => Kind::GatewayRoute(v1::IntentGatewayRoute {
            vrf: vrf.to_string(),
            prefix: prefix.to_string(),
            via: via.to_string(),
        }),
        I::RemoveGatewayRoute { vrf, prefix, via } => {
            Kind::RemoveGatewayRoute(v1::IntentGatewayRoute {
                vrf: vrf.to_string(),
                prefix: prefix.to_string(),
                via: via.to_string(),
            })
        }
    };
    v1::DataplaneIntent { kind: Some(kind) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use evpnd_dataplane::PortName;
    use evpnd_wire::{MacAddress, Vni};
    use v1::dataplane_intent::Kind;

    #[test]
    fn every_intent_variant_has_its_own_message() {
        let vni = Vni::new(100).unwrap();
        let mac = MacAddress([2, 0, 0, 0, 0, 1]);
        let vtep = "198.19.0.2".parse().unwrap();
        let ip = "192.0.2.1".parse().unwrap();
        let port = PortName::new("t1v100").unwrap();
        let vrf = evpnd_evpn::VrfName::new("red").unwrap();
        let prefix: evpnd_wire::IpPrefix = "203.0.113.0/24".parse().unwrap();
        use DataplaneIntent as I;
        let all = [
            I::Vni { vni, vrf: None },
            I::RemoveVni { vni },
            I::Port { vni, port },
            I::RemovePort { vni, port },
            I::Synced,
            I::RemoteMac {
                vni,
                mac,
                vtep,
                sticky: true,
            },
            I::RemoveRemoteMac { vni, mac },
            I::Flood { vni, vtep },
            I::RemoveFlood { vni, vtep },
            I::Neighbor {
                vni,
                ip,
                mac,
                router: true,
                local: true,
            },
            I::RemoveNeighbor { vni, ip },
            I::Vrf {
                vrf,
                l3vni: Some(Vni::new(5000).unwrap()),
                router_mac: mac,
            },
            I::RemoveVrf { vrf },
            I::Gateway {
                vni,
                address: ip,
                prefix_len: 24,
                mac,
            },
            I::RemoveGateway {
                vni,
                address: ip,
                prefix_len: 24,
            },
            I::RouterMac { vrf, vtep, mac },
            I::RemoveRouterMac { vrf, vtep },
            I::RemoteRoute { vrf, prefix, vtep },
            I::RemoveRemoteRoute { vrf, prefix, vtep },
            I::GatewayRoute {
                vrf,
                prefix,
                via: ip,
            },
            I::RemoveGatewayRoute {
                vrf,
                prefix,
                via: ip,
            },
        ];
        let kinds: Vec<Kind> = all.iter().map(|i| intent(i).kind.unwrap()).collect();
        let tags: std::collections::BTreeSet<_> = kinds
            .iter()
            .map(std::mem::discriminant)
            .map(|d| format!("{d:?}"))
            .collect();
        assert_eq!(tags.len(), all.len(), "one oneof case per variant");
        assert_eq!(
            kinds[5],
            Kind::RemoteMac(v1::IntentRemoteMac {
                vni: 100,
                mac: "02:00:00:00:00:01".into(),
                vtep: "198.19.0.2".into(),
                sticky: true
            })
        );
        assert_eq!(
            kinds[2],
            Kind::Port(v1::IntentPort {
                vni: 100,
                port: "t1v100".into()
            })
        );
        assert_eq!(
            kinds[9],
            Kind::Neighbor(v1::IntentNeighbor {
                vni: 100,
                ip: "192.0.2.1".into(),
                mac: "02:00:00:00:00:01".into(),
                router: true,
                local: true
            })
        );
    }
}
