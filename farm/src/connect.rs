//! Connecting to the farm's NATS server: the URL (with user and password or a token in it),
//! a credentials file, a CA for TLS, and a clear error for each way it can fail.

use crate::error::FarmError;
use crate::protocol::{FarmName, Subjects};
use async_nats::{ConnectErrorKind, ConnectOptions, ServerAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How long the first connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to a farm: the client and the farm's subjects.
#[derive(Clone, Debug)]
pub struct FarmLink {
    /// The NATS client (it reconnects by itself).
    pub client: async_nats::Client,
    /// The farm's subjects.
    pub subjects: Subjects,
}

/// Where and how to reach a farm.
#[derive(Clone, Debug)]
pub struct FarmConnect {
    /// `nats://[USER:PASSWORD@|TOKEN@]HOST:PORT` (`tls://` for TLS).
    pub url: String,
    /// Farm name (subject namespace).
    pub name: FarmName,
    /// A NATS credentials file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// A CA certificate (PEM) to verify the server's TLS certificate with; TLS is then
    /// required.
    pub tls_ca: Option<PathBuf>,
}

impl FarmConnect {
    /// Checks the URL and the farm name.
    pub fn new(url: &str, name: &str) -> Result<FarmConnect, FarmError> {
        let farm = FarmConnect {
            url: url.to_string(),
            name: FarmName::new(name).map_err(FarmError::FarmName)?,
            creds: None,
            tls_ca: None,
        };
        farm.server()?;
        Ok(farm)
    }

    /// The farm's subjects.
    pub fn subjects(&self) -> Subjects {
        Subjects::new(&self.name)
    }

    /// The URL with any password or token replaced by `***`, for messages and logs.
    pub fn shown_url(&self) -> String {
        redact(&self.url)
    }

    fn server(&self) -> Result<ServerAddr, FarmError> {
        let bad = |reason: String| FarmError::BadUrl {
            url: self.shown_url(),
            reason,
        };
        let addr = ServerAddr::from_str(&self.url).map_err(|e| bad(e.to_string()))?;
        if addr.host().is_empty() {
            return Err(bad("no host".into()));
        }
        Ok(addr)
    }

    /// Connects (within [`CONNECT_TIMEOUT`]); once connected the client reconnects by itself
    /// for as long as it lives. `client_name` shows in the server's monitoring.
    pub async fn connect(&self, client_name: &str) -> Result<async_nats::Client, FarmError> {
        self.connect_watched(client_name, None).await
    }

    /// Connects (see [`FarmConnect::connect`]) and pairs the client with the subjects.
    pub async fn link(&self, client_name: &str) -> Result<FarmLink, FarmError> {
        Ok(FarmLink {
            client: self.connect(client_name).await?,
            subjects: self.subjects(),
        })
    }

    /// Like [`FarmConnect::connect`]; the connection's events (disconnected, connected
    /// again, ...) go to `events`.
    pub async fn connect_watched(
        &self,
        client_name: &str,
        events: Option<tokio::sync::mpsc::UnboundedSender<async_nats::Event>>,
    ) -> Result<async_nats::Client, FarmError> {
        let addr = self.server()?;
        // Who we are: a credentials file, else the URL's user and password (or token).
        let auth = match &self.creds {
            Some(path) => {
                let file_error = |reason: String| FarmError::File {
                    flag: "--farm.creds",
                    path: path.display().to_string(),
                    reason,
                };
                let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
                ConnectOptions::with_credentials(&text).map_err(|e| file_error(e.to_string()))?
            }
            None => match (addr.username(), addr.password()) {
                (Some(user), Some(pass)) => {
                    ConnectOptions::new().user_and_password(user.to_string(), pass.to_string())
                }
                (Some(token), None) => ConnectOptions::new().token(token.to_string()),
                _ => ConnectOptions::new(),
            },
        };
        let mut options = auth
            .name(client_name)
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(Duration::from_secs(2)))
            .max_reconnects(None);
        if let Some(ca) = &self.tls_ca {
            if let Err(e) = std::fs::metadata(ca) {
                return Err(FarmError::File {
                    flag: "--farm.tls-ca",
                    path: ca.display().to_string(),
                    reason: e.to_string(),
                });
            }
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some(tx) = events {
            options = options.event_callback(move |e| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(e);
                }
            });
        }
        let url = self.shown_url();
        async_nats::connect_with_options(addr, options)
            .await
            .map_err(|e| match e.kind() {
                ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                    FarmError::Credentials {
                        url,
                        reason: e.to_string(),
                    }
                }
                ConnectErrorKind::ServerParse => FarmError::BadUrl {
                    url,
                    reason: e.to_string(),
                },
                _ => FarmError::Unreachable {
                    url,
                    reason: e.to_string(),
                },
            })
    }
}

/// `url` with the password (or a lone user, which NATS reads as a token) replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            format!("{scheme}://{shown}@{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_urls_are_hidden() {
        assert_eq!(redact("nats://a:s3cret@h:4222"), "nats://a:***@h:4222");
        assert_eq!(redact("nats://tok3n@h:4222"), "nats://***@h:4222");
        assert_eq!(redact("nats://h:4222"), "nats://h:4222");
        assert_eq!(redact("h:4222"), "h:4222");
    }

    #[test]
    fn malformed_urls_and_names_are_usage_errors() {
        for url in ["http://h:4222", "nats://", "nats://h:notaport"] {
            let e = FarmConnect::new(url, "f").unwrap_err();
            assert!(e.is_usage(), "{url}: {e}");
        }
        let e = FarmConnect::new("nats://u:pw@h:99999", "f").unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        assert!(FarmConnect::new("nats://h:4222", "a.b")
            .unwrap_err()
            .is_usage());
        assert!(FarmConnect::new("nats://127.0.0.1:4222", "farm-1").is_ok());
    }
}
