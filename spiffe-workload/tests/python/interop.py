"""Interop check: the Python `spiffe` package (pip install spiffe) against our Workload API.

Run by tests/interop.rs with SPIFFE_ENDPOINT_SOCKET set; takes the expected SPIFFE ID and
the federated trust domain as arguments. Prints one line per check and exits non-zero on the
first failure.
"""

import sys

from spiffe import SpiffeId, TrustDomain, WorkloadApiClient


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)


def main():
    expected_id, federated_td = sys.argv[1], sys.argv[2]
    own_td = TrustDomain(expected_id)

    with WorkloadApiClient(default_timeout=10) as client:
        svid = client.fetch_x509_svid()
        check(str(svid.spiffe_id) == expected_id, f"fetch_x509_svid: {svid.spiffe_id}")
        check(len(svid.cert_chain) >= 1, "X509-SVID has a chain")

        context = client.fetch_x509_context()
        check(len(context.x509_svids) == 1, "fetch_x509_context: one SVID")
        bundles = context.x509_bundle_set
        check(bundles.get_bundle_for_trust_domain(own_td) is not None,
              "context holds the own trust domain's bundle")
        check(bundles.get_bundle_for_trust_domain(TrustDomain(federated_td)) is not None,
              "context holds the federated bundle")

        x509_bundles = client.fetch_x509_bundles()
        own = x509_bundles.get_bundle_for_trust_domain(own_td)
        check(own is not None and len(own.x509_authorities) >= 1,
              "fetch_x509_bundles: own trust domain with authorities")

        jwt_svid = client.fetch_jwt_svid(audience={"user-service"})
        check(str(jwt_svid.spiffe_id) == expected_id, f"fetch_jwt_svid: {jwt_svid.spiffe_id}")
        check("user-service" in jwt_svid.audience, "JWT-SVID audience")

        jwt_bundles = client.fetch_jwt_bundles()
        jwt_bundle = jwt_bundles.get_bundle_for_trust_domain(own_td)
        check(jwt_bundle is not None, "fetch_jwt_bundles: own trust domain")
        check(len(jwt_bundle.jwt_authorities) >= 1, "JWT bundle has keys")

        # Local validation with the fetched bundle (PyJWT does the signature check).
        from spiffe import JwtSvid
        local = JwtSvid.parse_and_validate(jwt_svid.token, jwt_bundle, {"user-service"})
        check(str(local.spiffe_id) == expected_id, "JwtSvid.parse_and_validate with fetched bundle")

        validated = client.validate_jwt_svid(jwt_svid.token, "user-service")
        check(str(validated.spiffe_id) == expected_id, "validate_jwt_svid")

        try:
            client.validate_jwt_svid(jwt_svid.token, "someone-else")
            check(False, "validate_jwt_svid refuses a wrong audience")
        except Exception as e:  # noqa: BLE001 - any refusal is what we want
            check(True, f"validate_jwt_svid refuses a wrong audience ({type(e).__name__})")

    print("PYTHON INTEROP OK", flush=True)


if __name__ == "__main__":
    main()
