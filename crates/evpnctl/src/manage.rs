//! Run-time management: `vni add|del`, `neighbor add|del|reset` and `reload`, over the
//! daemon's API (`CreateVni`, `DeleteVni`, `AddNeighbor`, `RemoveNeighbor`, `ResetNeighbor`,
//! `ReloadConfig`). With `--json` each prints one JSON object (schema: docs/evpnctl-json.md).

use clap::{Args, Subcommand};
use evpnd_api::v1;
use serde_json::json;
use std::process::ExitCode;

/// `evpnctl vni ...`.
#[derive(Debug, Subcommand)]
pub enum VniCommand {
    /// Create an EVI for a VNI (RD and route targets derived unless given).
    Add(VniAddArgs),
    /// Delete the EVI of a VNI: its routes are withdrawn, its data-plane state removed.
    Del {
        /// The VNI.
        vni: u32,
    },
}

/// `vni add`.
#[derive(Debug, Args)]
pub struct VniAddArgs {
    /// The VNI (1..=16777215).
    pub vni: u32,
    /// Route distinguisher (default: router-id:EVI, RFC 7432 §7.9).
    #[arg(long)]
    pub rd: Option<String>,
    /// Import route target, repeatable ("*:VNI" imports from any AS; default: auto-derived).
    #[arg(long = "import-rt", value_name = "RT")]
    pub import: Vec<String>,
    /// Export route target, repeatable (default: auto-derived).
    #[arg(long = "export-rt", value_name = "RT")]
    pub export: Vec<String>,
    /// Linux data plane: the bridge's name (default br<vni>).
    #[arg(long)]
    pub bridge: Option<String>,
    /// Linux data plane: the VXLAN device's name (default vx<vni>).
    #[arg(long)]
    pub vxlan_device: Option<String>,
    /// Report MACs the kernel learns on the VNI's ports (default: [dataplane] learning).
    #[arg(long)]
    pub learning: Option<bool>,
    /// The tenant VRF of the VNI's IRB interface (RFC 9135).
    #[arg(long)]
    pub vrf: Option<String>,
    /// An anycast gateway address ADDRESS/LENGTH (e.g. 192.0.2.254/24), repeatable; needs
    /// --vrf.
    #[arg(long = "gateway", value_name = "ADDR/LEN")]
    pub gateways: Vec<String>,
    /// Print the created VNI as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `evpnctl neighbor ...`.
#[derive(Debug, Subcommand)]
pub enum NeighborCommand {
    /// Add a BGP neighbour; its session starts at once.
    Add(NeighborAddArgs),
    /// Remove a neighbour (Cease/Peer De-configured, RFC 4486); its routes are withdrawn.
    Del {
        /// Its address.
        address: String,
    },
    /// Reset a neighbour: hard (Cease/Administrative Reset) or --soft (ROUTE-REFRESH both
    /// ways, no session flap).
    Reset {
        /// Its address.
        address: String,
        /// Soft reset.
        #[arg(long)]
        soft: bool,
    },
}

/// `neighbor add`.
#[derive(Debug, Args)]
pub struct NeighborAddArgs {
    /// Its address.
    pub address: String,
    /// Its AS.
    #[arg(long)]
    pub remote_asn: u32,
    /// A family to offer, repeatable (l2vpn-evpn, ipv4-rtc, ipv4-unicast, ipv6-unicast;
    /// default l2vpn-evpn).
    #[arg(long = "family")]
    pub families: Vec<String>,
    /// A route-reflector client (RFC 4456).
    #[arg(long)]
    pub rr_client: bool,
    /// Never connect; wait for it.
    #[arg(long)]
    pub passive: bool,
    /// Hold time in seconds (default: [bgp] hold-time).
    #[arg(long)]
    pub hold_time: Option<u32>,
    /// Its TCP port (default 179).
    #[arg(long)]
    pub port: Option<u32>,
    /// Source address of our connections.
    #[arg(long)]
    pub local_address: Option<String>,
    /// TCP-MD5 password (RFC 2385).
    #[arg(long)]
    pub md5_password: Option<String>,
    /// GTSM hops (RFC 5082).
    #[arg(long)]
    pub ttl_security: Option<u32>,
    /// eBGP multihop TTL.
    #[arg(long)]
    pub multihop: Option<u32>,
    /// Graceful restart (RFC 4724).
    #[arg(long)]
    pub graceful_restart: bool,
}

/// `vni add|del`.
pub fn vni(api: &str, cmd: VniCommand) -> ExitCode {
    crate::client::print(api, |mut c| async move {
        match cmd {
            VniCommand::Add(a) => {
                let r = c
                    .create_vni(v1::CreateVniRequest {
                        vni: a.vni,
                        rd: a.rd.unwrap_or_default(),
                        import_route_targets: a.import,
                        export_route_targets: a.export,
                        bridge: a.bridge.unwrap_or_default(),
                        vxlan_device: a.vxlan_device.unwrap_or_default(),
                        learning: a.learning,
                        vrf: a.vrf.unwrap_or_default(),
                        gateways: a.gateways,
                    })
                    .await?
                    .into_inner();
                let v = r.vni.unwrap_or_default();
                Ok(if a.json {
                    json!({
                        "vni": v.vni, "rd": v.rd,
                        "import_route_targets": v.import_route_targets,
                        "export_route_targets": v.export_route_targets,
                    })
                    .to_string()
                } else {
                    format!(
                        "VNI {} created: rd {}, import {}, export {}",
                        v.vni,
                        v.rd,
                        v.import_route_targets.join(" "),
                        v.export_route_targets.join(" ")
                    )
                })
            }
            VniCommand::Del { vni } => {
                c.delete_vni(v1::DeleteVniRequest { vni }).await?;
                Ok(format!("VNI {vni} deleted"))
            }
        }
    })
}

/// `neighbor add|del|reset`.
pub fn neighbor(api: &str, cmd: NeighborCommand) -> ExitCode {
    crate::client::print(api, |mut c| async move {
        match cmd {
            NeighborCommand::Add(a) => {
                c.add_neighbor(v1::AddNeighborRequest {
                    address: a.address.clone(),
                    remote_asn: a.remote_asn,
                    families: a.families,
                    route_reflector_client: a.rr_client,
                    passive: a.passive,
                    hold_time: a.hold_time.unwrap_or(0),
                    port: a.port.unwrap_or(0),
                    local_address: a.local_address.unwrap_or_default(),
                    md5_password: a.md5_password.unwrap_or_default(),
                    ttl_security: a.ttl_security.unwrap_or(0),
                    multihop: a.multihop.unwrap_or(0),
                    graceful_restart: a.graceful_restart,
                })
                .await?;
                Ok(format!("neighbor {} added", a.address))
            }
            NeighborCommand::Del { address } => {
                c.remove_neighbor(v1::RemoveNeighborRequest {
                    address: address.clone(),
                })
                .await?;
                Ok(format!("neighbor {address} removed"))
            }
            NeighborCommand::Reset { address, soft } => {
                let r = c
                    .reset_neighbor(v1::ResetNeighborRequest {
                        address: address.clone(),
                        soft,
                    })
                    .await?
                    .into_inner();
                Ok(if soft {
                    format!(
                        "neighbor {address}: soft reset for {}",
                        r.families.join(", ")
                    )
                } else {
                    format!("neighbor {address}: session reset")
                })
            }
        }
    })
}

/// `reload`.
pub fn reload(api: &str, json_out: bool) -> ExitCode {
    crate::client::print(api, |mut c| async move {
        let r = c
            .reload_config(v1::ReloadConfigRequest {})
            .await?
            .into_inner();
        Ok(if json_out {
            json!({
                "neighbors_added": r.neighbors_added,
                "neighbors_removed": r.neighbors_removed,
                "neighbors_changed": r.neighbors_changed,
                "vrfs_added": r.vrfs_added,
                "vrfs_removed": r.vrfs_removed,
                "vnis_added": r.vnis_added,
                "vnis_removed": r.vnis_removed,
                "vnis_changed": r.vnis_changed,
                "ignored": r.ignored,
            })
            .to_string()
        } else {
            let mut lines = vec!["configuration reloaded".to_string()];
            let mut add = |what: &str, items: Vec<String>| {
                if !items.is_empty() {
                    lines.push(format!("  {what}: {}", items.join(", ")));
                }
            };
            let vnis = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>();
            add("neighbors added", r.neighbors_added.clone());
            add("neighbors removed", r.neighbors_removed.clone());
            add("neighbors changed", r.neighbors_changed.clone());
            add("VRFs added", r.vrfs_added.clone());
            add("VRFs removed", r.vrfs_removed.clone());
            add("VNIs added", vnis(&r.vnis_added));
            add("VNIs removed", vnis(&r.vnis_removed));
            add("VNIs changed", vnis(&r.vnis_changed));
            add("not applied (restart needed)", r.ignored.clone());
            if lines.len() == 1 {
                lines.push("  nothing changed".into());
            }
            lines.join("\n")
        })
    })
}
