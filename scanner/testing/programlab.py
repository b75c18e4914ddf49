"""Root programs for the lab, written in their publishers' formats: Mozilla's certdata.txt
(NSS's layout: a certificate object and its trust object per root, MULTILINE_OCTAL blocks of
16 bytes a line) and Chrome's root_store.textproto."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

CERTDATA_HEADER = """\
#
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.
#
# certdata.txt
#
# This file contains the object definitions for the certs and other
# information "built into" NSS.
#
# Certificates
#
#  -- Attribute --          -- type --              -- value --
#  CKA_CLASS                CK_OBJECT_CLASS         CKO_CERTIFICATE
#  CKA_TOKEN                CK_BBOOL                CK_TRUE
#  CKA_LABEL                UTF8                    (varies)
#  CKA_VALUE                MULTILINE_OCTAL         (from X.509)
#
# Trust
#
#  -- Attribute --          -- type --              -- value --
#  CKA_CLASS                CK_OBJECT_CLASS         CKO_NSS_TRUST
#  CKA_ISSUER               MULTILINE_OCTAL         (from X.509)
#  CKA_SERIAL_NUMBER        MULTILINE_OCTAL         (from X.509)
#  CKA_TRUST_SERVER_AUTH    CK_TRUST                (varies)
#
BEGINDATA
CKA_CLASS CK_OBJECT_CLASS CKO_NSS_BUILTIN_ROOT_LIST
CKA_TOKEN CK_BBOOL CK_TRUE
CKA_PRIVATE CK_BBOOL CK_FALSE
CKA_MODIFIABLE CK_BBOOL CK_FALSE
CKA_LABEL UTF8 "Mozilla Builtin Roots"
"""


def octal(data: bytes) -> str:
    """A MULTILINE_OCTAL block: 16 bytes a line, then END."""
    rows = ["".join(f"\\{b:03o}" for b in data[i : i + 16]) for i in range(0, len(data), 16)]
    return "\n".join([*rows, "END"])


def _serial_der(serial: int) -> bytes:
    """The serial as a DER INTEGER, as CKA_SERIAL_NUMBER holds it."""
    body = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)
    return bytes([0x02, len(body)]) + body


def _colons(data: bytes) -> str:
    return ":".join(f"{b:02X}" for b in data)


@dataclass(frozen=True, slots=True, kw_only=True)
class MozillaRoot:
    cert: x509.Certificate
    label: str
    server_auth: str = "CKT_NSS_TRUSTED_DELEGATOR"  # or CKT_NSS_MUST_VERIFY_TRUST, ...
    server_distrust_after: dt.datetime | None = None
    # PKCS#11 3.2's trust object (CKO_TRUST naming the certificate by its SHA-256) instead of
    # NSS's CKO_NSS_TRUST (by issuer and serial).
    pkcs11_v32: bool = False


def _label(text: str) -> str:
    """certdata.txt's UTF8 values: non-ASCII as \\xNN escapes of its UTF-8 bytes."""
    return "".join(c if ord(c) < 128 else "".join(f"\\x{b:02x}" for b in c.encode()) for c in text)


def _utctime(when: dt.datetime) -> bytes:
    return when.astimezone(dt.UTC).strftime("%y%m%d%H%M%SZ").encode()


def _trust_object(root: MozillaRoot, der: bytes, issuer: bytes, serial: bytes) -> str:
    label = _label(root.label)
    if root.pkcs11_v32:
        return f"""CKA_CLASS CK_OBJECT_CLASS CKO_TRUST
CKA_TOKEN CK_BBOOL CK_TRUE
CKA_PRIVATE CK_BBOOL CK_FALSE
CKA_MODIFIABLE CK_BBOOL CK_FALSE
CKA_LABEL UTF8 "{label}"
CKA_HASH_OF_CERTIFICATE MULTILINE_OCTAL
{octal(hashlib.sha256(der).digest())}
CKA_NAME_HASH_ALGORITHM CK_MECHANISM_TYPE CKM_SHA256
CKA_TRUST_SERVER_AUTH CK_TRUST {root.server_auth}
CKA_TRUST_EMAIL_PROTECTION CK_TRUST CKT_TRUST_MUST_VERIFY_TRUST
"""
    return f"""CKA_CLASS CK_OBJECT_CLASS CKO_NSS_TRUST
CKA_TOKEN CK_BBOOL CK_TRUE
CKA_PRIVATE CK_BBOOL CK_FALSE
CKA_MODIFIABLE CK_BBOOL CK_FALSE
CKA_LABEL UTF8 "{label}"
CKA_CERT_SHA1_HASH MULTILINE_OCTAL
{octal(hashlib.sha1(der).digest())}
CKA_CERT_MD5_HASH MULTILINE_OCTAL
{octal(hashlib.md5(der).digest())}
CKA_ISSUER MULTILINE_OCTAL
{octal(issuer)}
CKA_SERIAL_NUMBER MULTILINE_OCTAL
{octal(serial)}
CKA_TRUST_SERVER_AUTH CK_TRUST {root.server_auth}
CKA_TRUST_EMAIL_PROTECTION CK_TRUST CKT_NSS_MUST_VERIFY_TRUST
CKA_TRUST_CODE_SIGNING CK_TRUST CKT_NSS_MUST_VERIFY_TRUST
CKA_TRUST_STEP_UP_APPROVED CK_BBOOL CK_FALSE
"""


def certdata_entry(root: MozillaRoot) -> str:
    cert = root.cert
    der = cert.public_bytes(Encoding.DER)
    issuer, serial = cert.issuer.public_bytes(), _serial_der(cert.serial_number)
    comment = "\n".join(
        [
            f"# Issuer: {cert.issuer.rfc4514_string()}",
            f"# Serial Number:{_colons(_serial_der(cert.serial_number)[2:])}",
            f"# Subject: {cert.subject.rfc4514_string()}",
            f"# Not Valid Before: {cert.not_valid_before_utc.strftime('%a %b %d %H:%M:%S %Y')}",
            f"# Not Valid After : {cert.not_valid_after_utc.strftime('%a %b %d %H:%M:%S %Y')}",
            f"# Fingerprint (SHA-256): {_colons(hashlib.sha256(der).digest())}",
            f"# Fingerprint (SHA1): {_colons(hashlib.sha1(der).digest())}",
        ]
    )
    if root.server_distrust_after is None:
        distrust = "CKA_NSS_SERVER_DISTRUST_AFTER CK_BBOOL CK_FALSE"
    else:
        when = root.server_distrust_after.strftime("%a %b %d %H:%M:%S %Y")
        distrust = (
            f"# For Server Distrust After: {when}\n"
            "CKA_NSS_SERVER_DISTRUST_AFTER MULTILINE_OCTAL\n"
            f"{octal(_utctime(root.server_distrust_after))}"
        )
    return f"""
#
# Certificate "{_label(root.label)}"
#
{comment}
CKA_CLASS CK_OBJECT_CLASS CKO_CERTIFICATE
CKA_TOKEN CK_BBOOL CK_TRUE
CKA_PRIVATE CK_BBOOL CK_FALSE
CKA_MODIFIABLE CK_BBOOL CK_FALSE
CKA_LABEL UTF8 "{_label(root.label)}"
CKA_CERTIFICATE_TYPE CK_CERTIFICATE_TYPE CKC_X_509
CKA_SUBJECT MULTILINE_OCTAL
{octal(cert.subject.public_bytes())}
CKA_ID UTF8 "0"
CKA_ISSUER MULTILINE_OCTAL
{octal(issuer)}
CKA_SERIAL_NUMBER MULTILINE_OCTAL
{octal(serial)}
CKA_VALUE MULTILINE_OCTAL
{octal(der)}
CKA_NSS_MOZILLA_CA_POLICY CK_BBOOL CK_TRUE
{distrust}
CKA_NSS_EMAIL_DISTRUST_AFTER CK_BBOOL CK_FALSE

# Trust for "{_label(root.label)}"
{comment}
{_trust_object(root, der, issuer, serial)}"""


def certdata_txt(roots: Sequence[MozillaRoot]) -> bytes:
    return (CERTDATA_HEADER + "".join(certdata_entry(r) for r in roots)).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChromeRoot:
    cert: x509.Certificate
    label: str
    sct_not_after: dt.datetime | None = None
    max_version_exclusive: str | None = None


def root_store_textproto(roots: Sequence[ChromeRoot], *, version_major: int = 1) -> bytes:
    """A root store in the layout of chromium's root_store.textproto."""
    out = [
        "# Copyright 2021 The Chromium Authors",
        "# Use of this source code is governed by a BSD-style license that can be",
        "# found in the LICENSE file.",
        "",
        f"version_major: {version_major}",
    ]
    for r in roots:
        digest = hashlib.sha256(r.cert.public_bytes(Encoding.DER)).hexdigest()
        out += ["", f"# {r.label}", "trust_anchors {", f'  sha256_hex: "{digest}"']
        if r.sct_not_after is not None:
            out += [
                "  constraints: {",
                f"    sct_not_after_sec: {int(r.sct_not_after.timestamp())}",
            ]
            out += ["  }"]
        if r.max_version_exclusive is not None:
            out += ["  constraints {", f'    max_version_exclusive: "{r.max_version_exclusive}"']
            out += ["  }"]
        out.append("}")
    return ("\n".join(out) + "\n").encode()
