//! Secrets at rest: AES-256-GCM under the master key, with the secret's slot
//! (workspace, kind, key, field) as associated data so a sealed value cannot be moved.

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use runagents_domain::Secret;

use crate::Error;

/// The 32-byte master key. Its `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::Backend("no system randomness".into()))?;
        Ok(MasterKey(bytes))
    }

    /// Reads the base64 text form (as written by `to_base64`, or given in the environment).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "master key must be base64".to_owned())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "master key must be 32 bytes (44 base64 characters)".to_owned())?;
        Ok(MasterKey(bytes))
    }

    /// A key for another purpose (e.g. signing decision links), derived as
    /// HMAC-SHA256(master, purpose): stable across restarts and shared by every replica that
    /// shares the master key, without storing another secret.
    pub fn derive(&self, purpose: &str) -> runagents_domain::Secret {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let tag = ring::hmac::sign(&key, purpose.as_bytes());
        runagents_domain::Secret::new(
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
        )
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl Sealer {
    pub fn new(master: &MasterKey) -> Self {
        // AES_256_GCM takes exactly 32 bytes, which MasterKey guarantees.
        let unbound = UnboundKey::new(&AES_256_GCM, &master.0)
            .unwrap_or_else(|_| unreachable!("32-byte key"));
        Sealer {
            key: LessSafeKey::new(unbound),
            random: SystemRandom::new(),
        }
    }

    pub fn seal(&self, slot: &str, secret: &Secret) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| Error::Backend("no system randomness".into()))?;
        let mut data = secret.expose().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(slot.as_bytes()),
                &mut data,
            )
            .map_err(|_| Error::Backend("sealing failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(sealed)
    }

    pub fn open(&self, slot: &str, sealed: &[u8]) -> Result<Secret, Error> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Unseal)?;
        let mut data = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(slot.as_bytes()), &mut data)
            .map_err(|_| Error::Unseal)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| Error::Unseal)
    }
}

/// The associated data binding a sealed value to its place.
pub(crate) fn slot(workspace: &str, kind: &str, key: &str, field: &str) -> String {
    format!("{workspace}\0{kind}\0{key}\0{field}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_slot_binding() {
        let sealer = Sealer::new(&MasterKey::generate().unwrap());
        let sealed = sealer.seal("a", &Secret::new("sk_live_1")).unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"sk_live_1"));
        assert_eq!(sealer.open("a", &sealed).unwrap().expose(), "sk_live_1");
        assert!(matches!(sealer.open("b", &sealed), Err(Error::Unseal)));
        let other = Sealer::new(&MasterKey::generate().unwrap());
        assert!(matches!(other.open("a", &sealed), Err(Error::Unseal)));
    }

    #[test]
    fn base64_form() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.0, again.0);
        assert!(MasterKey::from_base64("short").is_err());
        assert_eq!(format!("{key:?}"), "MasterKey(***)");
    }
}
