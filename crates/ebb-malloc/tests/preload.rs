//! libebb_malloc.so under real programs: a C program built here (mixed sizes, every
//! alignment, realloc chains, threads, cross-thread frees, fork), python3 running an
//! allocation-heavy script, and bad frees that must abort with a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cdylib cargo built for this test run (beside the test binary's directory).
fn library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        let p = dir.join("libebb_malloc.so");
        if p.exists() {
            return p;
        }
    }
    panic!("libebb_malloc.so not found next to {}", exe.display());
}

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ebb-malloc-tests");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn build_c(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(format!("{name}.c"));
    let bin = out_dir().join(name);
    let st = Command::new("cc")
        .args(["-O1", "-g", "-pthread", "-Wno-unused-result", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("cc is needed to build the C test programs");
    assert!(st.success(), "cc failed on {}", src.display());
    bin
}

fn preload(cmd: &mut Command) -> Output {
    cmd.env("LD_PRELOAD", library()).output().unwrap()
}

#[test]
fn c_program_runs_under_ld_preload() {
    let bin = build_c("stress");
    let out = preload(&mut Command::new(&bin));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for line in [
        "mixed sizes ok",
        "alignments ok",
        "realloc chains ok",
        "threads and cross-thread frees ok",
        "fork ok",
        "all ok",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
}

#[test]
fn the_library_is_the_one_in_use() {
    // With EBB_MALLOC_STATS=1 the library prints its counters at exit: proof that the
    // program's malloc was ebb's.
    let bin = build_c("stress");
    let out = preload(Command::new(&bin).env("EBB_MALLOC_STATS", "1"));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ebb-malloc stats: allocated"),
        "no stats in:\n{stderr}"
    );
}

#[test]
fn ebb_numa_is_read_and_reported() {
    // The C library has no const policy: EBB_NUMA chooses it, and a malformed value is
    // reported without breaking allocation.
    let bin = build_c("stress");
    let single =
        std::fs::read_to_string("/sys/devices/system/node/online").is_ok_and(|s| s.trim() == "0");
    for (env, want) in [
        ("interleave", "policy interleave (Env)"),
        ("sideways", "no policy"),
    ] {
        let out = preload(
            Command::new(&bin)
                .env("EBB_MALLOC_STATS", "1")
                .env("EBB_NUMA", env),
        );
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr
            .lines()
            .find(|l| l.starts_with("ebb-malloc stats: numa"))
            .unwrap_or_else(|| panic!("no numa line in:\n{stderr}"));
        assert!(line.contains(want), "{env}: {line}");
        if env == "sideways" {
            assert!(
                line.contains("no-op (not local|interleave|node:N|nearest)"),
                "{line}"
            );
        } else if single {
            assert!(line.contains("no-op (single node)"), "{line}");
        }
    }
}

const PY: &str = r#"
import collections, json, random
random.seed(7)
d = {}
for i in range(200000):
    d["k%d" % i] = [i] * (i % 17) + [str(i) * (i % 5)]
s = sum(len(v) for v in d.values())
words = ["".join(random.choice("abcdefgh") for _ in range(random.randint(1, 30))) for _ in range(50000)]
c = collections.Counter(words)
blob = json.dumps(d)
back = json.loads(blob)
big = [bytearray(random.randint(1, 300000)) for _ in range(200)]
print(s, len(c), len(back) == len(d), sum(len(b) for b in big) > 0)
"#;

/// The python3 interpreter itself (not a wrapper script such as a pyenv shim, which would
/// run a shell under the preload too and slow the test down).
fn python() -> Option<String> {
    for p in ["python3", "/usr/bin/python3"] {
        if let Ok(out) = Command::new(p)
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
        {
            let exe = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !exe.is_empty() {
                return Some(exe);
            }
        }
    }
    None
}

#[test]
fn python_runs_under_ld_preload() {
    let py = python().expect("python3 is needed for this test");
    let want = Command::new(&py).arg("-c").arg(PY).output().unwrap();
    assert!(want.status.success());
    let got = preload(Command::new(&py).arg("-c").arg(PY));
    assert!(
        got.status.success(),
        "python under ebb failed: {:?}\n{}",
        got.status,
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&want.stdout)
    );
    assert!(String::from_utf8_lossy(&got.stdout).contains("True True"));
}

#[test]
fn bad_frees_abort_with_a_message() {
    use std::os::unix::process::ExitStatusExt;
    let bin = build_c("bad");
    for (arg, msg) in [
        ("invalid", "free(): invalid pointer"),
        ("interior", "free(): invalid pointer"),
        ("double", "free(): double free detected"),
        ("double_large", "free(): invalid pointer"),
        ("double_remote", "double free detected"),
        ("realloc_invalid", "realloc(): invalid pointer"),
    ] {
        let out = preload(Command::new(&bin).arg(arg));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{arg}: {:?}\n{stderr}",
            out.status
        );
        assert!(stderr.contains(msg), "{arg}: want {msg:?} in {stderr:?}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("survived"),
            "{arg}"
        );
    }
}

/// Loaded after startup with `dlopen` (`RTLD_LOCAL`, so the program's own `malloc` stays
/// glibc's): the heap's initial-exec thread-local word then comes from glibc's static-TLS
/// surplus. The library's functions, called through `ctypes` from the main thread and
/// from threads started after the load, must work and keep their contents.
const PY_DLOPEN: &str = r#"
import ctypes, sys, threading
lib = ctypes.CDLL(sys.argv[1])
lib.malloc.restype = ctypes.c_void_p
lib.malloc.argtypes = [ctypes.c_size_t]
lib.free.argtypes = [ctypes.c_void_p]
lib.malloc_usable_size.restype = ctypes.c_size_t
lib.malloc_usable_size.argtypes = [ctypes.c_void_p]
def work(seed, out):
    ps = []
    for i in range(2000):
        n = 1 + (seed * 7919 + i * 104729) % 5000
        p = lib.malloc(n)
        ctypes.memset(p, (seed + i) & 0xff, n)
        ps.append((p, n, (seed + i) & 0xff))
    ok = all(lib.malloc_usable_size(p) >= n and ctypes.string_at(p, n) == bytes([b]) * n
             for p, n, b in ps)
    for p, _, _ in ps:
        lib.free(p)
    out.append(ok)
res = []
work(1, res)
ts = [threading.Thread(target=work, args=(k, res)) for k in range(2, 6)]
for t in ts: t.start()
for t in ts: t.join()
print("dlopen", len(res), all(res))
"#;

#[test]
fn dlopen_after_startup_works() {
    let py = python().expect("python3 is needed for this test");
    let out = Command::new(&py)
        .arg("-c")
        .arg(PY_DLOPEN)
        .arg(library())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "dlopen 5 True");
}
