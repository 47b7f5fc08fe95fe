//! The ping matrix: every bridged tenant pings every other one at once; tenants of the same
//! VNI must answer, tenants of another VNI must not (each tenant has an on-link route to the
//! other VNI's subnet, so only the data plane keeps them apart). At the same time the routed
//! tenants of VRF red ping each other (IPv4 and IPv6, both directions: must answer) and a
//! bridged-only tenant each (must not); those are rows of their own, marked `routed` and
//! `isolated`.

use super::routed::{L3VNI, VRF};
use super::Result;
use evpnd_lab::fabric::l3::PingCase;
use evpnd_lab::{Fabric, PingOptions, PingStats};
use std::net::IpAddr;
use std::time::Duration;

/// What one ping from a row tenant to a column tenant showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// The tenant itself.
    Itself,
    /// Same VNI, replies came back.
    Reached,
    /// Different VNI, no reply: isolated as expected.
    Isolated,
    /// Same VNI, no reply.
    Failed,
    /// Different VNI, a reply came back: isolation broken.
    Leaked,
}

impl Cell {
    /// From whether a reply must come (the two tenants share a VNI, or are routed in one VRF)
    /// and whether one came.
    pub fn of(must_reach: bool, replied: bool) -> Cell {
        match (must_reach, replied) {
            (true, true) => Cell::Reached,
            (true, false) => Cell::Failed,
            (false, false) => Cell::Isolated,
            (false, true) => Cell::Leaked,
        }
    }

    /// True when the result is the expected one.
    pub fn is_good(self) -> bool {
        matches!(self, Cell::Itself | Cell::Reached | Cell::Isolated)
    }

    fn text(self) -> &'static str {
        match self {
            Cell::Itself => "-",
            Cell::Reached => "ok",
            Cell::Isolated => "no",
            Cell::Failed => "FAIL",
            Cell::Leaked => "LEAK",
        }
    }
}

/// One routed ping (or one that must stay isolated from VRF red) of a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutedRow {
    /// The pinging tenant with its address and host, e.g. `t1v300 203.0.113.11 h1`.
    pub from: String,
    /// The destination tenant with the pinged address and its host.
    pub to: String,
    /// The result.
    pub cell: Cell,
    /// What ping counted (`None`: its output could not be read, counted as no reply).
    pub stats: Option<PingStats>,
}

impl RoutedRow {
    /// `routed` for a ping that must be routed in the VRF, `isolated` for one that must not
    /// leave it.
    fn kind(&self) -> &'static str {
        if matches!(self.cell, Cell::Reached | Cell::Failed) {
            "routed"
        } else {
            "isolated"
        }
    }
}

/// The outcome of one round of pings: `cells[row][column]`, rows and columns in `labels` order,
/// then the routed rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// Tenant labels with their address and host, e.g. `t1v100 192.0.2.11 h1`.
    pub heads: Vec<String>,
    /// The short labels (column headings).
    pub labels: Vec<String>,
    /// One row per pinging tenant.
    pub cells: Vec<Vec<Cell>>,
    /// The routed pings of VRF red, and its isolation from the bridged-only tenants.
    pub routed: Vec<RoutedRow>,
}

impl Matrix {
    /// Pings within one VNI that answered, and all pings within one VNI.
    pub fn reached(&self) -> (usize, usize) {
        self.count(
            |c| c == Cell::Reached,
            |c| matches!(c, Cell::Reached | Cell::Failed),
        )
    }

    /// Pings across VNIs that got no answer, and all pings across VNIs.
    pub fn isolated(&self) -> (usize, usize) {
        self.count(
            |c| c == Cell::Isolated,
            |c| matches!(c, Cell::Isolated | Cell::Leaked),
        )
    }

    /// Routed pings that answered, and all routed pings.
    pub fn routed_reached(&self) -> (usize, usize) {
        count(
            self.routed.iter().map(|r| r.cell),
            |c| c == Cell::Reached,
            |c| matches!(c, Cell::Reached | Cell::Failed),
        )
    }

    /// Pings from the VRF to bridged-only tenants that got no answer, and all of them.
    pub fn routed_isolated(&self) -> (usize, usize) {
        count(
            self.routed.iter().map(|r| r.cell),
            |c| c == Cell::Isolated,
            |c| matches!(c, Cell::Isolated | Cell::Leaked),
        )
    }

    fn count(&self, hit: impl Fn(Cell) -> bool, of: impl Fn(Cell) -> bool) -> (usize, usize) {
        count(self.cells.iter().flatten().copied(), hit, of)
    }

    /// True when every cell and every routed row is the expected result.
    pub fn all_good(&self) -> bool {
        self.cells
            .iter()
            .flatten()
            .chain(self.routed.iter().map(|r| &r.cell))
            .all(|c| c.is_good())
    }

    /// The table: one row per pinging tenant, one column per target.
    pub fn render(&self) -> String {
        let head_w = self.heads.iter().map(String::len).max().unwrap_or(0);
        let col_w = self
            .labels
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(4);
        let mut s = format!("  {:head_w$} ", "from \\ to");
        for l in &self.labels {
            s.push_str(&format!(" {l:>col_w$}"));
        }
        s.push('\n');
        for (head, row) in self.heads.iter().zip(&self.cells) {
            s.push_str(&format!("  {head:head_w$} "));
            for c in row {
                s.push_str(&format!(" {:>col_w$}", c.text()));
            }
            s.push('\n');
        }
        let (r, rn) = self.reached();
        let (i, in_) = self.isolated();
        s.push_str(&format!(
            "  same VNI: {r}/{rn} reached; different VNIs: {i}/{in_} isolated (ok = replies, \
             no = no reply as expected, FAIL/LEAK = wrong)\n"
        ));
        if !self.routed.is_empty() {
            s.push_str(&self.render_routed());
        }
        s
    }

    /// The routed rows: kind, verdict, from, to, replies; then their counts.
    fn render_routed(&self) -> String {
        let from_w = self.routed.iter().map(|r| r.from.len()).max().unwrap_or(0);
        let to_w = self.routed.iter().map(|r| r.to.len()).max().unwrap_or(0);
        let mut s = format!(
            "  routed between subnets in VRF {VRF} (L3VNI {L3VNI}, symmetric IRB, anycast \
             gateway), and isolated from the bridged-only VNIs:\n"
        );
        for r in &self.routed {
            let replies = r.stats.map_or_else(
                || "no ping output".to_string(),
                |st| format!("{}/{} replies", st.received, st.transmitted),
            );
            s.push_str(&format!(
                "  {:8} {:>4}  {:from_w$} -> {:to_w$}  {replies}\n",
                r.kind(),
                r.cell.text(),
                r.from,
                r.to
            ));
        }
        let (r, rn) = self.routed_reached();
        let (i, in_) = self.routed_isolated();
        s.push_str(&format!(
            "  routed (IPv4 and IPv6, both directions): {r}/{rn} reached; VRF {VRF} to \
             bridged-only tenants: {i}/{in_} isolated (VRF {VRF} has no route to them)\n"
        ));
        s
    }
}

/// Of `cells`: how many are `hit`, and how many are `of`.
fn count(
    cells: impl Iterator<Item = Cell> + Clone,
    hit: impl Fn(Cell) -> bool,
    of: impl Fn(Cell) -> bool,
) -> (usize, usize) {
    (
        cells.clone().filter(|c| hit(*c)).count(),
        cells.filter(|c| of(*c)).count(),
    )
}

/// `label address hN` of tenant `label`: its address of the family of `family` when it has
/// one, else its first address.
fn head(f: &Fabric, label: &str, family: Option<IpAddr>) -> Result<String> {
    let t = f.tenant(label)?;
    let address = family
        .and_then(|x| {
            t.addresses()
                .into_iter()
                .find(|a| a.is_ipv6() == x.is_ipv6())
        })
        .unwrap_or(t.ip());
    Ok(format!("{label} {address} h{}", t.host() + 1))
}

/// Pings every ordered pair of tenants among `labels`, and every case of `routed`, all at the
/// same time (3 requests 100 ms apart, at most 2 s each: a ping that gets no answer takes
/// that long) and fills the matrix.
pub fn ping_matrix(f: &Fabric, labels: &[String], routed: &[PingCase]) -> Result<Matrix> {
    let opts = PingOptions::new(3, Duration::from_millis(100), Duration::from_secs(2));
    let routed_runs = routed
        .iter()
        .map(|c| f.tenant(&c.from)?.ping_in_background(c.to, &opts))
        .collect::<evpnd_lab::Result<Vec<_>>>()?;
    let mut runs = Vec::new();
    for a in labels {
        for b in labels {
            if a != b {
                let (ta, tb) = (f.tenant(a)?, f.tenant(b)?);
                runs.push(Some(ta.ping_in_background(tb.ip(), &opts)?));
            } else {
                runs.push(None);
            }
        }
    }
    let mut cells = Vec::new();
    let mut runs = runs.into_iter();
    for a in labels {
        let mut row = Vec::new();
        for b in labels {
            let run = runs.next().flatten();
            row.push(match run {
                None => Cell::Itself,
                Some(r) => {
                    let same = f.tenant(a)?.vni() == f.tenant(b)?.vni();
                    // A ping that could not be read counts as no reply.
                    Cell::of(same, r.finish().is_ok_and(|s| s.received > 0))
                }
            });
        }
        cells.push(row);
    }
    let mut routed_rows = Vec::new();
    for (c, run) in routed.iter().zip(routed_runs) {
        // A ping that could not be read counts as no reply.
        let stats = run.finish().ok();
        routed_rows.push(RoutedRow {
            from: head(f, &c.from, Some(c.to))?,
            to: head(f, &c.to_name, Some(c.to))?,
            cell: Cell::of(c.reach, stats.is_some_and(|s| s.received > 0)),
            stats,
        });
    }
    let heads = labels
        .iter()
        .map(|l| head(f, l, None))
        .collect::<Result<Vec<String>>>()?;
    Ok(Matrix {
        heads,
        labels: labels.to_vec(),
        cells,
        routed: routed_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cells: Vec<Vec<Cell>>) -> Matrix {
        Matrix {
            heads: vec!["a 192.0.2.11 h1".into(), "b 198.51.100.12 h2".into()],
            labels: vec!["a".into(), "b".into()],
            cells,
            routed: Vec::new(),
        }
    }

    #[test]
    fn cells_judge_reachability_against_the_vni() {
        assert_eq!(Cell::of(true, true), Cell::Reached);
        assert_eq!(Cell::of(true, false), Cell::Failed);
        assert_eq!(Cell::of(false, false), Cell::Isolated);
        assert_eq!(Cell::of(false, true), Cell::Leaked);
        assert!(!Cell::Failed.is_good() && !Cell::Leaked.is_good());
    }

    #[test]
    fn the_table_shows_every_cell_and_the_counts() {
        let m = sample(vec![
            vec![Cell::Itself, Cell::Isolated],
            vec![Cell::Leaked, Cell::Itself],
        ]);
        let t = m.render();
        let rows: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows[1], ["a", "192.0.2.11", "h1", "-", "no"], "{t}");
        assert_eq!(rows[2], ["b", "198.51.100.12", "h2", "LEAK", "-"], "{t}");
        assert!(t.contains("different VNIs: 1/2 isolated"), "{t}");
        assert!(!m.all_good());
        let good = sample(vec![
            vec![Cell::Itself, Cell::Reached],
            vec![Cell::Reached, Cell::Itself],
        ]);
        assert!(good.all_good());
        assert_eq!(good.reached(), (2, 2));
    }

    #[test]
    fn routed_rows_are_marked_and_count_in_the_result() {
        let row = |from: &str, to: &str, cell, received| RoutedRow {
            from: from.into(),
            to: to.into(),
            cell,
            stats: Some(PingStats {
                transmitted: 3,
                received,
            }),
        };
        let mut m = sample(vec![
            vec![Cell::Itself, Cell::Isolated],
            vec![Cell::Isolated, Cell::Itself],
        ]);
        m.routed = vec![
            row(
                "t1v300 2001:db8:300::11 h1",
                "t3v400 2001:db8:400::13 h3",
                Cell::Reached,
                3,
            ),
            row(
                "t1v300 203.0.113.11 h1",
                "t3v100 192.0.2.13 h3",
                Cell::Isolated,
                0,
            ),
        ];
        assert!(m.all_good());
        let t = m.render();
        let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        let routed = lines.iter().find(|w| w[0] == "routed" && w[1] == "ok");
        assert_eq!(
            routed.map(|w| w[2..].join(" ")),
            Some("t1v300 2001:db8:300::11 h1 -> t3v400 2001:db8:400::13 h3 3/3 replies".into()),
            "{t}"
        );
        assert!(
            lines.iter().any(|w| w[..3] == ["isolated", "no", "t1v300"]),
            "{t}"
        );
        assert!(
            t.contains("1/1 reached; VRF red to bridged-only tenants: 1/1 isolated"),
            "{t}"
        );
        m.routed[0].cell = Cell::Failed;
        assert!(!m.all_good());
        assert!(m.render().contains("routed   FAIL"), "{}", m.render());
    }
}
