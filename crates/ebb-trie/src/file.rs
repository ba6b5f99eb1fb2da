//! A file form of [`PathMap`]: written once, opened read-only through `memmap2` and
//! queried in place, without building any `Arc` node.
//!
//! # Format (all integers little-endian)
//!
//! ```text
//! header, 48 bytes:
//!   magic     8  b"EBBTRIE1"
//!   version   4  1
//!   flags     4  0 (reserved)
//!   body_len  8  bytes after the header
//!   root      8  offset of the root node in the body, or u64::MAX for an empty map
//!   entries   8  number of values
//!   checksum  8  FNV-1a 64 over the header (this field as zero) and the body
//! body: nodes in post-order (children before their parent), each
//!   tag       1  bit 0: has a value; bits 1-2: 0 no children, 1 list, 2 bitmap
//!   plen      varint (LEB128, at most 5 bytes)   prefix length
//!   prefix    plen bytes
//!   [vlen varint, value vlen bytes]              if it has a value
//!   list:   n-1 (1 byte), n key bytes ascending, n child offsets (u32)
//!   bitmap: 32 bytes (bit b of byte b/8 set iff byte b has a child), one u32 offset
//!           per set bit in ascending byte order
//! ```
//!
//! Every child offset is smaller than its parent's offset, so every walk down the file
//! ends. A reader checks every length and offset before it reads, so a corrupt file yields
//! a [`FileError`], never a read out of bounds or a panic; [`FileTrie::open`] also checks
//! the checksum, which detects every single-byte change, so a file that opens answers
//! correctly or (for damage the checksum misses, with probability about 2^-64) with an
//! error.

use crate::map::PathMap;
use crate::node::Node;
use std::fmt;
use std::path::Path;

const MAGIC: &[u8; 8] = b"EBBTRIE1";
const VERSION: u32 = 1;
const HEADER: usize = 48;
const EMPTY_ROOT: u64 = u64::MAX;

/// Why a trie file could not be written, opened or read.
#[derive(Debug)]
pub enum FileError {
    /// The operating system refused a read, write or map.
    Io(std::io::Error),
    /// The file is shorter than its header.
    TooShort {
        /// Its length.
        len: usize,
    },
    /// The file does not start with the magic bytes.
    BadMagic,
    /// A version this reader does not know.
    UnsupportedVersion(u32),
    /// The header's body length disagrees with the file's length.
    LengthMismatch {
        /// The length the header promises.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// The checksum does not match the contents.
    ChecksumMismatch,
    /// A node or offset that cannot be valid.
    Corrupt {
        /// The body offset where the problem was found.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// A value's bytes do not decode as the requested type.
    BadValue {
        /// The body offset of the node holding it.
        offset: u64,
    },
    /// The trie does not fit the format (a body over 4 GiB).
    TooLarge,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io(e) => write!(f, "i/o error: {e}"),
            FileError::TooShort { len } => {
                write!(f, "file of {len} bytes is shorter than the header")
            }
            FileError::BadMagic => write!(f, "not an ebb-trie file (bad magic)"),
            FileError::UnsupportedVersion(v) => write!(f, "unsupported trie file version {v}"),
            FileError::LengthMismatch { expected, actual } => {
                write!(f, "body is {actual} bytes, header says {expected}")
            }
            FileError::ChecksumMismatch => write!(f, "checksum mismatch"),
            FileError::Corrupt { offset, what } => write!(f, "corrupt node at {offset}: {what}"),
            FileError::BadValue { offset } => write!(f, "undecodable value in node at {offset}"),
            FileError::TooLarge => write!(f, "trie too large for the file format"),
        }
    }
}

impl std::error::Error for FileError {}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> Self {
        FileError::Io(e)
    }
}

/// A value type with a byte encoding for the file form.
pub trait FileValue: Sized {
    /// Appends the encoding of `self`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Decodes a value from exactly `bytes`, or `None` if they are not an encoding.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

macro_rules! int_file_value {
    ($($t:ty)*) => {$(
        impl FileValue for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn decode(bytes: &[u8]) -> Option<Self> {
                Some(<$t>::from_le_bytes(bytes.try_into().ok()?))
            }
        }
    )*};
}
int_file_value!(u8 u16 u32 u64 i8 i16 i32 i64);

impl FileValue for () {
    fn encode(&self, _: &mut Vec<u8>) {}
    fn decode(bytes: &[u8]) -> Option<()> {
        bytes.is_empty().then_some(())
    }
}

impl FileValue for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Option<Vec<u8>> {
        Some(bytes.to_vec())
    }
}

/// FNV-1a, 64-bit.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    let mut h = h;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn checksum(header: &[u8], body: &[u8]) -> u64 {
    let mut h = fnv(FNV_START, &header[..40]);
    h = fnv(h, &[0; 8]);
    fnv(h, body)
}

fn put_varint(out: &mut Vec<u8>, mut x: u32) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

// === writing ===

fn encode_node<V: FileValue>(n: &Node<V>, body: &mut Vec<u8>) -> Result<u32, FileError> {
    let mut kids: Vec<(u8, u32)> = Vec::with_capacity(n.kid_count());
    for (b, c) in n.kids() {
        kids.push((b, encode_node(c, body)?));
    }
    let at = u32::try_from(body.len()).map_err(|_| FileError::TooLarge)?;
    let kind: u8 = match kids.len() {
        0 => 0,
        1..=24 => 1,
        _ => 2,
    };
    body.push(u8::from(n.value().is_some()) | (kind << 1));
    let p = n.prefix();
    put_varint(
        body,
        u32::try_from(p.len()).map_err(|_| FileError::TooLarge)?,
    );
    body.extend_from_slice(p);
    if let Some(v) = n.value() {
        let mut enc = Vec::new();
        v.encode(&mut enc);
        put_varint(
            body,
            u32::try_from(enc.len()).map_err(|_| FileError::TooLarge)?,
        );
        body.extend_from_slice(&enc);
    }
    match kind {
        1 => {
            body.push((kids.len() - 1) as u8);
            body.extend(kids.iter().map(|(b, _)| *b));
        }
        2 => {
            let mut bits = [0u8; 32];
            for (b, _) in &kids {
                bits[(*b >> 3) as usize] |= 1 << (*b & 7);
            }
            body.extend_from_slice(&bits);
        }
        _ => {}
    }
    for (_, o) in &kids {
        body.extend_from_slice(&o.to_le_bytes());
    }
    if body.len() > u32::MAX as usize {
        return Err(FileError::TooLarge);
    }
    Ok(at)
}

impl<V: FileValue> PathMap<V> {
    /// The file form of this map, as bytes.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, FileError> {
        let mut body = Vec::new();
        let root = match &self.root {
            None => EMPTY_ROOT,
            Some(r) => u64::from(encode_node(r, &mut body)?),
        };
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&root.to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        let sum = checksum(&out, &body);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Writes the file form of this map to `path` (replacing it).
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<(), FileError> {
        std::fs::write(path, self.to_file_bytes()?)?;
        Ok(())
    }
}

// === reading ===

enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// A trie file opened read-only; see the [module documentation](self).
///
/// ```
/// use ebb_trie::{PathMap, file::FileTrie};
/// let m: PathMap<u64> = [(&b"ab"[..], 1), (b"ac", 2)].into_iter().collect();
/// let f = FileTrie::from_bytes(m.to_file_bytes().unwrap()).unwrap();
/// assert_eq!(f.get::<u64>(b"ac").unwrap(), Some(2));
/// assert_eq!(f.get::<u64>(b"a").unwrap(), None);
/// ```
pub struct FileTrie {
    data: Backing,
    root: u64,
    entries: u64,
}

/// One parsed node of a file.
struct FNode<'a> {
    prefix: &'a [u8],
    value: Option<&'a [u8]>,
    kind: u8,
    /// List: the key bytes; bitmap: the 32 bitmap bytes.
    index: &'a [u8],
    /// The child offsets, 4 bytes each.
    offsets: &'a [u8],
}

struct Cursor<'a> {
    body: &'a [u8],
    pos: usize,
    node: u64,
}

impl<'a> Cursor<'a> {
    fn bad(&self, what: &'static str) -> FileError {
        FileError::Corrupt {
            offset: self.node,
            what,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], FileError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.body.len())
            .ok_or_else(|| self.bad("runs past the end of the file"))?;
        let s = &self.body[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn byte(&mut self) -> Result<u8, FileError> {
        Ok(self.take(1)?[0])
    }
    fn varint(&mut self) -> Result<usize, FileError> {
        let mut x: u64 = 0;
        for i in 0..5 {
            let b = self.byte()?;
            x |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(x)
                    .map(|v| v as usize)
                    .map_err(|_| self.bad("varint overflows 32 bits"));
            }
        }
        Err(self.bad("varint longer than 5 bytes"))
    }
}

impl FileTrie {
    /// Maps the file at `path` and checks its header and checksum.
    pub fn open(path: impl AsRef<Path>) -> Result<FileTrie, FileError> {
        let f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        if len < HEADER as u64 {
            return Err(FileError::TooShort { len: len as usize });
        }
        // SAFETY: the map is read-only and private to this value. Another process
        // truncating or rewriting the file while it is mapped could change the bytes
        // under it (or fault, on truncation); the file form is meant for files that are
        // written once and not changed while read, as the type documents. Every read
        // through the map is bounds-checked against its length at open.
        let map = unsafe { memmap2::Mmap::map(&f)? };
        FileTrie::parse(Backing::Mapped(map), true)
    }

    /// Checks `bytes` (a file's contents) as [`open`](Self::open) does and wraps them.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<FileTrie, FileError> {
        FileTrie::parse(Backing::Owned(bytes), true)
    }

    /// Like [`from_bytes`](Self::from_bytes) but without the checksum check, so that
    /// tests can reach the per-node checks with corrupt input. Reads stay in bounds;
    /// answers may be wrong.
    #[doc(hidden)]
    pub fn from_bytes_unchecked_sum(bytes: Vec<u8>) -> Result<FileTrie, FileError> {
        FileTrie::parse(Backing::Owned(bytes), false)
    }

    fn bytes(&self) -> &[u8] {
        match &self.data {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    fn parse(data: Backing, verify: bool) -> Result<FileTrie, FileError> {
        let b: &[u8] = match &data {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        };
        if b.len() < HEADER {
            return Err(FileError::TooShort { len: b.len() });
        }
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if &b[..8] != MAGIC {
            return Err(FileError::BadMagic);
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(FileError::UnsupportedVersion(version));
        }
        let body_len = u64_at(16);
        let actual = (b.len() - HEADER) as u64;
        if body_len != actual {
            return Err(FileError::LengthMismatch {
                expected: body_len,
                actual,
            });
        }
        let (root, entries, sum) = (u64_at(24), u64_at(32), u64_at(40));
        if verify && checksum(&b[..HEADER], &b[HEADER..]) != sum {
            return Err(FileError::ChecksumMismatch);
        }
        if root != EMPTY_ROOT && root >= body_len {
            return Err(FileError::Corrupt {
                offset: root,
                what: "root offset outside the body",
            });
        }
        Ok(FileTrie {
            data,
            root,
            entries,
        })
    }

    fn body(&self) -> &[u8] {
        &self.bytes()[HEADER..]
    }

    /// The number of values, as the header records it.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Whether the file holds no value.
    pub fn is_empty(&self) -> bool {
        self.root == EMPTY_ROOT
    }

    fn node(&self, off: u64) -> Result<FNode<'_>, FileError> {
        let body = self.body();
        let mut c = Cursor {
            body,
            pos: usize::try_from(off).map_err(|_| FileError::TooLarge)?,
            node: off,
        };
        if c.pos >= body.len() {
            return Err(c.bad("node offset outside the body"));
        }
        let tag = c.byte()?;
        if tag & !0b111 != 0 {
            return Err(c.bad("unknown tag bits"));
        }
        let kind = tag >> 1;
        let plen = c.varint()?;
        let prefix = c.take(plen)?;
        let value = if tag & 1 != 0 {
            let vlen = c.varint()?;
            Some(c.take(vlen)?)
        } else {
            None
        };
        let (index, n) = match kind {
            0 => (&[][..], 0),
            1 => {
                let n = usize::from(c.byte()?) + 1;
                let keys = c.take(n)?;
                if keys.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(c.bad("child keys not ascending"));
                }
                (keys, n)
            }
            2 => {
                let bits = c.take(32)?;
                let n = bits.iter().map(|x| x.count_ones() as usize).sum();
                (bits, n)
            }
            _ => return Err(c.bad("unknown child-table kind")),
        };
        if value.is_none() && n == 0 {
            return Err(c.bad("node with neither value nor children"));
        }
        let offsets = c.take(n * 4)?;
        Ok(FNode {
            prefix,
            value,
            kind,
            index,
            offsets,
        })
    }

    /// The body offset of child `rank`, checked to lie before its parent at `parent`.
    fn child_at(&self, n: &FNode<'_>, rank: usize, parent: u64) -> Result<u64, FileError> {
        let o = u64::from(u32::from_le_bytes(
            n.offsets[rank * 4..rank * 4 + 4]
                .try_into()
                .expect("4 bytes"),
        ));
        if o >= parent {
            return Err(FileError::Corrupt {
                offset: parent,
                what: "child offset not before its parent",
            });
        }
        Ok(o)
    }

    fn child(&self, n: &FNode<'_>, b: u8, parent: u64) -> Result<Option<u64>, FileError> {
        let rank = match n.kind {
            1 => n.index.iter().position(|&k| k == b),
            2 => {
                let (w, bit) = ((b >> 3) as usize, 1u8 << (b & 7));
                (n.index[w] & bit != 0).then(|| {
                    n.index[..w]
                        .iter()
                        .map(|x| x.count_ones() as usize)
                        .sum::<usize>()
                        + (n.index[w] & (bit - 1)).count_ones() as usize
                })
            }
            _ => None,
        };
        rank.map(|r| self.child_at(n, r, parent)).transpose()
    }

    /// The raw bytes of the value at `key`, borrowed from the file.
    pub fn get_bytes(&self, key: impl AsRef<[u8]>) -> Result<Option<&[u8]>, FileError> {
        if self.root == EMPTY_ROOT {
            return Ok(None);
        }
        let mut key = key.as_ref();
        let mut off = self.root;
        loop {
            let n = self.node(off)?;
            let Some(rest) = key.strip_prefix(n.prefix) else {
                return Ok(None);
            };
            match rest.split_first() {
                None => return Ok(n.value),
                Some((&b, tail)) => match self.child(&n, b, off)? {
                    None => return Ok(None),
                    Some(c) => {
                        off = c;
                        key = tail;
                    }
                },
            }
        }
    }

    /// The value at `key`, decoded.
    pub fn get<V: FileValue>(&self, key: impl AsRef<[u8]>) -> Result<Option<V>, FileError> {
        let key = key.as_ref();
        match self.get_bytes(key)? {
            None => Ok(None),
            Some(b) => V::decode(b)
                .map(Some)
                .ok_or(FileError::BadValue { offset: self.root }),
        }
    }

    /// Calls `f` on every entry in key order, with the value's raw bytes. Walks with an
    /// explicit stack, so a crafted file with a very deep chain of nodes cannot overflow
    /// the call stack.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) -> Result<(), FileError> {
        if self.root == EMPTY_ROOT {
            return Ok(());
        }
        // (node offset, path length before its prefix, the byte that led to it)
        let mut stack: Vec<(u64, usize, Option<u8>)> = vec![(self.root, 0, None)];
        let mut path = Vec::new();
        while let Some((off, base, byte)) = stack.pop() {
            let n = self.node(off)?;
            path.truncate(base);
            if let Some(b) = byte {
                path.push(b);
            }
            path.extend_from_slice(n.prefix);
            if let Some(v) = n.value {
                f(&path, v);
            }
            let keys: Vec<u8> = match n.kind {
                1 => n.index.to_vec(),
                2 => (0..=255u8)
                    .filter(|&b| n.index[(b >> 3) as usize] & (1 << (b & 7)) != 0)
                    .collect(),
                _ => Vec::new(),
            };
            // Pushed in reverse so that the smallest byte is visited first.
            for (r, b) in keys.into_iter().enumerate().rev() {
                stack.push((self.child_at(&n, r, off)?, path.len(), Some(b)));
            }
        }
        Ok(())
    }

    /// Builds an in-memory [`PathMap`] with the file's contents.
    pub fn to_map<V: FileValue + Clone>(&self) -> Result<PathMap<V>, FileError> {
        let mut m = PathMap::new();
        let mut bad = None;
        self.for_each(|k, v| match V::decode(v) {
            Some(v) => {
                m.insert(k, v);
            }
            None => bad = Some(FileError::BadValue { offset: 0 }),
        })?;
        match bad {
            Some(e) => Err(e),
            None => Ok(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PathMap<u64> {
        let mut m: PathMap<u64> = (0u64..300).map(|i| (format!("k{i}"), i)).collect();
        m.insert(b"", 7);
        m.insert(b"a long key that does not fit inline anywhere", 9);
        m
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let f = FileTrie::from_bytes(m.to_file_bytes().unwrap()).unwrap();
        assert_eq!(f.len(), m.len() as u64);
        for (k, v) in m.iter() {
            assert_eq!(f.get::<u64>(&k).unwrap(), Some(*v));
        }
        assert_eq!(f.get::<u64>(b"k").unwrap(), None);
        assert_eq!(f.get::<u64>(b"k3000").unwrap(), None);
        assert_eq!(f.to_map::<u64>().unwrap(), m);
        assert!(matches!(
            f.get::<u32>(b"k1"),
            Err(FileError::BadValue { .. })
        ));
        let empty = FileTrie::from_bytes(PathMap::<u64>::new().to_file_bytes().unwrap()).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.get::<u64>(b"").unwrap(), None);
    }

    #[test]
    fn header_damage_is_refused() {
        let bytes = sample().to_file_bytes().unwrap();
        assert!(matches!(
            FileTrie::from_bytes(bytes[..20].to_vec()),
            Err(FileError::TooShort { len: 20 })
        ));
        let mut b = bytes.clone();
        b[0] ^= 1;
        assert!(matches!(FileTrie::from_bytes(b), Err(FileError::BadMagic)));
        let mut b = bytes.clone();
        b[8] = 9;
        assert!(matches!(
            FileTrie::from_bytes(b),
            Err(FileError::UnsupportedVersion(9))
        ));
        assert!(matches!(
            FileTrie::from_bytes(bytes[..bytes.len() - 1].to_vec()),
            Err(FileError::LengthMismatch { .. })
        ));
        let mut b = bytes.clone();
        let last = b.len() - 1;
        b[last] ^= 0x40;
        assert!(matches!(
            FileTrie::from_bytes(b),
            Err(FileError::ChecksumMismatch)
        ));
    }

    #[test]
    fn cycles_are_refused() {
        // A list node whose only child offset points at itself.
        let mut body = vec![0b11, 0, 0, 0, b'a'];
        body.extend_from_slice(&0u32.to_le_bytes());
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        let sum = checksum(&out, &body);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&body);
        let f = FileTrie::from_bytes(out).unwrap();
        assert_eq!(f.get_bytes(b"").unwrap(), Some(&[][..]));
        assert!(matches!(f.get_bytes(b"aa"), Err(FileError::Corrupt { .. })));
        assert!(f.for_each(|_, _| {}).is_err());
    }
}
