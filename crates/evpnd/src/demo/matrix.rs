//! The ping matrix: every tenant pings every other one at once; tenants of the same VNI must
//! answer, tenants of another VNI must not (each tenant has an on-link route to the other
//! VNI's subnet, so only the data plane keeps them apart).

use super::Result;
use evpnd_lab::{Fabric, PingOptions};
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
    /// From whether the two tenants share a VNI and whether a reply came.
    pub fn of(same_vni: bool, replied: bool) -> Cell {
        match (same_vni, replied) {
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

/// The outcome of one round of pings: `cells[row][column]`, rows and columns in `labels` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// Tenant labels with their address and host, e.g. `t1v100 192.0.2.11 h1`.
    pub heads: Vec<String>,
    /// The short labels (column headings).
    pub labels: Vec<String>,
    /// One row per pinging tenant.
    pub cells: Vec<Vec<Cell>>,
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

    fn count(&self, hit: impl Fn(Cell) -> bool, of: impl Fn(Cell) -> bool) -> (usize, usize) {
        let all = self.cells.iter().flatten().copied();
        (
            all.clone().filter(|c| hit(*c)).count(),
            all.filter(|c| of(*c)).count(),
        )
    }

    /// True when every cell is the expected result.
    pub fn all_good(&self) -> bool {
        self.cells.iter().flatten().all(|c| c.is_good())
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
        s
    }
}

/// Pings every ordered pair of tenants among `labels` at the same time (3 requests 100 ms
/// apart, at most 2 s each: a ping across VNIs takes that long) and fills the matrix.
pub fn ping_matrix(f: &Fabric, labels: &[String]) -> Result<Matrix> {
    let opts = PingOptions::new(3, Duration::from_millis(100), Duration::from_secs(2));
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
    let heads = labels
        .iter()
        .map(|l| {
            let t = f.tenant(l)?;
            Ok(format!("{l} {} h{}", t.ip(), t.host() + 1))
        })
        .collect::<Result<Vec<String>>>()?;
    Ok(Matrix {
        heads,
        labels: labels.to_vec(),
        cells,
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
}
