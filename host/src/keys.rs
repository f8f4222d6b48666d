//! Parsing account keys given on the command line: SS58 addresses or 0x-hex public keys.

use pow_seal::Bytes32;
use pow_wallet::ss58::Ss58Error;

/// Why a text is not a public key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Hex, but not 32 bytes of it (the seal library's message).
    #[error(transparent)]
    Hex(#[from] pow_seal::HexError),
    /// Not a valid SS58 address.
    #[error(transparent)]
    Ss58(#[from] Ss58Error),
}

/// Parses a 32-byte public key from an SS58 address (any network prefix) or 64 hex digits
/// (with or without `0x`).
pub fn parse_public_key(text: &str) -> Result<Bytes32, KeyError> {
    let text = text.trim();
    let hex = text.starts_with("0x")
        || text.starts_with("0X")
        || (text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()));
    if hex {
        return pow_seal::parse_bytes32(text).map_err(KeyError::Hex);
    }
    Ok(decode_ss58(text)?)
}

/// Decodes an SS58 address carrying a 32-byte account id, checking its checksum (the
/// wallet crate's decoder).
pub fn decode_ss58(address: &str) -> Result<Bytes32, Ss58Error> {
    pow_wallet::ss58::decode(address)
}

/// Encodes a public key as an SS58 address with the given network prefix (42 = generic
/// Substrate, used by Bittensor).
pub fn encode_ss58(key: &Bytes32, prefix: u16) -> String {
    pow_wallet::ss58::encode(key, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const ALICE_HEX: &str = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";

    #[test]
    fn alice_round_trips() {
        let key = parse_public_key(ALICE).unwrap();
        assert_eq!(key, parse_public_key(ALICE_HEX).unwrap());
        assert_eq!(encode_ss58(&key, 42), ALICE);
    }

    #[test]
    fn bad_checksum_is_refused() {
        let mut bad = ALICE.to_string();
        bad.pop();
        bad.push('Z');
        let err = parse_public_key(&bad).unwrap_err().to_string();
        assert!(err.contains("checksum") || err.contains("SS58"), "{err}");
        assert!(parse_public_key("0x1234").is_err());
        assert!(parse_public_key("not-a-key!").is_err());
        assert!(parse_public_key("").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse_public_key(&s);
        }

        #[test]
        fn encode_decode(key in proptest::array::uniform32(0u8..), prefix in 0u16..16383) {
            proptest::prop_assert_eq!(decode_ss58(&encode_ss58(&key, prefix)).unwrap(), key);
        }
    }
}
