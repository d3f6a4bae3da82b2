"""Validates a JWT-SVID as an OIDC relying party does, with PyJWT (no code of ours):
discovery document, then its jwks_uri through PyJWKClient, then jwt.decode with the
discovered issuer and algorithms. Usage: oidc_validate.py BASE_URL TOKEN AUDIENCE.
Prints {"sub", "kid", "iss"} as JSON; exits non-zero (with PyJWT's error) if the token
does not validate."""

import json
import sys
import urllib.request

import jwt
from jwt import PyJWKClient


def main() -> None:
    base, token, audience = sys.argv[1:4]
    with urllib.request.urlopen(base + "/.well-known/openid-configuration", timeout=10) as r:
        doc = json.load(r)
    client = PyJWKClient(doc["jwks_uri"], cache_keys=False, timeout=10)
    signing_key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=doc["id_token_signing_alg_values_supported"],
        audience=audience,
        issuer=doc["issuer"],
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
    print(json.dumps({"sub": claims["sub"], "kid": signing_key.key_id, "iss": claims["iss"]}))


if __name__ == "__main__":
    main()
