//! Which proof-of-work scheme a runtime speaks, decided from its metadata and spec version.

use pow_seal::SealOrder;

/// The parameter names of `SubtensorModule.register` in the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterFields(pub Vec<String>);

impl RegisterFields {
    /// True when the work parameters are named `_block_number`, `_nonce`, `_work`: the runtime
    /// ignores them and burns TAO instead.
    pub fn ignores_work(&self) -> bool {
        ["_block_number", "_nonce", "_work"]
            .iter()
            .any(|n| self.0.iter().any(|f| f == n))
    }
}

/// The registration calls a runtime offers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// `SubtensorModule.pow_register` exists.
    pub pow_register: bool,
    /// `SubtensorModule.register` exists, with these parameter names.
    pub register: Option<RegisterFields>,
    /// `SubtensorModule.faucet` exists.
    pub faucet: bool,
}

/// Spec version and capabilities of the chain's current runtime.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeInfo {
    /// `System.Version.spec_version`.
    pub spec_version: u32,
    /// Registration calls in the metadata.
    pub caps: Capabilities,
    /// Target block time in milliseconds (twice `Timestamp.MinimumPeriod`), when known.
    pub block_time_ms: Option<u64>,
}

/// The registration scheme to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `pow_register` with the v1 challenge, signed by the coldkey.
    V1,
    /// `register` with the legacy seal in this byte order, signed by the hotkey.
    Legacy(SealOrder),
}

impl Scheme {
    /// Short name for output.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::V1 => "v1",
            Scheme::Legacy(SealOrder::BigEndian) => "legacy-be",
            Scheme::Legacy(SealOrder::LittleEndian) => "legacy-le",
        }
    }
}

/// Why a runtime offers no proof-of-work registration (or faucet) pow-host can use; nothing is
/// sent. The messages are the ones the host prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeError {
    /// Neither `pow_register` nor `register`.
    #[error("runtime spec {spec} has neither SubtensorModule.pow_register nor register: it offers no proof-of-work registration")]
    NoRegistration {
        /// Spec version.
        spec: u32,
    },
    /// `register` ignores the work and burns TAO, and there is no `pow_register`.
    #[error("runtime spec {spec} has no SubtensorModule.pow_register, and its register ignores the proof of work \
             (parameters named _block_number, _nonce, _work) and burns TAO instead; not sending anything. \
             Use a burned registration (btcli subnets register) if that is what you want")]
    BurnsTao {
        /// Spec version.
        spec: u32,
    },
    /// Newer than the last runtime known to check the work in `register`.
    #[error("runtime spec {spec} is newer than the last runtime known to check the work in register ({LAST_POW_REGISTER_SPEC}) \
             and has no pow_register; refusing to send. If this private chain still checks the seal, pass --seal-order be|le")]
    TooNew {
        /// Spec version.
        spec: u32,
    },
    /// Between the last big-endian and the first little-endian spec: the seal order is unknown.
    #[error("runtime spec {spec} lies between {LAST_BIG_ENDIAN_SPEC} (big-endian seal) and {FIRST_LITTLE_ENDIAN_SPEC} (little-endian seal); \
             pass --seal-order be|le")]
    UnknownSealOrder {
        /// Spec version.
        spec: u32,
    },
    /// No `faucet` call.
    #[error("runtime spec {spec} has no SubtensorModule.faucet (it exists only on test and dev runtimes built with the pow-faucet feature)")]
    NoFaucet {
        /// Spec version.
        spec: u32,
    },
}

/// Last spec version whose `register` read the seal big-endian.
pub const LAST_BIG_ENDIAN_SPEC: u32 = 277;
/// First spec version whose `register` reads the seal little-endian.
pub const FIRST_LITTLE_ENDIAN_SPEC: u32 = 283;
/// Last spec version known to check the work in `register`.
pub const LAST_POW_REGISTER_SPEC: u32 = 394;

impl RuntimeInfo {
    /// Picks the scheme for a registration, or explains why none can be used. `seal_order`
    /// (from `--seal-order`) forces the legacy seal's byte order for private chains whose
    /// spec versions do not follow the public networks'.
    pub fn registration_scheme(
        &self,
        seal_order: Option<SealOrder>,
    ) -> Result<Scheme, SchemeError> {
        let spec = self.spec_version;
        if self.caps.pow_register {
            return Ok(Scheme::V1);
        }
        let Some(fields) = &self.caps.register else {
            return Err(SchemeError::NoRegistration { spec });
        };
        if fields.ignores_work() {
            return Err(SchemeError::BurnsTao { spec });
        }
        if let Some(order) = seal_order {
            return Ok(Scheme::Legacy(order));
        }
        if spec <= LAST_BIG_ENDIAN_SPEC {
            Ok(Scheme::Legacy(SealOrder::BigEndian))
        } else if (FIRST_LITTLE_ENDIAN_SPEC..=LAST_POW_REGISTER_SPEC).contains(&spec) {
            Ok(Scheme::Legacy(SealOrder::LittleEndian))
        } else if spec > LAST_POW_REGISTER_SPEC {
            Err(SchemeError::TooNew { spec })
        } else {
            Err(SchemeError::UnknownSealOrder { spec })
        }
    }

    /// Checks that the runtime offers `faucet`.
    pub fn faucet_available(&self) -> Result<(), SchemeError> {
        if self.caps.faucet {
            Ok(())
        } else {
            Err(SchemeError::NoFaucet {
                spec: self.spec_version,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(spec: u32, pow: bool, fields: Option<&[&str]>) -> RuntimeInfo {
        RuntimeInfo {
            spec_version: spec,
            caps: Capabilities {
                pow_register: pow,
                register: fields.map(|f| RegisterFields(f.iter().map(|s| s.to_string()).collect())),
                faucet: false,
            },
            block_time_ms: None,
        }
    }

    const CHECKED: &[&str] = &[
        "netuid",
        "block_number",
        "nonce",
        "work",
        "hotkey",
        "coldkey",
    ];
    const BURNED: &[&str] = &[
        "netuid",
        "_block_number",
        "_nonce",
        "_work",
        "hotkey",
        "_coldkey",
    ];

    /// The texts the host prints, word for word.
    #[test]
    fn refusal_messages() {
        let text = |spec, pow, fields| {
            info(spec, pow, fields)
                .registration_scheme(None)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            text(397, false, None),
            "runtime spec 397 has neither SubtensorModule.pow_register nor register: it offers no proof-of-work registration"
        );
        assert_eq!(
            text(397, false, Some(BURNED)),
            "runtime spec 397 has no SubtensorModule.pow_register, and its register ignores the proof of work \
             (parameters named _block_number, _nonce, _work) and burns TAO instead; not sending anything. \
             Use a burned registration (btcli subnets register) if that is what you want"
        );
        assert_eq!(
            text(400, false, Some(CHECKED)),
            "runtime spec 400 is newer than the last runtime known to check the work in register (394) \
             and has no pow_register; refusing to send. If this private chain still checks the seal, pass --seal-order be|le"
        );
        assert_eq!(
            text(280, false, Some(CHECKED)),
            "runtime spec 280 lies between 277 (big-endian seal) and 283 (little-endian seal); pass --seal-order be|le"
        );
        assert_eq!(
            info(218, false, Some(CHECKED))
                .faucet_available()
                .unwrap_err()
                .to_string(),
            "runtime spec 218 has no SubtensorModule.faucet (it exists only on test and dev runtimes built with the pow-faucet feature)"
        );
    }

    #[test]
    fn picks_scheme_by_metadata_and_spec() {
        assert_eq!(
            info(475, true, Some(BURNED)).registration_scheme(None),
            Ok(Scheme::V1)
        );
        assert_eq!(
            info(200, false, Some(CHECKED)).registration_scheme(None),
            Ok(Scheme::Legacy(SealOrder::BigEndian))
        );
        assert_eq!(
            info(277, false, Some(CHECKED)).registration_scheme(None),
            Ok(Scheme::Legacy(SealOrder::BigEndian))
        );
        assert_eq!(
            info(283, false, Some(CHECKED)).registration_scheme(None),
            Ok(Scheme::Legacy(SealOrder::LittleEndian))
        );
        assert_eq!(
            info(394, false, Some(CHECKED)).registration_scheme(None),
            Ok(Scheme::Legacy(SealOrder::LittleEndian))
        );
        assert!(info(280, false, Some(CHECKED))
            .registration_scheme(None)
            .is_err());
        assert!(info(400, false, Some(CHECKED))
            .registration_scheme(None)
            .is_err());
        assert_eq!(
            info(400, false, Some(CHECKED)).registration_scheme(Some(SealOrder::BigEndian)),
            Ok(Scheme::Legacy(SealOrder::BigEndian))
        );
        let e = info(397, false, Some(BURNED))
            .registration_scheme(None)
            .unwrap_err();
        assert_eq!(e, SchemeError::BurnsTao { spec: 397 });
        assert!(e.to_string().contains("burns TAO"), "{e}");
        // --seal-order never overrides a register that ignores the work.
        assert!(info(397, false, Some(BURNED))
            .registration_scheme(Some(SealOrder::LittleEndian))
            .is_err());
        assert!(info(397, false, None).registration_scheme(None).is_err());
    }
}
