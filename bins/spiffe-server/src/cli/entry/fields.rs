//! The flags `entry create` and `entry update` share, and the entry they describe.

use anyhow::Result;
use clap::{ArgAction, Args};
use spiffe_proto::spire::api::types as pb;

use crate::cli::flags::{self, OutputArgs, SocketArgs, go_bool};

/// Flags describing one entry (or `-data` for many).
#[derive(Debug, Clone, Args)]
pub(crate) struct EntryFields {
    /// The entry ID (create: optional, generated when empty; update: the entry to replace)
    #[arg(long = "entryID", alias = "entry-id", value_name = "ID")]
    pub(crate) entry_id: Option<String>,
    /// The SPIFFE ID of this record's parent
    #[arg(long = "parentID", alias = "parent-id", value_name = "ID")]
    pub(crate) parent_id: Option<String>,
    /// The SPIFFE ID that this record represents
    #[arg(long = "spiffeID", alias = "spiffe-id", value_name = "ID")]
    pub(crate) spiffe_id: Option<String>,
    /// The lifetime, in seconds, of X509-SVIDs issued for this entry (0: server default);
    /// `-ttl` is the legacy name
    #[arg(
        long = "x509SVIDTTL",
        aliases = ["x509-svid-ttl", "ttl"],
        value_name = "SECONDS",
        default_value_t = 0
    )]
    pub(crate) x509_svid_ttl: i64,
    /// The lifetime, in seconds, of JWT-SVIDs issued for this entry (0: server default)
    #[arg(
        long = "jwtSVIDTTL",
        alias = "jwt-svid-ttl",
        value_name = "SECONDS",
        default_value_t = 0
    )]
    pub(crate) jwt_svid_ttl: i64,
    /// Path to a file of registration JSON (`{"entries":[...]}`); `-` reads standard input.
    /// When set, the other entry flags are ignored
    #[arg(long = "data", value_name = "PATH")]
    pub(crate) data: Option<String>,
    /// A `type:value` selector; repeat for more
    #[arg(long = "selector", value_name = "TYPE:VALUE")]
    pub(crate) selectors: Vec<String>,
    /// A trust domain to federate with (`spiffe://td` or `td`); repeat for more
    #[arg(long = "federatesWith", alias = "federates-with", value_name = "TD")]
    pub(crate) federates_with: Vec<String>,
    /// Grant holders of this identity the server's admin APIs
    #[arg(long = "admin", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, action = ArgAction::Set)]
    pub(crate) admin: bool,
    /// Issued SVIDs must be stored through an SVIDStore plugin
    #[arg(long = "storeSVID", alias = "store-svid", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    pub(crate) store_svid: bool,
    /// The entry describes a downstream server
    #[arg(long = "downstream", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    pub(crate) downstream: bool,
    /// When the entry itself expires, in seconds since the Unix epoch (0: never)
    #[arg(
        long = "entryExpiry",
        alias = "entry-expiry",
        value_name = "UNIX",
        default_value_t = 0
    )]
    pub(crate) entry_expiry: i64,
    /// A DNS name for X509-SVIDs of this entry; repeat for more
    #[arg(long = "dns", value_name = "NAME")]
    pub(crate) dns_names: Vec<String>,
    /// A hint for workloads that receive several SVIDs
    #[arg(long = "hint", value_name = "HINT", default_value = "")]
    pub(crate) hint: String,
    /// Do not prefetch X509-SVIDs of this entry
    #[arg(long = "disableX509SVIDPrefetch", alias = "disable-x509-svid-prefetch",
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = go_bool, action = ArgAction::Set)]
    pub(crate) disable_x509_svid_prefetch: Option<bool>,
    /// Put a unique `jti` claim in JWT-SVIDs of this entry
    #[arg(long = "jwtSVIDIncludeJTI", alias = "jwt-svid-include-jti", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = go_bool,
          action = ArgAction::Set)]
    pub(crate) jwt_svid_include_jti: Option<bool>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) socket: SocketArgs,
}

impl EntryFields {
    /// Whether a selector, an ID, ... was given: `-data` ignores them.
    pub(crate) fn selectors_given(&self) -> bool {
        !self.selectors.is_empty()
    }

    /// Rejects negative TTLs (SPIRE's messages; 0 means the server default).
    pub(crate) fn check_ttls(&self) -> Result<()> {
        if self.x509_svid_ttl < 0 {
            anyhow::bail!("a positive x509-SVID TTL is required");
        }
        if self.jwt_svid_ttl < 0 {
            anyhow::bail!("a positive JWT-SVID TTL is required");
        }
        Ok(())
    }

    /// The entry with the given IDs; checks TTL range and selectors, in SPIRE's order.
    pub(crate) fn to_entry(
        &self,
        spiffe_id: pb::Spiffeid,
        parent_id: pb::Spiffeid,
    ) -> Result<pb::Entry> {
        let x509_svid_ttl = flags::ttl_i32("X509 SVID TTL", self.x509_svid_ttl)?;
        let jwt_svid_ttl = flags::ttl_i32("JWT SVID TTL", self.jwt_svid_ttl)?;
        let selectors = flags::selectors(&self.selectors)?;
        let additional_attributes = (self.disable_x509_svid_prefetch.is_some()
            || self.jwt_svid_include_jti.is_some())
        .then(|| pb::entry::AdditionalAttributes {
            disable_x509_svid_prefetch: self.disable_x509_svid_prefetch.unwrap_or(false),
            jwt_svid_include_jti: self.jwt_svid_include_jti.unwrap_or(false),
        });
        Ok(pb::Entry {
            id: self.entry_id.clone().unwrap_or_default(),
            spiffe_id: Some(spiffe_id),
            parent_id: Some(parent_id),
            selectors,
            x509_svid_ttl,
            federates_with: self.federates_with.clone(),
            admin: self.admin,
            downstream: self.downstream,
            expires_at: self.entry_expiry,
            dns_names: self.dns_names.clone(),
            revision_number: 0,
            store_svid: self.store_svid,
            jwt_svid_ttl,
            hint: self.hint.clone(),
            created_at: 0,
            additional_attributes,
        })
    }
}
