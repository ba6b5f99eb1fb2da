//! NUMA policy parsing, topology parsing against simulated `/sys` trees, the node each
//! policy chooses, and `mbind` on a real mapping. The parsers' tests also run under Miri.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::*;

#[test]
fn policies_parse() {
    assert_eq!(NumaPolicy::parse(b"local"), Ok(NumaPolicy::Local));
    assert_eq!(NumaPolicy::parse(b"interleave"), Ok(NumaPolicy::Interleave));
    assert_eq!(NumaPolicy::parse(b"nearest"), Ok(NumaPolicy::Nearest));
    assert_eq!(NumaPolicy::parse(b"node:3"), Ok(NumaPolicy::Node(3)));
    assert_eq!(NumaPolicy::parse(b"node:63"), Ok(NumaPolicy::Node(63)));
    assert_eq!(
        NumaPolicy::parse(b"node:64"),
        Err(NumaError::NoSuchNode(64))
    );
    for bad in [
        &b""[..],
        b"Local",
        b"local ",
        b"node:",
        b"node:x",
        b"node:-1",
        b"node:99999999999",
        b"node",
        b"numa",
    ] {
        assert_eq!(NumaPolicy::parse(bad), Err(NumaError::BadPolicy), "{bad:?}");
    }
    for p in [
        NumaPolicy::Local,
        NumaPolicy::Interleave,
        NumaPolicy::Nearest,
        NumaPolicy::Node(0),
        NumaPolicy::Node(17),
    ] {
        assert_eq!(NumaPolicy::decode(p.encode()), Some(p));
        assert_eq!(NumaPolicy::parse(p.to_string().as_bytes()), Ok(p));
    }
    assert_eq!(NumaPolicy::decode(0), None);
}

#[test]
fn lists_parse() {
    let mut m = [0u64; 2];
    assert_eq!(parse_list(b"0-3,8\n", &mut m), Ok(()));
    assert_eq!(m, [0b1_0000_1111, 0]);
    assert_eq!(parse_list(b"64-65,127", &mut m), Ok(()));
    assert_eq!(m, [0, 0b11 | 1 << 63]);
    assert_eq!(parse_list(b"\n", &mut m), Ok(()));
    assert_eq!(m, [0, 0]);
    assert_eq!(parse_list(b"", &mut m), Ok(()));
    for bad in [
        &b"3-1"[..],
        b"a",
        b"0,,1",
        b"1-",
        b"-1",
        b"0-1-2",
        b"0 1",
        b"0\n\n",
    ] {
        assert_eq!(
            parse_list(bad, &mut m),
            Err(ListError::Malformed),
            "{bad:?}"
        );
    }
    assert_eq!(parse_list(b"128", &mut m), Err(ListError::TooLarge));
    assert_eq!(parse_list(b"0-200", &mut m), Err(ListError::TooLarge));
}

#[test]
fn distances_parse() {
    let mut row = [0u8; MAX_NODES];
    assert!(parse_distance(b"10 21\n", 2, &mut row));
    assert_eq!(&row[..2], &[10, 21]);
    assert!(parse_distance(b"10  21 31", 3, &mut row));
    assert!(!parse_distance(b"10 21\n", 3, &mut row));
    assert!(!parse_distance(b"10 21 31\n", 2, &mut row));
    assert!(!parse_distance(b"10 x\n", 2, &mut row));
    assert!(!parse_distance(b"10 300\n", 2, &mut row));
    assert!(!parse_distance(b"", 1, &mut row));
}

/// A simulated `/sys/devices/system/node` in a fresh temporary directory.
struct FakeSys(PathBuf);

impl FakeSys {
    fn new(name: &str) -> FakeSys {
        let dir = std::env::temp_dir().join(format!("ebb-numa-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        FakeSys(dir)
    }

    fn file(&self, rel: &str, contents: &str) -> &Self {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    fn node(&self, n: usize, cpus: &str, distance: &str) -> &Self {
        self.file(&format!("node{n}/cpulist"), cpus)
            .file(&format!("node{n}/distance"), distance)
    }

    fn read(&self) -> (Box<Topology>, Result<(), NumaError>) {
        let mut t = Box::new(Topology::EMPTY);
        let r = t.read(&Dir(self.0.as_os_str().as_bytes()));
        (t, r)
    }
}

impl Drop for FakeSys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn two_nodes(name: &str) -> FakeSys {
    let s = FakeSys::new(name);
    s.file("online", "0-1\n")
        .file("has_memory", "0-1\n")
        .node(0, "0-3\n", "10 21\n")
        .node(1, "4-7\n", "21 10\n");
    s
}

/// Four nodes; node 2 has CPUs but no memory and is nearer to node 3 than to 0 and 1.
fn four_nodes(name: &str) -> FakeSys {
    let s = FakeSys::new(name);
    s.file("online", "0-3\n")
        .file("has_memory", "0-1,3\n")
        .node(0, "0-1\n", "10 20 30 30\n")
        .node(1, "2-3\n", "20 10 30 30\n")
        .node(2, "4-5,64\n", "30 30 10 12\n")
        .node(3, "\n", "30 30 12 10\n");
    s
}

fn bound_to(n: u16) -> Result<Placement, NumaError> {
    Ok(Placement {
        mode: Mode::Bind,
        nodes: 1 << n,
    })
}

#[test]
#[cfg_attr(miri, ignore = "files and system calls")]
fn two_node_topology_and_choices() {
    let s = two_nodes("two");
    let (t, r) = s.read();
    assert_eq!(r, Ok(()));
    assert_eq!(t.nodes(), 2);
    assert_eq!(t.node_of_cpu(0), Some(0));
    assert_eq!(t.node_of_cpu(5), Some(1));
    assert_eq!(t.node_of_cpu(8), None);
    assert_eq!(t.node_of_cpu(MAX_CPUS), None);
    assert_eq!(t.choose(NumaPolicy::Local, 1), bound_to(1));
    assert_eq!(t.choose(NumaPolicy::Local, 0), bound_to(0));
    assert_eq!(t.choose(NumaPolicy::Node(1), 0), bound_to(1));
    assert_eq!(
        t.choose(NumaPolicy::Node(2), 0),
        Err(NumaError::NoSuchNode(2))
    );
    assert_eq!(
        t.choose(NumaPolicy::Interleave, 0),
        Ok(Placement {
            mode: Mode::Interleave,
            nodes: 0b11
        })
    );
    assert_eq!(
        t.choose(NumaPolicy::Nearest, 1),
        Ok(Placement {
            mode: Mode::Preferred,
            nodes: 0b10
        })
    );
    assert_eq!(decide(&t, NumaPolicy::Local, Ok(())), NumaState::Applied);
    assert_eq!(decide(&t, NumaPolicy::Node(1), Ok(())), NumaState::Applied);
    assert_eq!(
        decide(&t, NumaPolicy::Node(7), Ok(())),
        NumaState::Error(NumaError::NoSuchNode(7))
    );
}

#[test]
#[cfg_attr(miri, ignore = "files and system calls")]
fn memoryless_node_goes_to_the_nearest() {
    let s = four_nodes("four");
    let (t, r) = s.read();
    assert_eq!(r, Ok(()));
    assert_eq!(t.nodes(), 4);
    assert_eq!(t.memory, 0b1011);
    assert_eq!(t.node_of_cpu(64), Some(2));
    assert_eq!(t.node_of_cpu(3), Some(1));
    assert_eq!(t.nearest_with_memory(2), Some(3));
    assert_eq!(t.nearest_with_memory(1), Some(1));
    assert_eq!(t.nearest_with_memory(9), None);
    assert_eq!(
        t.choose(NumaPolicy::Nearest, 2),
        Ok(Placement {
            mode: Mode::Preferred,
            nodes: 1 << 3
        })
    );
    // Local binds to the running node, which has no memory: refused, not misplaced.
    assert_eq!(
        t.choose(NumaPolicy::Local, 2),
        Err(NumaError::NoSuchNode(2))
    );
    assert_eq!(
        t.choose(NumaPolicy::Node(2), 0),
        Err(NumaError::NoSuchNode(2))
    );
    assert_eq!(
        t.choose(NumaPolicy::Interleave, 2),
        Ok(Placement {
            mode: Mode::Interleave,
            nodes: 0b1011
        })
    );
}

#[test]
#[cfg_attr(miri, ignore = "files and system calls")]
fn single_node_is_a_no_op() {
    let s = FakeSys::new("one");
    s.file("online", "0\n").node(0, "0-1\n", "10\n");
    let (t, r) = s.read();
    assert_eq!(r, Ok(()));
    // has_memory missing: every online node has memory.
    assert_eq!(t.memory, 1);
    for p in [
        NumaPolicy::Local,
        NumaPolicy::Interleave,
        NumaPolicy::Nearest,
        NumaPolicy::Node(0),
    ] {
        assert_eq!(decide(&t, p, r), NumaState::SingleNode);
    }
    // A node that does not exist is an error even where placement is a no-op.
    assert_eq!(
        decide(&t, NumaPolicy::Node(1), r),
        NumaState::Error(NumaError::NoSuchNode(1))
    );
}

#[test]
#[cfg_attr(miri, ignore = "files and system calls")]
fn malformed_topologies_give_typed_errors() {
    let s = FakeSys::new("missing-online");
    assert_eq!(s.read().1, Err(NumaError::Unreadable(SysFile::Online)));

    let s = FakeSys::new("bad-online");
    s.file("online", "zero\n");
    assert_eq!(s.read().1, Err(NumaError::Malformed(SysFile::Online)));

    let s = FakeSys::new("empty-online");
    s.file("online", "\n");
    assert_eq!(s.read().1, Err(NumaError::Malformed(SysFile::Online)));

    let s = FakeSys::new("huge-online");
    s.file("online", "0-70\n");
    assert_eq!(s.read().1, Err(NumaError::TooLarge(SysFile::Online)));

    let s = FakeSys::new("long-online");
    s.file("online", &"0,".repeat(3000));
    assert_eq!(s.read().1, Err(NumaError::TooLarge(SysFile::Online)));

    let s = FakeSys::new("no-memory");
    s.file("online", "0-1\n").file("has_memory", "\n");
    assert_eq!(s.read().1, Err(NumaError::NoMemory));

    let s = FakeSys::new("bad-memory");
    s.file("online", "0-1\n").file("has_memory", "0-\n");
    assert_eq!(s.read().1, Err(NumaError::Malformed(SysFile::HasMemory)));

    let s = two_nodes("missing-cpulist");
    std::fs::remove_file(s.0.join("node1/cpulist")).unwrap();
    assert_eq!(s.read().1, Err(NumaError::Unreadable(SysFile::Cpulist(1))));

    let s = two_nodes("bad-cpulist");
    s.file("node0/cpulist", "0-3;\n");
    assert_eq!(s.read().1, Err(NumaError::Malformed(SysFile::Cpulist(0))));

    let s = two_nodes("huge-cpulist");
    s.file("node0/cpulist", "0-2000\n");
    assert_eq!(s.read().1, Err(NumaError::TooLarge(SysFile::Cpulist(0))));

    let s = two_nodes("short-distance");
    s.file("node0/distance", "10\n");
    assert_eq!(s.read().1, Err(NumaError::Malformed(SysFile::Distance(0))));

    let s = two_nodes("bad-distance");
    s.file("node1/distance", "21 ten\n");
    assert_eq!(s.read().1, Err(NumaError::Malformed(SysFile::Distance(1))));

    let s = two_nodes("missing-distance");
    std::fs::remove_file(s.0.join("node1/distance")).unwrap();
    assert_eq!(s.read().1, Err(NumaError::Unreadable(SysFile::Distance(1))));

    // A bad topology makes any policy a no-op, with the reason.
    let (t, r) = s.read();
    assert_eq!(
        decide(&t, NumaPolicy::Local, r),
        NumaState::Error(NumaError::Unreadable(SysFile::Distance(1)))
    );
}

#[test]
#[cfg_attr(miri, ignore = "files and system calls")]
fn a_path_too_long_is_unreadable() {
    let long = "x".repeat(300);
    let mut t = Box::new(Topology::EMPTY);
    assert_eq!(
        t.read(&Dir(long.as_bytes())),
        Err(NumaError::Unreadable(SysFile::Online))
    );
}

#[test]
#[cfg_attr(miri, ignore = "files and system calls")]
fn this_machine_topology_reads() {
    let root = Path::new("/sys/devices/system/node");
    if !root.join("online").exists() {
        return;
    }
    let mut t = Box::new(Topology::EMPTY);
    assert_eq!(t.read(&Dir(root.as_os_str().as_bytes())), Ok(()));
    assert!(t.nodes() >= 1);
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    assert!(cpu >= 0);
    assert!(t.node_of_cpu(cpu as usize).is_some(), "cpu {cpu}");
}

#[test]
#[cfg_attr(miri, ignore = "files and system calls")]
fn mbind_on_a_fresh_mapping_binds_or_reports_errno() {
    let len = 1 << 20;
    let p = crate::heap::os::map(len, false).unwrap();
    let r = bind(
        p,
        len,
        Placement {
            mode: Mode::Bind,
            nodes: 1,
        },
    );
    match r {
        Ok(()) => {}
        Err(e) => assert!(
            [libc::EPERM, libc::ENOSYS, libc::EINVAL].contains(&e),
            "errno {e}"
        ),
    }
    // The mapping is usable either way.
    // SAFETY: `p..p+len` is the fresh mapping above.
    unsafe {
        p.write_bytes(7, len);
        assert_eq!(*p.add(len - 1), 7);
        crate::heap::os::unmap(p, len);
    }
}

#[test]
#[cfg_attr(miri, ignore = "files and system calls")]
fn stats_say_why_placement_is_a_no_op() {
    let p = crate::heap::alloc(64, 8);
    assert!(!p.is_null());
    let s = stats();
    assert_ne!(s.state, NumaState::Unresolved);
    if std::env::var_os("EBB_NUMA").is_none() {
        assert_eq!(s.policy, None);
        assert_eq!(s.state, NumaState::NoPolicy);
        assert_eq!(s.bound, 0);
    }
    assert!(!s.to_string().is_empty());
    // SAFETY: live, freed once.
    unsafe { crate::heap::free(p, 8) };
}
