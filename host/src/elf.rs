//! A structural check of a plugin file before it is handed to the dynamic loader.
//!
//! `dlopen` trusts the file it maps: a truncated library (an interrupted copy or download)
//! whose segments reach past the end of the file is mapped anyway, and the first touch of a
//! missing page kills the whole process with `SIGBUS`. So before loading, the host reads the
//! ELF header and the program headers and refuses a file that is not an ELF shared object for
//! this machine or whose segments, program header table or section header table do not lie
//! inside the file. Only the headers are read, never code.

use std::io::Read;
use std::path::Path;

/// `\x7fELF`.
const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
/// `e_type` of a shared object.
const ET_DYN: u16 = 3;

/// The ELF machine number of the architecture this host was built for, when known.
fn host_machine() -> Option<u16> {
    if cfg!(target_arch = "x86_64") {
        Some(62)
    } else if cfg!(target_arch = "aarch64") {
        Some(183)
    } else if cfg!(target_arch = "x86") {
        Some(3)
    } else if cfg!(target_arch = "arm") {
        Some(40)
    } else if cfg!(target_arch = "riscv64") || cfg!(target_arch = "riscv32") {
        Some(243)
    } else if cfg!(target_arch = "powerpc64") {
        Some(21)
    } else {
        None
    }
}

/// Field reader for one ELF class and byte order.
struct Reader<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Option<u64> {
        let b: [u8; 2] = self.bytes.get(at..at + 2)?.try_into().ok()?;
        Some(u64::from(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }))
    }

    fn u32(&self, at: usize) -> Option<u64> {
        let b: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }))
    }

    fn u64(&self, at: usize) -> Option<u64> {
        let b: [u8; 8] = self.bytes.get(at..at + 8)?.try_into().ok()?;
        Some(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }

    /// An address-sized field: 4 bytes in ELF32, 8 in ELF64.
    fn word(&self, at: usize, wide: bool) -> Option<u64> {
        if wide {
            self.u64(at)
        } else {
            self.u32(at)
        }
    }
}

/// Why a file must not be handed to the dynamic loader. Messages are one line.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// No `\x7fELF` magic.
    #[error("not a shared library (no ELF header)")]
    NoElfHeader,
    /// An ELF class other than 32 or 64 bits.
    #[error("not a valid ELF file (class {0})")]
    BadClass(u8),
    /// A byte order other than little or big endian.
    #[error("not a valid ELF file (byte order {0})")]
    BadByteOrder(u8),
    /// Built for another word size.
    #[error("built for {file}-bit machines; this host is {host}-bit")]
    WordSize {
        /// The file's word size.
        file: u32,
        /// The host's.
        host: u32,
    },
    /// Built for the other byte order.
    #[error("built for the other byte order than this machine's")]
    OtherByteOrder,
    /// The ELF header is cut short.
    #[error("truncated (incomplete ELF header)")]
    TruncatedHeader,
    /// An executable, object file or core dump rather than a shared object.
    #[error("not a shared library (ELF type {0}; a plugin is built with crate-type cdylib)")]
    NotSharedObject(u64),
    /// Built for another processor.
    #[error("built for another processor (ELF machine {file}; this host is {host})")]
    OtherMachine {
        /// The file's ELF machine number.
        file: u64,
        /// The host's.
        host: u16,
    },
    /// No program header table.
    #[error("not a valid shared library (no program headers)")]
    NoProgramHeaders,
    /// The program header table ends past the end of the file.
    #[error("truncated: its program headers end past the end of the file ({0} bytes)")]
    TruncatedProgramHeaders(u64),
    /// The section header table ends past the end of the file.
    #[error("truncated: its section headers end past the end of the file ({0} bytes)")]
    TruncatedSectionHeaders(u64),
    /// The program header table lies beyond the bytes read.
    #[error("not a usual shared library (program headers beyond the first {HEAD_LEN} bytes)")]
    ProgramHeadersTooFar,
    /// A segment ends past the end of the file.
    #[error(
        "truncated or corrupt: segment {index} ({size} bytes at offset {offset}) ends past the \
         end of the file ({file_len} bytes)"
    )]
    SegmentPastEnd {
        /// The segment's number.
        index: u64,
        /// Its size in the file.
        size: u64,
        /// Its offset in the file.
        offset: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A folder, FIFO or device rather than a file.
    #[error("not a regular file")]
    NotRegularFile,
    /// The file cannot be inspected or opened.
    #[error("{0}")]
    Io(std::io::Error),
    /// The file cannot be read.
    #[error("cannot be read: {0}")]
    Read(std::io::Error),
}

/// How much of the file is read: the ELF header and the program header table must lie in it
/// (they are at the start of every library a linker writes).
pub const HEAD_LEN: u64 = 64 * 1024;

/// Checks the headers of the ELF shared object in `bytes`, the first bytes (up to
/// [`HEAD_LEN`]) of a file of `file_len` bytes. Returns a one-line reason when the file must
/// not be loaded.
pub fn check_headers(bytes: &[u8], file_len: u64) -> Result<(), ElfError> {
    if bytes.len() < 16 || bytes[..4] != MAGIC {
        return Err(ElfError::NoElfHeader);
    }
    let wide = match bytes[4] {
        1 => false,
        2 => true,
        c => return Err(ElfError::BadClass(c)),
    };
    let little = match bytes[5] {
        1 => true,
        2 => false,
        d => return Err(ElfError::BadByteOrder(d)),
    };
    let host_wide = cfg!(target_pointer_width = "64");
    if wide != host_wide {
        return Err(ElfError::WordSize {
            file: if wide { 64 } else { 32 },
            host: if host_wide { 64 } else { 32 },
        });
    }
    if little != cfg!(target_endian = "little") {
        return Err(ElfError::OtherByteOrder);
    }
    let r = Reader { bytes, little };
    let e_type = r.u16(16).ok_or(ElfError::TruncatedHeader)?;
    let e_machine = r.u16(18).ok_or(ElfError::TruncatedHeader)?;
    if e_type != u64::from(ET_DYN) {
        return Err(ElfError::NotSharedObject(e_type));
    }
    if let Some(m) = host_machine() {
        if e_machine != u64::from(m) {
            return Err(ElfError::OtherMachine {
                file: e_machine,
                host: m,
            });
        }
    }
    // Offsets of e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum.
    let (phoff_at, shoff_at, sizes_at) = if wide { (32, 40, 54) } else { (28, 32, 42) };
    let phoff = r.word(phoff_at, wide).ok_or(ElfError::TruncatedHeader)?;
    let shoff = r.word(shoff_at, wide).ok_or(ElfError::TruncatedHeader)?;
    let phentsize = r.u16(sizes_at).ok_or(ElfError::TruncatedHeader)?;
    let phnum = r.u16(sizes_at + 2).ok_or(ElfError::TruncatedHeader)?;
    let shentsize = r.u16(sizes_at + 4).ok_or(ElfError::TruncatedHeader)?;
    let shnum = r.u16(sizes_at + 6).ok_or(ElfError::TruncatedHeader)?;
    let min_phentsize = if wide { 56 } else { 32 };
    if phnum == 0 || phentsize < min_phentsize {
        return Err(ElfError::NoProgramHeaders);
    }
    let table_end = |off: u64, size: u64, n: u64| off.checked_add(size * n);
    let ph_end = table_end(phoff, phentsize, phnum)
        .filter(|&end| end <= file_len)
        .ok_or(ElfError::TruncatedProgramHeaders(file_len))?;
    if shoff != 0 && shnum != 0 {
        table_end(shoff, shentsize, shnum)
            .filter(|&end| end <= file_len)
            .ok_or(ElfError::TruncatedSectionHeaders(file_len))?;
    }
    if ph_end > bytes.len() as u64 {
        return Err(ElfError::ProgramHeadersTooFar);
    }
    // Offsets of p_offset and p_filesz inside a program header.
    let (off_at, filesz_at) = if wide { (8, 32) } else { (4, 16) };
    for i in 0..phnum {
        let base = (phoff + i * phentsize) as usize;
        let p_offset = r
            .word(base + off_at, wide)
            .ok_or(ElfError::TruncatedHeader)?;
        let p_filesz = r
            .word(base + filesz_at, wide)
            .ok_or(ElfError::TruncatedHeader)?;
        if p_offset
            .checked_add(p_filesz)
            .is_none_or(|end| end > file_len)
        {
            return Err(ElfError::SegmentPastEnd {
                index: i,
                size: p_filesz,
                offset: p_offset,
                file_len,
            });
        }
    }
    Ok(())
}

/// Reads the headers of the file at `path` and checks them with [`check_headers`]. Refuses
/// anything that is not a regular file (a FIFO would block the host forever).
pub fn check_file(path: &Path) -> Result<(), ElfError> {
    let meta = std::fs::metadata(path).map_err(ElfError::Io)?;
    if !meta.is_file() {
        return Err(ElfError::NotRegularFile);
    }
    let file_len = meta.len();
    let file = std::fs::File::open(path).map_err(ElfError::Io)?;
    let mut head = Vec::new();
    file.take(HEAD_LEN)
        .read_to_end(&mut head)
        .map_err(ElfError::Read)?;
    check_headers(&head, file_len)
}

#[cfg(all(test, target_pointer_width = "64", target_endian = "little"))]
mod tests {
    use super::*;

    /// A minimal ELF64 shared object header for this host with one program header, whose
    /// segment is `filesz` bytes at `offset`; no section headers.
    fn header(offset: u64, filesz: u64) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(&MAGIC);
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&ET_DYN.to_le_bytes());
        b[18..20].copy_from_slice(&host_machine().unwrap_or(0).to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        b[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        b[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        b[64 + 8..64 + 16].copy_from_slice(&offset.to_le_bytes());
        b[64 + 32..64 + 40].copy_from_slice(&filesz.to_le_bytes());
        b
    }

    #[test]
    fn segments_must_lie_inside_the_file() {
        let h = header(0, 4096);
        check_headers(&h, 4096).unwrap();
        let err = check_headers(&h, 4095).unwrap_err().to_string();
        assert!(
            err.contains("segment 0") && err.contains("4095 bytes"),
            "{err}"
        );
        let err = check_headers(&header(u64::MAX, 2), 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated or corrupt"), "{err}");
    }

    #[test]
    fn other_files_are_named_for_what_they_are() {
        assert!(check_headers(b"#!/bin/sh\n", 10)
            .unwrap_err()
            .to_string()
            .contains("no ELF header"));
        let mut exe = header(0, 100);
        exe[16] = 2; // ET_EXEC
        assert!(check_headers(&exe, 4096)
            .unwrap_err()
            .to_string()
            .contains("ELF type 2"));
        let mut other = header(0, 100);
        other[18] = other[18].wrapping_add(1);
        other[19] = 0x7f;
        assert!(check_headers(&other, 4096)
            .unwrap_err()
            .to_string()
            .contains("another processor"));
        let mut narrow = header(0, 100);
        narrow[4] = 1;
        assert!(check_headers(&narrow, 4096)
            .unwrap_err()
            .to_string()
            .contains("32-bit"));
        let err = check_headers(&header(0, 100)[..80], 80)
            .unwrap_err()
            .to_string();
        assert!(err.contains("program headers end past"), "{err}");
    }
}
