//! Between the authority's state and the journal: what each kind stores of its slots and
//! published authorities ([`Journaled`]), and the generic store and restore over both kinds.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tracing::warn;

use spiffe_core::PublicKey;
use spiffe_core::jwt::JwtAlgorithm;

use super::{
    Journal, JournalData, JwtRecord, PublishedJwtRecord, PublishedX509Record, X509Record,
    decode_certs, encode_certs,
};
use crate::CaError;
use crate::config::CaConfig;
use crate::jwt::JwtAuthority;
use crate::keys::{KeyManager, Signer};
use crate::lifecycle::{Lifecycle, Published};
use crate::rotation::{AuthorityStatus, Slot, SlotId, Track};
use crate::slot::SlotAuthority;
use crate::state::State;
use crate::x509::X509Authority;

/// An authority kind as the journal stores it.
trait Journaled: SlotAuthority {
    /// A slot as stored.
    type Record;
    /// A published authority as stored.
    type PublishedRecord;

    /// The kind's stored slots and published authorities.
    fn records(data: &JournalData) -> (&[Self::Record], &[Self::PublishedRecord]);

    /// The same, to fill.
    fn records_mut(
        data: &mut JournalData,
    ) -> (&mut Vec<Self::Record>, &mut Vec<Self::PublishedRecord>);

    /// A slot as stored.
    fn record(slot: &Slot<Self>) -> Self::Record;

    /// Which slot a stored one was, and in what status.
    fn placement(record: &Self::Record) -> (SlotId, AuthorityStatus);

    /// The authority of a stored slot, with its key. The outer error is a journal that does
    /// not read back; the inner one an authority that cannot be rebuilt (its slot is dropped).
    fn restore(
        journal: &Journal,
        record: &Self::Record,
        signer: Arc<dyn Signer>,
    ) -> Result<Result<Self, CaError>, CaError>;

    /// A published authority as stored.
    fn published_record(published: &Published<Self::Public>) -> Self::PublishedRecord;

    /// A stored published authority.
    fn restore_published(
        journal: &Journal,
        record: &Self::PublishedRecord,
    ) -> Result<Published<Self::Public>, CaError>;
}

impl Journaled for X509Authority {
    type Record = X509Record;
    type PublishedRecord = PublishedX509Record;

    fn records(data: &JournalData) -> (&[X509Record], &[PublishedX509Record]) {
        (&data.x509, &data.published_x509)
    }

    fn records_mut(
        data: &mut JournalData,
    ) -> (&mut Vec<X509Record>, &mut Vec<PublishedX509Record>) {
        (&mut data.x509, &mut data.published_x509)
    }

    fn record(slot: &Slot<Self>) -> X509Record {
        X509Record {
            slot: slot.id,
            status: slot.status,
            cert: encode_certs(std::slice::from_ref(slot.authority.certificate()))
                .pop()
                .unwrap_or_default(),
            chain: encode_certs(slot.authority.chain()),
            roots: encode_certs(slot.authority.roots()),
        }
    }

    fn placement(record: &X509Record) -> (SlotId, AuthorityStatus) {
        (record.slot, record.status)
    }

    fn restore(
        journal: &Journal,
        record: &X509Record,
        signer: Arc<dyn Signer>,
    ) -> Result<Result<Self, CaError>, CaError> {
        let cert = decode_certs(journal, std::slice::from_ref(&record.cert))?
            .pop()
            .ok_or_else(|| journal.corrupt("X.509 slot without a certificate"))?;
        let chain = decode_certs(journal, &record.chain)?;
        let roots = decode_certs(journal, &record.roots)?;
        Ok(X509Authority::restore(cert, chain, roots, signer))
    }

    fn published_record(published: &Published<Self::Public>) -> PublishedX509Record {
        PublishedX509Record {
            id: published.id.clone(),
            roots: encode_certs(&published.public),
            not_after: published.not_after,
            tainted: published.tainted,
        }
    }

    fn restore_published(
        journal: &Journal,
        record: &PublishedX509Record,
    ) -> Result<Published<Self::Public>, CaError> {
        Ok(Published {
            id: record.id.clone(),
            public: decode_certs(journal, &record.roots)?,
            not_after: record.not_after,
            tainted: record.tainted,
        })
    }
}

impl Journaled for JwtAuthority {
    type Record = JwtRecord;
    type PublishedRecord = PublishedJwtRecord;

    fn records(data: &JournalData) -> (&[JwtRecord], &[PublishedJwtRecord]) {
        (&data.jwt, &data.published_jwt)
    }

    fn records_mut(data: &mut JournalData) -> (&mut Vec<JwtRecord>, &mut Vec<PublishedJwtRecord>) {
        (&mut data.jwt, &mut data.published_jwt)
    }

    fn record(slot: &Slot<Self>) -> JwtRecord {
        JwtRecord {
            slot: slot.id,
            status: slot.status,
            kid: slot.authority.key_id().to_owned(),
            alg: slot.authority.algorithm().as_str().to_owned(),
            not_before: slot.authority.not_before(),
            not_after: slot.authority.not_after(),
        }
    }

    fn placement(record: &JwtRecord) -> (SlotId, AuthorityStatus) {
        (record.slot, record.status)
    }

    fn restore(
        journal: &Journal,
        record: &JwtRecord,
        signer: Arc<dyn Signer>,
    ) -> Result<Result<Self, CaError>, CaError> {
        let alg: JwtAlgorithm = record
            .alg
            .parse()
            .map_err(|_| journal.corrupt(format!("unknown JWT algorithm {:?}", record.alg)))?;
        Ok(JwtAuthority::restore(
            record.kid.clone(),
            signer,
            alg,
            record.not_before,
            record.not_after,
        ))
    }

    fn published_record(published: &Published<Self::Public>) -> PublishedJwtRecord {
        PublishedJwtRecord {
            kid: published.id.clone(),
            spki: STANDARD.encode(published.public.spki_der()),
            not_after: published.not_after,
            tainted: published.tainted,
        }
    }

    fn restore_published(
        journal: &Journal,
        record: &PublishedJwtRecord,
    ) -> Result<Published<Self::Public>, CaError> {
        let spki = STANDARD
            .decode(&record.spki)
            .map_err(|e| journal.corrupt(format!("JWT key is not base64: {e}")))?;
        Ok(Published {
            id: record.kid.clone(),
            public: PublicKey::from_spki_der(&spki)
                .map_err(|e| journal.corrupt(format!("JWT key {}: {e}", record.kid)))?,
            not_after: record.not_after,
            tainted: record.tainted,
        })
    }
}

/// Adds one kind's slots and published authorities to `data`.
fn store<A: Journaled>(lifecycle: &Lifecycle<A>, data: &mut JournalData) {
    let (slots, published) = A::records_mut(data);
    slots.extend(lifecycle.slots().map(A::record));
    published.extend(lifecycle.published().iter().map(A::published_record));
}

/// One kind's lifecycle from `data`. A slot whose key is gone, or no longer matches its
/// authority (the key was replaced after the journal was written: a crash between the two
/// writes), is dropped with a warning.
fn restore<A: Journaled>(
    journal: &Journal,
    data: &JournalData,
    keys: &dyn KeyManager,
) -> Result<Lifecycle<A>, CaError> {
    let (records, published) = A::records(data);
    let mut track = Track::default();
    for record in records {
        let (id, status) = A::placement(record);
        let Some(signer) = keys.get(&A::key_id(id))? else {
            warn!(
                slot = id.as_str(),
                "{} slot key is gone; the slot is dropped",
                A::KIND.label()
            );
            continue;
        };
        let authority = match A::restore(journal, record, signer)? {
            Ok(a) => Arc::new(a),
            Err(e) => {
                warn!(slot = id.as_str(), error = %e, "{} slot dropped", A::KIND.label());
                continue;
            }
        };
        let slot = Slot {
            id,
            status,
            authority,
        };
        if status == AuthorityStatus::Active {
            track.current = Some(slot);
        } else {
            track.next = Some(slot);
        }
    }
    let published = published
        .iter()
        .map(|r| A::restore_published(journal, r))
        .collect::<Result<_, _>>()?;
    Ok(Lifecycle::from_parts(track, published))
}

/// The journal of `state`.
pub(crate) fn to_journal(state: &State) -> JournalData {
    let mut data = JournalData::empty();
    data.sequence = state.sequence;
    store(&state.x509, &mut data);
    store(&state.jwt, &mut data);
    data
}

/// The state stored in `data`, with its bundle rebuilt.
///
/// # Errors
///
/// [`CaError::Corrupt`] if the journal does not read back, a key manager error, or
/// [`CaError::Bundle`] if the stored authorities do not make a bundle.
pub(crate) fn restore_state(
    journal: &Journal,
    data: &JournalData,
    config: &CaConfig,
    keys: &dyn KeyManager,
) -> Result<State, CaError> {
    let mut state = State::empty(config);
    state.x509 = restore(journal, data, keys)?;
    state.jwt = restore(journal, data, keys)?;
    state.sequence = data.sequence;
    state.bundle = Arc::new(state.build_bundle(config)?);
    Ok(state)
}
