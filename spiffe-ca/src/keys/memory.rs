//! [`MemoryKeyManager`]: keys that live as long as the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{CaKeyType, KeyManager, Signer, SoftSigner};
use crate::CaError;

/// Keeps keys in memory only; a restart loses them (and so the authority's identity).
#[derive(Debug, Default)]
pub struct MemoryKeyManager {
    keys: Mutex<HashMap<String, Arc<SoftSigner>>>,
}

impl MemoryKeyManager {
    /// An empty key manager.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyManager for MemoryKeyManager {
    fn generate(&self, id: &str, key_type: CaKeyType) -> Result<Arc<dyn Signer>, CaError> {
        let signer = Arc::new(SoftSigner::generate(key_type)?);
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), Arc::clone(&signer));
        Ok(signer)
    }

    fn get(&self, id: &str) -> Result<Option<Arc<dyn Signer>>, CaError> {
        Ok(self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .map(|s| Arc::clone(s) as Arc<dyn Signer>))
    }
}
