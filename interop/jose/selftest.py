#!/usr/bin/env python3
"""Self-test for oracle.py: keygen -> encode -> decode round trips, tamper checks.

Run: .venv/bin/python interop/jose/selftest.py   (exit 0 when all pass)
"""

import base64
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "oracle.py")

JWS_ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
            "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
KEY_ALGS = ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "A128KW", "A192KW", "A256KW",
            "dir", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW",
            "ECDH-ES+A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW"]
ENCS = {"A128CBC-HS256": 256, "A192CBC-HS384": 384, "A256CBC-HS512": 512,
        "A128GCM": 128, "A192GCM": 192, "A256GCM": 256}


def run(mode, doc, expect_rc=0, raw=None):
    p = subprocess.run([sys.executable, ORACLE, mode],
                       input=raw if raw is not None else json.dumps(doc).encode(),
                       capture_output=True, timeout=600)
    assert p.returncode == expect_rc, (mode, p.returncode, p.stderr.decode())
    return json.loads(p.stdout) if p.returncode == 0 else None


def main():
    passed = failed = 0

    def check(cond, what):
        nonlocal passed, failed
        if cond:
            passed += 1
        else:
            failed += 1
            print("FAIL:", what)

    specs = [
        ("rsa", {"kty": "RSA", "size": 2048}),
        ("p256", {"kty": "EC", "crv": "P-256"}),
        ("p384", {"kty": "EC", "crv": "P-384"}),
        ("p521", {"kty": "EC", "crv": "P-521"}),
        ("ed25519", {"kty": "OKP", "crv": "Ed25519"}),
        ("x25519", {"kty": "OKP", "crv": "X25519"}),
    ] + [(f"oct{n}", {"kty": "oct", "size": n}) for n in (128, 192, 256, 384, 512)]
    out = run("keygen", {"specs": [s for _, s in specs]})
    check(all(e is None for e in out["errors"]), f"keygen errors {out['errors']}")
    keys = dict(zip([n for n, _ in specs], out["keys"]))
    # kid must be the RFC 7638 thumbprint, recomputed independently here
    import hashlib
    req = {"RSA": ["e", "kty", "n"], "EC": ["crv", "kty", "x", "y"],
           "OKP": ["crv", "kty", "x"], "oct": ["k", "kty"]}
    for name, k in keys.items():
        members = {m: k[m] for m in req[k["kty"]]}
        tp = base64.urlsafe_b64encode(hashlib.sha256(json.dumps(
            members, separators=(",", ":"), sort_keys=True).encode()).digest()
        ).rstrip(b"=").decode()
        check(k["kid"] == tp, f"thumbprint {name}")
    check("d" in keys["rsa"] and "d" in keys["p256"] and "d" in keys["ed25519"],
          "private parts exported")

    def pub(k):
        if k["kty"] == "oct":
            return k
        drop = {"d", "p", "q", "dp", "dq", "qi", "oth"}
        return {a: b for a, b in k.items() if a not in drop}

    jobs, expect = [], []

    def sign_key(alg):
        return {"HS256": "oct256", "HS384": "oct384", "HS512": "oct512",
                "ES256": "p256", "ES384": "p384", "ES512": "p521",
                "EdDSA": "ed25519"}.get(alg, "rsa")

    def enc_keys(alg, enc):
        if alg.startswith("RSA"):
            return ["rsa"]
        if alg == "dir":
            return [f"oct{ENCS[enc]}"]
        if alg.startswith("ECDH-ES"):
            return ["p256", "p384", "p521", "x25519"]
        return [f"oct{alg[1:4]}"]

    for alg in JWS_ALGS:
        payload = f"jws {alg} \u00e9\u2603"
        jobs.append({"payload": payload,
                     "sign": {"alg": alg, "jwk": keys[sign_key(alg)]},
                     "encrypt": None})
        expect.append((payload, 1, ("jws", alg)))
    for alg in KEY_ALGS:
        for enc in ENCS:
            for kn in enc_keys(alg, enc):
                payload = f"jwe {alg} {enc} {kn}"
                jobs.append({"payload": payload, "sign": None,
                             "encrypt": {"alg": alg, "enc": enc,
                                         "jwk": pub(keys[kn])}})
                expect.append((payload, 1, ("jwe", alg, enc, kn)))
    nested = [("ES256", "ECDH-ES+A128KW", "A128GCM", "p256"),
              ("RS256", "RSA-OAEP-256", "A256GCM", "rsa"),
              ("EdDSA", "ECDH-ES", "A256CBC-HS512", "x25519"),
              ("HS256", "dir", "A128CBC-HS256", "oct256"),
              ("PS512", "A256GCMKW", "A192CBC-HS384", "oct256"),
              ("ES512", "RSA1_5", "A128GCM", "rsa")]
    for salg, ealg, enc, kn in nested:
        payload = json.dumps({"sub": "nested", "alg": salg})
        jobs.append({"payload": payload,
                     "sign": {"alg": salg, "jwk": keys[sign_key(salg)]},
                     "encrypt": {"alg": ealg, "enc": enc, "jwk": pub(keys[kn])}})
        expect.append((payload, 2, ("nested", salg, ealg, enc, kn)))

    enc_out = run("encode", {"jobs": jobs})
    for (_, _, tag), tok, err in zip(expect, enc_out["tokens"], enc_out["errors"]):
        check(tok is not None and err is None, f"encode {tag}: {err}")

    jwks = {"keys": list(keys.values())}
    dec = run("decode", {"jwks": jwks, "tokens": enc_out["tokens"]})
    check(dec["jwks_errors"] == [], f"jwks_errors {dec['jwks_errors']}")
    for (payload, nh, tag), tok, r in zip(expect, enc_out["tokens"], dec["results"]):
        ok = r.get("ok") and r["payload"] == payload and len(r["headers"]) == nh
        if ok:
            h0 = r["headers"][0]
            kid_of = tag[-1] if tag[0] != "jws" else sign_key(tag[1])
            ok = h0.get("kid") == keys[kid_of]["kid"] and h0["alg"] == tag[
                1 if tag[0] != "nested" else 2]
            if tag[0] == "nested":
                ok = ok and h0.get("cty") == "JWT" and \
                    r["headers"][1]["alg"] == tag[1] and \
                    r["headers"][1]["kid"] == keys[sign_key(tag[1])]["kid"]
            else:
                ok = ok and "cty" not in h0
        check(ok, f"decode {tag}: {r}")

    # Tampering: flip a char in the signature / ciphertext / tag / header.
    def flip(tok, seg):
        parts = tok.split(".")
        s = parts[seg]
        i = len(s) // 2
        parts[seg] = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
        return ".".join(parts)

    bad, bad_tags = [], []
    for (_, _, tag), tok in zip(expect, enc_out["tokens"]):
        if tag[0] == "jws":
            bad += [flip(tok, 2), flip(tok, 1)]
            bad_tags += [(tag, "sig"), (tag, "payload")]
        else:
            bad += [flip(tok, 3), flip(tok, 4), flip(tok, 2)]
            bad_tags += [(tag, "ct"), (tag, "tag"), (tag, "iv")]
    # Also junk of all kinds.
    first_jws = enc_out["tokens"][0]
    junk = ["", "a.b", "a.b.c", "a.b.c.d.e", "....", 42, None,
            "eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.",  # alg none
            first_jws.split(".")[0] + "..x",
            # valid JWS with an unknown kid
            ]
    # a JWS signed by a key that's not in the set
    other = run("keygen", {"specs": [{"kty": "EC", "crv": "P-256"}]})["keys"][0]
    forged = run("encode", {"jobs": [{"payload": "x", "sign": {
        "alg": "ES256", "jwk": other}, "encrypt": None}]})["tokens"][0]
    forged_kid = forged.split(".")
    hdr = json.dumps({"alg": "ES256", "kid": keys["p256"]["kid"]}).encode()
    forged_kid[0] = base64.urlsafe_b64encode(hdr).rstrip(b"=").decode()
    junk += [forged, ".".join(forged_kid)]
    bad += junk
    bad_tags += [("junk", repr(j)[:40]) for j in junk]
    dec = run("decode", {"jwks": jwks, "tokens": bad})
    for t, r in zip(bad_tags, dec["results"]):
        check(r.get("ok") is False and isinstance(r.get("error"), str),
              f"tamper {t}: {r}")
    check(len(dec["results"]) == len(bad), "result count")

    # Keys jwcrypto cannot import are reported, not fatal.
    dec = run("decode", {"jwks": {"keys": [{"kty": "nope"}, keys["p256"]]},
                         "tokens": [enc_out["tokens"][JWS_ALGS.index("ES256")]]})
    check(len(dec["jwks_errors"]) == 1 and dec["results"][0]["ok"],
          f"bad key in set: {dec}")

    # Encode errors are per job.
    e = run("encode", {"jobs": [{"payload": "x", "sign": None, "encrypt": None},
                                {"payload": "x", "sign": {"alg": "HS999",
                                                          "jwk": keys["oct256"]}},
                                {"payload": "x", "sign": {"alg": "HS256",
                                                          "jwk": keys["oct256"]}}]})
    check(e["tokens"][0] is None and e["errors"][0], "encode: empty job")
    check(e["tokens"][1] is None and e["errors"][1], "encode: bad alg")
    check(e["tokens"][2] and e["errors"][2] is None, "encode: good job")

    # Hand-made tokens (jwcrypto used directly): non-UTF-8 payload is
    # rejected; lowercase cty "jwt" still means nested; cty absent means
    # the plaintext is returned as is even when it looks like a JWS.
    from jwcrypto import jwe as _jwe, jwk as _jwk, jws as _jws
    hk = _jwk.JWK(**keys["oct256"])
    s = _jws.JWS(b"\xff\xfe")
    s.add_signature(hk, protected=json.dumps({"alg": "HS256", "kid": hk["kid"]}))
    non_utf8 = s.serialize(compact=True)
    s = _jws.JWS(b"inner")
    s.add_signature(hk, protected=json.dumps({"alg": "HS256", "kid": hk["kid"]}))
    inner = s.serialize(compact=True)
    ek = _jwk.JWK(**keys["oct128"])
    toks = []
    for cty in ("jwt", None):
        prot = {"alg": "A128KW", "enc": "A128GCM", "kid": ek["kid"]}
        if cty:
            prot["cty"] = cty
        e = _jwe.JWE(inner.encode(), protected=json.dumps(prot))
        e.add_recipient(ek)
        toks.append(e.serialize(compact=True))
    # nested with an inner JWS whose signature is broken
    prot = {"alg": "A128KW", "enc": "A128GCM", "kid": ek["kid"], "cty": "JWT"}
    e = _jwe.JWE(flip(inner, 2).encode(), protected=json.dumps(prot))
    e.add_recipient(ek)
    toks.append(e.serialize(compact=True))
    dec = run("decode", {"jwks": jwks, "tokens": [non_utf8] + toks})["results"]
    check(not dec[0]["ok"] and "UTF-8" in dec[0]["error"], f"non-utf8 {dec[0]}")
    check(dec[1]["ok"] and dec[1]["payload"] == "inner" and len(dec[1]["headers"]) == 2,
          f"cty jwt lowercase {dec[1]}")
    check(dec[2]["ok"] and dec[2]["payload"] == inner and len(dec[2]["headers"]) == 1,
          f"no cty {dec[2]}")
    check(not dec[3]["ok"] and dec[3]["error"].startswith("nested JWS"),
          f"nested bad sig {dec[3]}")

    # Unreadable input -> exit 2.
    run("decode", None, expect_rc=2, raw=b"not json")
    run("decode", None, expect_rc=2, raw=b'{"tokens": []}')
    run("bogus", {}, expect_rc=2)
    passed += 3

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
