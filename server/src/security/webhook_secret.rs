//! The webhook passphrase, rotatable at run time: after a rotation the
//! previous passphrase keeps working until its grace window ends. Only
//! SHA-256 digests are kept, in memory and in the store.

use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a passphrase was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassphraseRefusal {
    Missing,
    Wrong,
}

/// The persisted form (hex digests).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretState {
    current: String,
    previous: Option<String>,
    previous_expire_ms: i64,
    /// The request_id of the rotation that produced `current`.
    request_id: Option<String>,
}

struct Digests {
    current: [u8; 32],
    previous: Option<([u8; 32], i64)>,
    request_id: Option<String>,
}

/// The passphrase checker.
pub struct WebhookSecret {
    digests: RwLock<Digests>,
}

/// A rotation's result.
pub struct Rotation {
    pub secret: String,
    pub previous_expire_ms: i64,
    pub state: SecretState,
}

impl WebhookSecret {
    /// From the configured passphrase, or from a stored rotation, which wins.
    pub fn new(configured: &str, stored: Option<SecretState>) -> Self {
        let secret = Self {
            digests: RwLock::new(Digests {
                current: Sha256::digest(configured.as_bytes()).into(),
                previous: None,
                request_id: None,
            }),
        };
        if let Some(state) = stored {
            secret.install(state);
        }
        secret
    }

    /// Compares in constant time against the current and, within its grace
    /// window, the previous passphrase.
    pub fn check(&self, candidate: Option<&str>, now_ms: i64) -> Result<(), PassphraseRefusal> {
        let candidate = candidate
            .filter(|c| !c.is_empty())
            .ok_or(PassphraseRefusal::Missing)?;
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        let Ok(digests) = self.digests.read() else {
            return Err(PassphraseRefusal::Wrong);
        };
        let current = bool::from(digest.ct_eq(&digests.current));
        let previous = digests
            .previous
            .is_some_and(|(old, expires)| now_ms < expires && bool::from(digest.ct_eq(&old)));
        if current || previous {
            Ok(())
        } else {
            Err(PassphraseRefusal::Wrong)
        }
    }

    /// The rotation that used `request_id`, if it was the last one.
    pub fn rotated_by(&self, request_id: &str) -> bool {
        self.digests
            .read()
            .is_ok_and(|d| d.request_id.as_deref() == Some(request_id))
    }

    /// A new random passphrase, with the current one valid for `grace_ms`
    /// more; nothing changes until the state is persisted and
    /// [`WebhookSecret::install`]ed.
    pub fn prepare_rotation(
        &self,
        grace_ms: i64,
        request_id: Option<String>,
        now_ms: i64,
    ) -> Rotation {
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let previous_expire_ms = now_ms.saturating_add(grace_ms);
        let current: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let previous = self.digests.read().ok().map(|d| hex::encode(d.current));
        Rotation {
            secret,
            previous_expire_ms,
            state: SecretState {
                current: hex::encode(current),
                previous,
                previous_expire_ms,
                request_id,
            },
        }
    }

    /// Puts a persisted state in force.
    pub fn install(&self, state: SecretState) {
        let Some(current) = decode(&state.current) else {
            return;
        };
        if let Ok(mut digests) = self.digests.write() {
            *digests = Digests {
                current,
                previous: state
                    .previous
                    .as_deref()
                    .and_then(decode)
                    .map(|d| (d, state.previous_expire_ms)),
                request_id: state.request_id,
            };
        }
    }
}

fn decode(digest: &str) -> Option<[u8; 32]> {
    hex::decode(digest).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_passphrase_for_the_grace_window() {
        let secret = WebhookSecret::new("old", None);
        assert_eq!(secret.check(Some("old"), 0), Ok(()));
        assert_eq!(secret.check(None, 0), Err(PassphraseRefusal::Missing));
        let rotation = secret.prepare_rotation(1000, None, 0);
        assert_eq!(
            secret.check(Some("old"), 5000),
            Ok(()),
            "not in force until installed"
        );
        secret.install(rotation.state.clone());
        assert_eq!(secret.check(Some(&rotation.secret), 0), Ok(()));
        assert_eq!(secret.check(Some("old"), 999), Ok(()));
        assert_eq!(
            secret.check(Some("old"), 1000),
            Err(PassphraseRefusal::Wrong)
        );
        let restored = WebhookSecret::new("ignored", Some(rotation.state));
        assert_eq!(restored.check(Some(&rotation.secret), 2000), Ok(()));
        assert_eq!(
            restored.check(Some("ignored"), 0),
            Err(PassphraseRefusal::Wrong)
        );
    }
}
