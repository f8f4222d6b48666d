//! SS58 addresses of 32-byte account ids.

use blake2::{Blake2b512, Digest};

/// Why a text is not an SS58 address of a 32-byte key. Messages quote the address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ss58Error {
    /// Not base58 at all.
    #[error("`{address}` is not a valid SS58 address: {detail}")]
    NotBase58 {
        /// The text given.
        address: String,
        /// The base58 decoder's reason.
        detail: String,
    },
    /// Empty, or a reserved prefix byte (128 and above).
    #[error("`{address}` has an invalid SS58 prefix")]
    BadPrefix {
        /// The text given.
        address: String,
    },
    /// Decodes to the wrong number of bytes for a 32-byte key.
    #[error(
        "`{address}` is not an SS58 address of a 32-byte public key ({decoded} bytes decoded)"
    )]
    BadLength {
        /// The text given.
        address: String,
        /// Bytes decoded.
        decoded: usize,
    },
    /// The checksum does not match.
    #[error("`{address}` has a bad SS58 checksum")]
    BadChecksum {
        /// The text given.
        address: String,
    },
}

fn checksum(body: &[u8]) -> [u8; 2] {
    let mut h = Blake2b512::new();
    h.update(b"SS58PRE");
    h.update(body);
    let d = h.finalize();
    [d[0], d[1]]
}

/// Encodes a public key as an SS58 address with the given network prefix (42 for Bittensor).
pub fn encode(key: &[u8; 32], prefix: u16) -> String {
    let mut data = Vec::with_capacity(36);
    if prefix < 64 {
        data.push(prefix as u8);
    } else {
        data.push((((prefix & 0xfc) >> 2) as u8) | 0x40);
        data.push(((prefix >> 8) as u8) | (((prefix & 3) << 6) as u8));
    }
    data.extend_from_slice(key);
    let c = checksum(&data);
    data.extend_from_slice(&c);
    bs58::encode(data).into_string()
}

/// Decodes an SS58 address of a 32-byte key (any prefix), checking its checksum.
pub fn decode(address: &str) -> Result<[u8; 32], Ss58Error> {
    let data = bs58::decode(address)
        .into_vec()
        .map_err(|e| Ss58Error::NotBase58 {
            address: address.to_string(),
            detail: e.to_string(),
        })?;
    let prefix_len = match data.first() {
        Some(b) if *b < 64 => 1,
        Some(b) if *b < 128 => 2,
        _ => {
            return Err(Ss58Error::BadPrefix {
                address: address.to_string(),
            })
        }
    };
    if data.len() != prefix_len + 34 {
        return Err(Ss58Error::BadLength {
            address: address.to_string(),
            decoded: data.len(),
        });
    }
    let (body, sum) = data.split_at(prefix_len + 32);
    if checksum(body) != sum {
        return Err(Ss58Error::BadChecksum {
            address: address.to_string(),
        });
    }
    Ok(body[prefix_len..].try_into().expect("32 bytes"))
}
