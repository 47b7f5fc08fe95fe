//! The kernel's floor for installing remote-MAC FDB entries: how fast can any program put N
//! `MAC dev vx<VNI> dst VTEP self extern_learn` entries into Linux, with nothing else to do?
//! The figure evpnd's Linux backend is measured against (bench/README.md, "Kernel data plane").
//!
//! In a network namespace (its own unless `--inside`), it creates a bridge and a VXLAN device
//! the way evpnd does (`br<VNI>`, `vx<VNI> id VNI local VTEP dstport 4789 nolearning`,
//! enslaved, up), then sends N `RTM_NEWNEIGH` (family `AF_BRIDGE`, `NTF_SELF |
//! NTF_EXT_LEARNED`, `NDA_LLADDR`, `NDA_DST`, `NLM_F_CREATE | NLM_F_REPLACE`):
//!
//! * batched (default): as many messages per `sendmsg` as `--chunk` bytes hold (default
//!   16 KiB: on Linux 6.18 larger chunks are slower, each remote entry allocates a per-CPU
//!   `dst_cache` with GFP_ATOMIC and the per-CPU allocator refills between system calls), only
//!   the last of each chunk asks for an ACK (errors come back anyway), big socket buffers;
//! * `--ack-each`: one message per `sendmsg`, each acknowledged before the next (what a naive
//!   program does).
//!
//! `--master` also adds the bridge's own entry for each MAC (`NTF_MASTER | NTF_EXT_LEARNED` on
//! the VXLAN port), as a backend that keeps the bridge's table in step does — in the same
//! message (`NTF_SELF | NTF_MASTER`), as evpnd writes it; `--master-separate` sends it as a
//! second message instead. At the end it
//! dumps the FDB and checks that the VXLAN device holds exactly N remote entries.
//!
//! ```sh
//! cargo build --release -p evpnd-dataplane --example fdb_floor
//! target/release/examples/fdb_floor --entries 100000            # batched
//! target/release/examples/fdb_floor --entries 100000 --ack-each  # one ACK per message
//! ```
//!
//! Output: one line of JSON (`mode`, `entries`, `messages`, `seconds`, `entries_per_sec`,
//! `verified`). Needs root.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourHeader, NeighbourMessage,
    NeighbourState,
};
use netlink_packet_route::route::RouteType;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

/// What to run, from the command line.
#[derive(Clone, Debug)]
struct Options {
    entries: u32,
    chunk: usize,
    ack_each: bool,
    master: bool,
    /// `--master-separate`: the bridge's entry as a message of its own.
    separate: bool,
    vni: u32,
    vtep: Ipv4Addr,
    remote: Ipv4Addr,
    inside: bool,
    setup: bool,
}

const USAGE: &str = "fdb_floor [--entries N] [--chunk BYTES] [--ack-each] [--master | --master-separate] [--vni V] \
                     [--vtep A] [--remote A] [--inside] [--no-setup]";

fn parse_args() -> Result<Options, Error> {
    let mut o = Options {
        entries: 100_000,
        chunk: 16 * 1024,
        ack_each: false,
        master: false,
        separate: false,
        vni: 100,
        vtep: Ipv4Addr::new(198, 18, 0, 1),
        remote: Ipv4Addr::new(198, 19, 1, 1),
        inside: false,
        setup: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--entries" => o.entries = value()?.parse()?,
            "--chunk" => o.chunk = value()?.parse()?,
            "--vni" => o.vni = value()?.parse()?,
            "--vtep" => o.vtep = value()?.parse()?,
            "--remote" => o.remote = value()?.parse()?,
            "--ack-each" => o.ack_each = true,
            "--master" => o.master = true,
            "--master-separate" => {
                o.master = true;
                o.separate = true;
            }
            "--inside" => o.inside = true,
            "--no-setup" => o.setup = false,
            _ => return Err(format!("unknown argument {a}\n{USAGE}").into()),
        }
    }
    Ok(o)
}

fn run(cmd: &[&str]) -> Result<(), Error> {
    let st = Command::new(cmd[0]).args(&cmd[1..]).status()?;
    if !st.success() {
        return Err(format!("`{}` failed: {st}", cmd.join(" ")).into());
    }
    Ok(())
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("fdb_floor: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), Error> {
    let o = parse_args()?;
    if o.inside {
        return measure(&o);
    }
    // Our own namespace: re-run this program inside it, then delete it whatever happened.
    let ns = format!("evl-{}-floor", std::process::id());
    run(&["ip", "netns", "add", &ns])?;
    let result = (|| -> Result<(), Error> {
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        let vtep = format!("{}/32", o.vtep);
        run(&["ip", "-n", &ns, "addr", "add", &vtep, "dev", "lo"])?;
        let me = std::env::current_exe()?;
        let me = me.to_string_lossy();
        let mut args: Vec<String> = std::env::args().skip(1).collect();
        args.push("--inside".into());
        let mut cmd = vec!["ip", "netns", "exec", &ns, &me];
        cmd.extend(args.iter().map(String::as_str));
        run(&cmd)
    })();
    let deleted = run(&["ip", "netns", "del", &ns]);
    result.and(deleted)
}

/// Creates `br<VNI>` and `vx<VNI>` like evpnd's per-VNI model; returns the VXLAN ifindex.
fn setup(o: &Options) -> Result<u32, Error> {
    let (br, vx) = (format!("br{}", o.vni), format!("vx{}", o.vni));
    if o.setup {
        let (vni, local) = (o.vni.to_string(), o.vtep.to_string());
        run(&["ip", "link", "add", &br, "type", "bridge"])?;
        run(&[
            "ip",
            "link",
            "add",
            &vx,
            "type",
            "vxlan",
            "id",
            &vni,
            "local",
            &local,
            "dstport",
            "4789",
            "nolearning",
        ])?;
        run(&["ip", "link", "set", &vx, "master", &br, "up"])?;
        run(&["ip", "link", "set", &br, "up"])?;
    }
    // SIOCGIFINDEX wants any socket of the namespace.
    let probe = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    Ok(rustix::net::netdevice::name_to_index(&probe, &vx)?)
}

/// The i-th remote MAC: locally administered, distinct for every i < 2^32.
fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x02, 0xfe, b[0], b[1], b[2], b[3]]
}

/// One FDB entry as an `RTM_NEWNEIGH`: the VXLAN device's own (`self`, with the remote VTEP)
/// or the bridge's (`master`, pointing at the VXLAN port).
fn fdb_message(
    ifindex: u32,
    mac: [u8; 6],
    remote: Option<Ipv4Addr>,
    both: bool,
    seq: u32,
    ack: bool,
) -> NetlinkMessage<RouteNetlinkMessage> {
    let own = match (remote.is_some(), both) {
        (true, true) => NeighbourFlags::Own | NeighbourFlags::Controller,
        (true, false) => NeighbourFlags::Own,
        (false, _) => NeighbourFlags::Controller,
    };
    let mut m = NeighbourMessage::default();
    m.header = NeighbourHeader {
        family: AddressFamily::Bridge,
        ifindex,
        state: NeighbourState::Reachable,
        flags: own | NeighbourFlags::ExtLearned,
        kind: RouteType::Unspec,
    };
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    if let Some(r) = remote {
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(r)));
    }
    let mut h = NetlinkHeader::default();
    h.flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | if ack { NLM_F_ACK } else { 0 };
    h.sequence_number = seq;
    let mut msg = NetlinkMessage::new(
        h,
        NetlinkPayload::from(RouteNetlinkMessage::NewNeighbour(m)),
    );
    msg.finalize();
    msg
}

fn socket() -> Result<Socket, Error> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    // Room for a whole chunk in one sendmsg and for every reply (root may exceed the sysctls).
    rustix::net::sockopt::set_socket_send_buffer_size_force(&s, 64 << 20)?;
    rustix::net::sockopt::set_socket_recv_buffer_size_force(&s, 64 << 20)?;
    Ok(s)
}

/// Reads replies until the ACK of `seq`; any error reply fails the run.
fn wait_ack(s: &Socket, buf: &mut Vec<u8>, seq: u32) -> Result<(), Error> {
    loop {
        buf.clear();
        let n = s.recv(buf, 0)?;
        let mut off = 0;
        while off < n {
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..n])?;
            let len = msg.header.length as usize;
            if len == 0 {
                return Err("zero-length netlink message".into());
            }
            if let NetlinkPayload::Error(e) = &msg.payload {
                if let Some(code) = e.code {
                    return Err(format!(
                        "kernel refused message {}: {}",
                        msg.header.sequence_number,
                        std::io::Error::from_raw_os_error(-code.get())
                    )
                    .into());
                }
                if msg.header.sequence_number == seq {
                    return Ok(());
                }
            }
            off += (len + 3) & !3;
        }
    }
}

/// Counts the remote entries (`NDA_DST`, non-zero MAC) of the VXLAN device in an FDB dump.
fn count_remote_entries(s: &Socket, ifindex: u32) -> Result<usize, Error> {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    let mut h = NetlinkHeader::default();
    h.flags = NLM_F_REQUEST | NLM_F_DUMP;
    h.sequence_number = u32::MAX;
    let mut req = NetlinkMessage::new(
        h,
        NetlinkPayload::from(RouteNetlinkMessage::GetNeighbour(m)),
    );
    req.finalize();
    let mut out = vec![0; req.buffer_len()];
    req.serialize(&mut out);
    s.send(&out, 0)?;
    let mut count = 0;
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        buf.clear();
        let n = s.recv(&mut buf, 0)?;
        let mut off = 0;
        while off < n {
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..n])?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(count),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(format!("FDB dump: {}", e.to_io()).into())
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(nm))
                    if nm.header.ifindex == ifindex =>
                {
                    let remote = nm
                        .attributes
                        .iter()
                        .any(|a| matches!(a, NeighbourAttribute::Destination(_)));
                    let nonzero = nm.attributes.iter().any(|a| {
                        matches!(a, NeighbourAttribute::LinkLayerAddress(l) if l.iter().any(|b| *b != 0))
                    });
                    count += usize::from(remote && nonzero);
                }
                _ => {}
            }
            if len == 0 {
                return Err("zero-length netlink message".into());
            }
            off += (len + 3) & !3;
        }
    }
}

fn measure(o: &Options) -> Result<(), Error> {
    let ifindex = setup(o)?;
    let s = socket()?;
    // Encode everything first: the floor measures the kernel, not our encoder.
    let per_mac = if o.master && o.separate { 2 } else { 1 };
    let total = o.entries as usize * per_mac;
    let mut msgs: Vec<Vec<u8>> = Vec::with_capacity(total);
    let mut seq = 0u32;
    for i in 0..o.entries {
        // (remote VTEP or none: the bridge's entry; also the bridge's entry in one message)
        let mut targets = vec![(Some(o.remote), o.master && !o.separate)];
        if o.master && o.separate {
            targets.push((None, false));
        }
        for (remote, both) in targets {
            seq += 1;
            let last = seq as usize == total;
            let m = fdb_message(ifindex, mac(i), remote, both, seq, o.ack_each || last);
            let mut b = vec![0; m.buffer_len()];
            m.serialize(&mut b);
            msgs.push(b);
        }
    }
    // Chunks: (bytes, sequence number of the last message, which asks for the ACK).
    let mut chunks: Vec<(Vec<u8>, u32)> = Vec::new();
    if o.ack_each {
        for (i, m) in msgs.into_iter().enumerate() {
            chunks.push((m, i as u32 + 1));
        }
    } else {
        let mut cur = Vec::with_capacity(o.chunk);
        for (i, m) in msgs.iter().enumerate() {
            let seq = i as u32 + 1;
            let last = i + 1 == msgs.len();
            cur.extend_from_slice(m);
            if cur.len() + m.len() > o.chunk || last {
                // The chunk's last message asks for the ACK: set NLM_F_ACK in its header (flags at 6).
                let at = cur.len() - m.len() + 6;
                let flags = u16::from_ne_bytes([cur[at], cur[at + 1]]) | NLM_F_ACK;
                cur[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
                chunks.push((std::mem::take(&mut cur), seq));
            }
        }
    }
    let mut buf = Vec::with_capacity(1 << 20);
    let t0 = Instant::now();
    for (bytes, last_seq) in &chunks {
        let sent = s.send(bytes, 0)?;
        if sent != bytes.len() {
            return Err(format!("short send: {sent} of {}", bytes.len()).into());
        }
        wait_ack(&s, &mut buf, *last_seq)?;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let found = count_remote_entries(&s, ifindex)?;
    let mode = if o.ack_each { "ack-each" } else { "batched" };
    println!(
        "{{\"mode\":\"{mode}\",\"master\":{},\"entries\":{},\"messages\":{total},\"sendmsg\":{},\
         \"chunk_bytes\":{},\"seconds\":{seconds:.6},\"entries_per_sec\":{:.0},\
         \"verified\":{}}}",
        o.master,
        o.entries,
        chunks.len(),
        if o.ack_each { 0 } else { o.chunk },
        f64::from(o.entries) / seconds.max(1e-9),
        found == o.entries as usize
    );
    if found != o.entries as usize {
        return Err(format!("the kernel holds {found} remote entries, not {}", o.entries).into());
    }
    Ok(())
}
