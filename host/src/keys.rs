//! Parsing account keys given on the command line: SS58 addresses or 0x-hex public keys.

use blake2::{Blake2b512, Digest};
use pow_seal::Bytes32;

/// Parses a 32-byte public key from an SS58 address (any network prefix) or 64 hex digits
/// (with or without `0x`).
pub fn parse_public_key(text: &str) -> Result<Bytes32, String> {
    let text = text.trim();
    if text.starts_with("0x") || text.starts_with("0X") {
        return pow_seal::parse_bytes32(text);
    }
    if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        return pow_seal::parse_bytes32(text);
    }
    decode_ss58(text)
}

/// Decodes an SS58 address carrying a 32-byte account id, checking its checksum.
pub fn decode_ss58(address: &str) -> Result<Bytes32, String> {
    let data = bs58::decode(address)
        .into_vec()
        .map_err(|e| format!("`{address}` is neither 0x-hex nor a valid SS58 address: {e}"))?;
    let prefix_len = match data.first() {
        Some(b) if *b < 64 => 1,
        Some(b) if *b < 128 => 2,
        _ => return Err(format!("`{address}` has an invalid SS58 prefix")),
    };
    if data.len() != prefix_len + 32 + 2 {
        return Err(format!(
            "`{address}` is not an SS58 address of a 32-byte public key ({} bytes decoded)",
            data.len()
        ));
    }
    let body = &data[..prefix_len + 32];
    let mut h = Blake2b512::new();
    h.update(b"SS58PRE");
    h.update(body);
    let digest = h.finalize();
    if digest[..2] != data[prefix_len + 32..] {
        return Err(format!("`{address}` has a bad SS58 checksum"));
    }
    Ok(body[prefix_len..].try_into().unwrap())
}

/// Encodes a public key as an SS58 address with the given network prefix (42 = generic
/// Substrate, used by Bittensor).
pub fn encode_ss58(key: &Bytes32, prefix: u16) -> String {
    let mut data = Vec::with_capacity(36);
    if prefix < 64 {
        data.push(prefix as u8);
    } else {
        data.push((((prefix & 0xfc) >> 2) as u8) | 0x40);
        data.push(((prefix >> 8) as u8) | (((prefix & 3) << 6) as u8));
    }
    data.extend_from_slice(key);
    let mut h = Blake2b512::new();
    h.update(b"SS58PRE");
    h.update(&data);
    let digest = h.finalize();
    data.extend_from_slice(&digest[..2]);
    bs58::encode(data).into_string()
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
        let err = parse_public_key(&bad).unwrap_err();
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
