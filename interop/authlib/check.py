#!/usr/bin/env python3
"""Interop check: python Authlib (an independent OAuth 2.0 client) against an Ostiary server.

Reads one JSON object on stdin:
  {"issuer": URL,
   "basic": {"client_id", "client_secret"},                      # client_secret_basic, client_credentials + password + refresh
   "private_key_jwt": {"client_id", "jwk": <private RSA JWK>},    # private_key_jwt, client_credentials
   "user": {"username", "password"}}
Runs discovery, client_credentials with client_secret_basic and with private_key_jwt, a password
grant and its refresh, introspection and revocation. Prints one JSON line of the steps it
completed; exits 1 with the failing step on stderr when one fails.
"""

import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import RSAKey


def main():
    cfg = json.load(sys.stdin)
    done = []

    def step(name, ok, detail=""):
        if not ok:
            print(f"step {name} failed: {detail}", file=sys.stderr)
            sys.exit(1)
        done.append(name)

    meta = requests.get(cfg["issuer"] + "/.well-known/openid-configuration", timeout=10).json()
    step("discovery", meta.get("issuer") == cfg["issuer"], meta)
    token_endpoint = meta["token_endpoint"]

    basic = OAuth2Session(
        cfg["basic"]["client_id"], cfg["basic"]["client_secret"], token_endpoint_auth_method="client_secret_basic"
    )
    token = basic.fetch_token(token_endpoint, grant_type="client_credentials")
    step("client_credentials/client_secret_basic", bool(token.get("access_token")), token)

    key = RSAKey.import_key(cfg["private_key_jwt"]["jwk"])
    signed = OAuth2Session(cfg["private_key_jwt"]["client_id"], key, token_endpoint_auth_method="private_key_jwt")
    signed.register_client_auth_method(PrivateKeyJWT(token_endpoint))
    token = signed.fetch_token(token_endpoint, grant_type="client_credentials")
    step("client_credentials/private_key_jwt", bool(token.get("access_token")), token)

    user = cfg["user"]
    token = basic.fetch_token(token_endpoint, username=user["username"], password=user["password"], scope="openid email")
    step("password", bool(token.get("refresh_token")), token)
    refreshed = basic.refresh_token(token_endpoint, refresh_token=token["refresh_token"])
    step("refresh_token", refreshed.get("access_token") not in (None, token["access_token"]), refreshed)

    userinfo = basic.get(meta["userinfo_endpoint"]).json()
    step("userinfo", userinfo.get("sub") == user["username"], userinfo)

    intro = basic.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    step("introspection", intro.get("active") is True and intro.get("username") == user["username"], intro)

    revoked = basic.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
    step("revocation", revoked.status_code == 200, revoked.text)
    intro = basic.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    step("revoked token is inactive", intro == {"active": False}, intro)

    print(json.dumps({"steps": done}))


if __name__ == "__main__":
    main()
