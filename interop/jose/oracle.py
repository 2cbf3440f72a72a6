#!/usr/bin/env python3
"""JOSE interop oracle for ostiary-jose, backed by the independent `jwcrypto`.

Rust integration tests run this as a subprocess: one JSON document on stdin,
one JSON document on stdout (sorted keys, one line). Exit status is 0 unless
the input itself is unreadable (bad mode, stdin not JSON, wrong top-level
shape): then exit 2 with a message on stderr. Per-item problems (bad token,
bad key, unsupported algorithm) are reported inside the output and never
crash the script. Output arrays are in the same order as the input arrays.
No network is used.

Modes
-----
python oracle.py decode
    in : {"jwks": {"keys": [<JWK>, ...]}, "tokens": ["<compact>", ...]}
    out: {"results": [R, ...], "jwks_errors": [...]}
         R = {"ok": true, "payload": "<final payload, UTF-8>",
              "headers": [<outer protected header>, <inner JWS header if nested>]}
           | {"ok": false, "error": "<message>"}
    - 5 segments: JWE, decrypted with the key set (key chosen by `kid`, all
      keys tried when there is no `kid`); every alg/enc in JWE_ALGS allowed
      (including RSA1_5). If the JWE protected header has cty == "JWT"
      (case-insensitive) the plaintext must be a compact JWS, verified too.
    - 3 segments: JWS, verified with the *public* part of the key set
      (oct keys as they are), key chosen by `kid`; algs in JWS_ALGS only.
    - A payload that is not valid UTF-8 gives ok=false.
    - Keys in "jwks" that jwcrypto cannot import are skipped, each reported
      in "jwks_errors" as {"index": i, "kid": <kid or null>, "error": "..."}.

python oracle.py encode
    in : {"jobs": [{"payload": "<UTF-8>",
                    "sign": {"alg": "ES256", "jwk": {<private/oct JWK>}} | null,
                    "encrypt": {"alg": "ECDH-ES+A128KW", "enc": "A128GCM",
                                "jwk": {<public/oct JWK>}} | null}, ...]}
    out: {"tokens": ["<compact>" | null, ...], "errors": [null | "<msg>", ...]}
    - sign only    -> JWS, protected header {"alg","kid"}
    - encrypt only -> JWE, protected header {"alg","enc","kid"}
      (+ whatever the alg adds: "epk" for ECDH-ES*, "iv"/"tag" for *GCMKW)
    - both         -> sign, then encrypt the JWS compact string with
                      {"alg","enc","kid","cty":"JWT"} (nested JWT)
    "kid" is taken from the JWK and omitted when the JWK has none.
    Neither sign nor encrypt -> error.

python oracle.py keygen
    in : {"specs": [{"kty": "RSA", "size": 2048} | {"kty": "EC", "crv": "P-256"}
                    | {"kty": "OKP", "crv": "Ed25519"} | {"kty": "oct", "size": 256}, ...]}
    out: {"keys": [<private JWK with "kid" = RFC 7638 SHA-256 thumbprint> | null, ...],
          "errors": [null | "<msg>", ...]}
    ("size" is in bits; RSA defaults to 2048, oct to 256.)
"""

import base64
import binascii
import json
import sys

from jwcrypto import jwe, jwk, jws

JWS_ALGS = [
    "HS256", "HS384", "HS512",
    "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
    "EdDSA",
]

JWE_ALGS = [
    # key management
    "RSA1_5", "RSA-OAEP", "RSA-OAEP-256",
    "A128KW", "A192KW", "A256KW",
    "dir",
    "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW",
    "A128GCMKW", "A192GCMKW", "A256GCMKW",
    # content encryption
    "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512",
    "A128GCM", "A192GCM", "A256GCM",
]


class InputError(Exception):
    """The input document itself is unreadable (-> exit 2)."""


class Reject(ValueError):
    """A token, key or job is rejected; the message is reported as is."""


def _err(e):
    msg = str(e)
    if isinstance(e, Reject):
        return msg
    name = type(e).__name__
    return f"{name}: {msg}" if msg else name


def _b64u_decode(seg):
    if not isinstance(seg, str):
        raise Reject("segment is not a string")
    try:
        raw = seg.encode("ascii")
    except UnicodeEncodeError:
        raise Reject("segment is not ASCII") from None
    if b"=" in raw:
        raise Reject("segment contains base64 padding")
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as e:
        raise Reject(f"bad base64url: {e}") from None


def _header_of(compact):
    raw = _b64u_decode(compact.split(".", 1)[0])
    try:
        hdr = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Reject(f"protected header is not JSON: {e}") from None
    if not isinstance(hdr, dict):
        raise Reject("protected header is not a JSON object")
    return hdr


# ---------------------------------------------------------------- decode ---

def _load_keysets(jwks):
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise InputError('"jwks" must be a JWK Set object with a "keys" array')
    full = jwk.JWKSet()
    public = jwk.JWKSet()
    errors = []
    for i, kd in enumerate(jwks["keys"]):
        kid = kd.get("kid") if isinstance(kd, dict) else None
        try:
            if not isinstance(kd, dict):
                raise Reject("key is not a JSON object")
            k = jwk.JWK(**kd)
            full.add(k)
            if k.is_symmetric:
                public.add(k)
            else:
                public.add(jwk.JWK(**k.export_public(as_dict=True)))
        except Exception as e:  # pylint: disable=broad-except
            errors.append({"index": i, "kid": kid, "error": _err(e)})
    return full, public, errors


def _verify_jws(compact, public_set):
    """Returns (payload bytes, protected header dict)."""
    if compact.count(".") != 2:
        raise Reject("JWS compact serialization must have 3 segments")
    hdr = _header_of(compact)
    obj = jws.JWS()
    obj.allowed_algs = list(JWS_ALGS)
    try:
        obj.deserialize(compact, key=public_set)
    except Exception as e:  # pylint: disable=broad-except
        log = getattr(obj, "verifylog", None)
        raise Reject(_err(e) + (f" {log}" if log else "")) from None
    return obj.payload, hdr


def _decrypt_jwe(compact, full_set):
    """Returns (plaintext bytes, protected header dict)."""
    hdr = _header_of(compact)
    obj = jwe.JWE(algs=list(JWE_ALGS))
    try:
        obj.deserialize(compact, key=full_set)
    except Exception as e:  # pylint: disable=broad-except
        log = getattr(obj, "decryptlog", None)
        raise Reject(_err(e) + (f" {log}" if log else "")) from None
    if obj.plaintext is None:
        raise Reject("decryption produced no plaintext")
    return obj.plaintext, hdr


def _decode_one(token, full_set, public_set):
    if not isinstance(token, str):
        raise Reject("token is not a string")
    token = token.strip()
    nseg = token.count(".") + 1
    if nseg == 5:
        plaintext, outer = _decrypt_jwe(token, full_set)
        headers = [outer]
        cty = outer.get("cty")
        if isinstance(cty, str) and cty.lower() == "jwt":
            try:
                inner_compact = plaintext.decode("ascii")
            except UnicodeDecodeError:
                raise Reject("nested JWT: plaintext is not ASCII") from None
            if inner_compact.count(".") != 2:
                raise Reject(
                    "nested JWT: plaintext is not a JWS compact serialization")
            try:
                payload, inner = _verify_jws(inner_compact, public_set)
            except Exception as e:  # pylint: disable=broad-except
                raise Reject(f"nested JWS: {e}") from None
            headers.append(inner)
        else:
            payload = plaintext
    elif nseg == 3:
        payload, hdr = _verify_jws(token, public_set)
        headers = [hdr]
    else:
        raise Reject(f"compact token has {nseg} segments, expected 3 or 5")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Reject("payload is not valid UTF-8") from None
    return {"ok": True, "payload": text, "headers": headers}


def do_decode(doc):
    if not isinstance(doc, dict) or "jwks" not in doc \
            or not isinstance(doc.get("tokens"), list):
        raise InputError('expected {"jwks": {...}, "tokens": [...]}')
    full_set, public_set, key_errors = _load_keysets(doc["jwks"])
    results = []
    for token in doc["tokens"]:
        try:
            results.append(_decode_one(token, full_set, public_set))
        except Exception as e:  # pylint: disable=broad-except
            results.append({"ok": False, "error": _err(e)})
    return {"results": results, "jwks_errors": key_errors}


# ---------------------------------------------------------------- encode ---

def _jwk_from(spec, what):
    kd = spec.get("jwk") if isinstance(spec, dict) else None
    if not isinstance(kd, dict):
        raise Reject(f'{what}: "jwk" must be a JSON object')
    return jwk.JWK(**kd)


def _sign(payload_bytes, spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("alg"), str):
        raise Reject('sign: "alg" must be a string')
    alg = spec["alg"]
    key = _jwk_from(spec, "sign")
    prot = {"alg": alg}
    if key.get("kid") is not None:
        prot["kid"] = key["kid"]
    obj = jws.JWS(payload_bytes)
    obj.allowed_algs = list(JWS_ALGS)
    obj.add_signature(key, alg=alg,
                      protected=json.dumps(prot, separators=(",", ":")))
    return obj.serialize(compact=True)


def _encrypt(plaintext_bytes, spec, nested):
    if not isinstance(spec, dict) or not isinstance(spec.get("alg"), str) \
            or not isinstance(spec.get("enc"), str):
        raise Reject('encrypt: "alg" and "enc" must be strings')
    key = _jwk_from(spec, "encrypt")
    if not key.is_symmetric and key.has_private:
        key = jwk.JWK(**key.export_public(as_dict=True))
    prot = {"alg": spec["alg"], "enc": spec["enc"]}
    if key.get("kid") is not None:
        prot["kid"] = key["kid"]
    if nested:
        prot["cty"] = "JWT"
    obj = jwe.JWE(plaintext_bytes,
                  protected=json.dumps(prot, separators=(",", ":")),
                  algs=list(JWE_ALGS))
    obj.add_recipient(key)
    return obj.serialize(compact=True)


def _encode_one(job):
    if not isinstance(job, dict):
        raise Reject("job is not a JSON object")
    payload = job.get("payload")
    if not isinstance(payload, str):
        raise Reject('"payload" must be a string')
    sign = job.get("sign")
    enc = job.get("encrypt")
    if sign is None and enc is None:
        raise Reject('job needs "sign" and/or "encrypt"')
    data = payload.encode("utf-8")
    if sign is not None:
        token = _sign(data, sign)
        if enc is not None:
            token = _encrypt(token.encode("ascii"), enc, nested=True)
    else:
        token = _encrypt(data, enc, nested=False)
    return token


def do_encode(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list):
        raise InputError('expected {"jobs": [...]}')
    tokens, errors = [], []
    for job in doc["jobs"]:
        try:
            tokens.append(_encode_one(job))
            errors.append(None)
        except Exception as e:  # pylint: disable=broad-except
            tokens.append(None)
            errors.append(_err(e))
    return {"tokens": tokens, "errors": errors}


# ---------------------------------------------------------------- keygen ---

def _keygen_one(spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("kty"), str):
        raise Reject('spec needs a string "kty"')
    kty = spec["kty"]
    if kty == "RSA":
        size = spec.get("size", 2048)
        if not isinstance(size, int) or size < 1024:
            raise Reject("RSA size must be an integer >= 1024")
        key = jwk.JWK.generate(kty="RSA", size=size)
    elif kty in ("EC", "OKP"):
        crv = spec.get("crv")
        if not isinstance(crv, str):
            raise Reject(f'{kty} spec needs a string "crv"')
        key = jwk.JWK.generate(kty=kty, crv=crv)
    elif kty == "oct":
        size = spec.get("size", 256)
        if not isinstance(size, int) or size <= 0 or size % 8:
            raise Reject("oct size must be a positive multiple of 8")
        key = jwk.JWK.generate(kty="oct", size=size)
    else:
        raise Reject(f"unsupported kty {kty!r}")
    out = key.export(private_key=True, as_dict=True)
    out.pop("kid", None)
    out["kid"] = key.thumbprint()
    return out


def do_keygen(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("specs"), list):
        raise InputError('expected {"specs": [...]}')
    keys, errors = [], []
    for spec in doc["specs"]:
        try:
            keys.append(_keygen_one(spec))
            errors.append(None)
        except Exception as e:  # pylint: disable=broad-except
            keys.append(None)
            errors.append(_err(e))
    return {"keys": keys, "errors": errors}


# ------------------------------------------------------------------ main ---

MODES = {"decode": do_decode, "encode": do_encode, "keygen": do_keygen}


def main(argv):
    if len(argv) != 2 or argv[1] not in MODES:
        print(f"usage: {argv[0]} decode|encode|keygen  (JSON on stdin)",
              file=sys.stderr)
        return 2
    try:
        raw = sys.stdin.buffer.read()
        doc = json.loads(raw.decode("utf-8"))
        out = MODES[argv[1]](doc)
    except (UnicodeDecodeError, json.JSONDecodeError, InputError) as e:
        print(f"oracle: unreadable input: {_err(e)}", file=sys.stderr)
        return 2
    text = json.dumps(out, sort_keys=True, ensure_ascii=False) + "\n"
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
