//! The compile-time shape of a kernel: the job layout it is specialised for and how it runs
//! Keccak.

use pow_backend_api::BackendError;

/// The compile-time shape of a job: blocks the kernel compresses, where the nonce starts in
/// them (negative when its first bytes lie in a block the host compresses), and the message
/// lengths that fix the padding, so the compiler folds every word the layout determines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Padded SHA-256 blocks compressed by the kernel (1 to 3).
    pub blocks: u32,
    /// Byte offset of the nonce relative to the kernel's first block.
    pub nonce_off: i32,
    /// Bytes of the message after the nonce.
    pub suffix_len: u32,
    /// Bytes of the whole message.
    pub message_len: u32,
}

impl Layout {
    /// Legacy and faucet seals: 40-byte message, nonce first.
    pub const LEGACY: Layout = Layout {
        blocks: 1,
        nonce_off: 0,
        suffix_len: 32,
        message_len: 40,
    };
    /// v1 with its canonical mapping (rotation 40): the host compresses the block holding the
    /// nonce's five constant low bytes.
    pub const V1: Layout = Layout {
        blocks: 1,
        nonce_off: -5,
        suffix_len: 0,
        message_len: 131,
    };
    /// v1 with the identity mapping.
    pub const V1_IDENTITY: Layout = Layout {
        blocks: 2,
        nonce_off: 59,
        suffix_len: 0,
        message_len: 131,
    };
    /// Layouts compiled ahead of time where a backend does that (CUDA PTX).
    pub const PREBUILT: [Layout; 3] = [Layout::LEGACY, Layout::V1, Layout::V1_IDENTITY];

    /// Where the message ends, relative to the kernel's first block (`POW_MSG_END`).
    pub fn message_end(&self) -> i32 {
        self.nonce_off + 8 + self.suffix_len as i32
    }

    /// Preprocessor definitions for this layout, as compiler options.
    pub fn defines(&self) -> Vec<String> {
        vec![
            format!("-DPOW_KERNEL_BLOCKS={}", self.blocks),
            format!("-DPOW_NONCE_OFF={}", self.nonce_off),
            format!("-DPOW_MSG_END={}", self.message_end()),
            format!("-DPOW_MSG_BITS={}", u64::from(self.message_len) * 8),
        ]
    }

    /// Preprocessor definitions for this layout built with a Keccak shape: what a backend
    /// passes to its compiler.
    pub fn defines_with(&self, keccak: KeccakShape) -> Vec<String> {
        let mut defines = self.defines();
        defines.extend(keccak.defines());
        defines
    }

    /// A short name usable in file names (`b1_o-5_s0_l131`).
    pub fn key(&self) -> String {
        format!(
            "b{}_o{}_s{}_l{}",
            self.blocks, self.nonce_off, self.suffix_len, self.message_len
        )
    }
}

/// How the kernel runs Keccak rounds 1 to 22 (option `keccak=loop|unrolled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeccakShape {
    /// A loop of one round (`POW_KECCAK_LOOP`): about 3 KB of code instead of 70 KB, at the
    /// cost of register moves between rounds.
    Loop,
    /// Fully unrolled: no moves, the compiler schedules across rounds.
    Unrolled,
}

impl KeccakShape {
    /// The shape named by option `keccak`, else `default`.
    pub fn from_options(
        options: &pow_backend_api::Options,
        default: KeccakShape,
    ) -> Result<KeccakShape, BackendError> {
        match options.get("keccak") {
            None => Ok(default),
            Some("loop") => Ok(KeccakShape::Loop),
            Some("unrolled") => Ok(KeccakShape::Unrolled),
            Some(other) => Err(BackendError::invalid(format!(
                "option `keccak` must be `loop` or `unrolled`, not `{other}`"
            ))),
        }
    }

    /// Compiler options that select this shape.
    pub fn defines(&self) -> Vec<String> {
        match self {
            KeccakShape::Loop => vec!["-DPOW_KECCAK_LOOP".to_string()],
            KeccakShape::Unrolled => Vec::new(),
        }
    }
}
