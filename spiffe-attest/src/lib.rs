//! Attestation: finding out who a caller is from facts it cannot forge.
#![forbid(unsafe_code)]
