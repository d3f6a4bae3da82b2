//! [`SvidPicker`]: which of several X509-SVIDs a source presents.

use std::fmt;
use std::sync::Arc;

use spiffe_core::{SourceError, SpiffeId, X509Svid};

/// A custom choice among SVIDs.
pub type PickFn = dyn Fn(&[Arc<X509Svid>]) -> Option<Arc<X509Svid>> + Send + Sync;

/// Chooses the SVID to present among those the Workload API gave (SPIFFE_Workload_API.md 8).
#[derive(Clone, Default)]
pub enum SvidPicker {
    /// The default identity: the first SVID.
    #[default]
    Default,
    /// The first SVID with this SPIFFE ID.
    Id(SpiffeId),
    /// The first SVID with this hint (the standard says the first wins on a repeat).
    Hint(String),
    /// A function's choice.
    Custom(Arc<PickFn>),
}

impl fmt::Debug for SvidPicker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SvidPicker::Default => f.write_str("Default"),
            SvidPicker::Id(id) => f.debug_tuple("Id").field(id).finish(),
            SvidPicker::Hint(hint) => f.debug_tuple("Hint").field(hint).finish(),
            SvidPicker::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl SvidPicker {
    /// Picks with a function.
    pub fn custom(
        pick: impl Fn(&[Arc<X509Svid>]) -> Option<Arc<X509Svid>> + Send + Sync + 'static,
    ) -> Self {
        SvidPicker::Custom(Arc::new(pick))
    }

    /// The chosen SVID, or why there is none (naming what was wanted and what there is).
    ///
    /// # Errors
    ///
    /// [`SourceError`] naming the wanted SVID if none matches.
    pub fn pick(&self, svids: &[Arc<X509Svid>]) -> Result<Arc<X509Svid>, SourceError> {
        let found = match self {
            SvidPicker::Default => svids.first().cloned(),
            SvidPicker::Id(id) => svids.iter().find(|s| s.spiffe_id() == id).cloned(),
            SvidPicker::Hint(hint) => svids
                .iter()
                .find(|s| s.hint() == Some(hint.as_str()))
                .cloned(),
            SvidPicker::Custom(pick) => pick(svids),
        };
        found.ok_or_else(|| {
            let have: Vec<String> = svids
                .iter()
                .map(|s| match s.hint() {
                    Some(h) => format!("{} (hint {h:?})", s.spiffe_id()),
                    None => s.spiffe_id().to_string(),
                })
                .collect();
            let wanted = match self {
                SvidPicker::Default => "any SVID".to_owned(),
                SvidPicker::Id(id) => format!("an SVID for {id}"),
                SvidPicker::Hint(h) => format!("an SVID with hint {h:?}"),
                SvidPicker::Custom(_) => "an SVID chosen by the custom picker".to_owned(),
            };
            SourceError::NoSvid(format!("wanted {wanted}, have [{}]", have.join(", ")))
        })
    }
}
