//! Builds a map over one of the trie bench suite's key sets and looks every key up, for
//! profiling lookups (`perf stat`/`perf record`): `lookup_profile urls|sexpr|random [n]`.

use ebb_trie::PathMap;
use std::hint::black_box;
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn keys(kind: &str, n: usize) -> Vec<Vec<u8>> {
    const SEG: [&str; 16] = [
        "wiki", "docs", "api", "v1", "v2", "users", "items", "search", "blog", "2024", "2025",
        "en", "de", "static", "img", "tags",
    ];
    let mut r = Rng(0x5eed);
    match kind {
        "urls" => (0..n)
            .map(|i| {
                let host = r.below(64);
                let a = SEG[r.below(16)];
                let b = SEG[r.below(16)];
                format!("https://host{host}.example.org/{a}/{b}/item-{i}.html").into_bytes()
            })
            .collect(),
        "sexpr" => {
            let m = (n / 8).max(8);
            (0..n)
                .map(|i| {
                    format!(
                        "(edge (node {}) (node {}) (label l{}) {i})",
                        r.below(m),
                        r.below(m),
                        r.below(32)
                    )
                    .into_bytes()
                })
                .collect()
        }
        _ => (0..n)
            .map(|_| {
                let mut k = r.next().to_le_bytes().to_vec();
                k.extend_from_slice(&r.next().to_le_bytes());
                k
            })
            .collect(),
    }
}

/// Resident set size in bytes (Linux), 0 elsewhere.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map_or("urls", String::as_str);
    let n: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let passes: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut ks = keys(kind, n);
    let before = rss();
    let mut m = PathMap::new();
    for (i, k) in ks.iter().enumerate() {
        m.insert(k, i as u64);
    }
    let grown = rss().saturating_sub(before);
    println!(
        "{kind} n={n}: RSS growth {:.1} B/key",
        grown as f64 / n as f64
    );
    let mut r = Rng(7);
    for i in (1..ks.len()).rev() {
        ks.swap(i, r.below(i + 1));
    }
    let t = Instant::now();
    let mut s = 0u64;
    for _ in 0..passes {
        for k in &ks {
            s = s.wrapping_add(*black_box(&m).get(k).unwrap());
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / (passes * ks.len()) as f64;
    println!("{kind} n={n}: {ns:.1} ns/get (sum {s})");
}
