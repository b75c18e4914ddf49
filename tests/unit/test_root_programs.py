"""Root programs (issue 20): Chrome's root_store.textproto and Mozilla's certdata.txt read from
excerpts in the published layouts (real roots, checked against certifi's copies of them), lab
programs with a cutoff between two leaves of one root, the constraint check at the boundary
(cutoff +/- 1 s), and every other content refused with a message naming the file."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.errors import ScannerError, TrustStoreError
from scanner.testing import pki
from scanner.testing.programlab import (
    ChromeRoot,
    MozillaRoot,
    certdata_txt,
    root_store_textproto,
)
from scanner.x509.certs import quiet
from scanner.x509.programs import ProgramKind, RootProgramError, read_program
from scanner.x509.programs import textproto as tp
from scanner.x509.programs.check import (
    LeafDate,
    NotAnchored,
    ProgramDistrusted,
    ProgramTrusted,
    Rule,
    check,
)

DATA = Path(__file__).resolve().parents[1] / "data"
AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CUTOFF = dt.datetime(2026, 1, 15, 23, 59, 59, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)


def sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def certifi_roots() -> dict[str, bytes]:
    """certifi's roots by common name (an independent source for the real fingerprints)."""
    pem = Path(certifi.where()).read_bytes()
    out = {}
    for block in pem.split(b"-----END CERTIFICATE-----")[:-1]:
        with quiet():  # one of certifi's roots has a negative serial
            der = x509.load_pem_x509_certificate(
                block + b"-----END CERTIFICATE-----\n"
            ).public_bytes(Encoding.DER)
            cert = x509.load_der_x509_certificate(der)
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if cn:
            out[str(cn[0].value)] = der
    return out


# --- the published formats --------------------------------------------------------------


def test_chrome_excerpt(certifi_roots: dict[str, bytes]) -> None:
    data = (DATA / "root_store-excerpt.textproto").read_bytes()
    program = read_program(data, source="root_store.textproto")
    assert program.kind is ProgramKind.CHROME
    assert program.sha256 == sha256(data)
    assert program.version == 29
    expected = {
        sha256(certifi_roots[cn])
        for cn in (
            "ISRG Root X1",
            "Starfield Services Root Certificate Authority - G2",
            "HiPKI Root CA - G1",
            "NetLock Arany (Class Gold) Főtanúsítvány",
        )
    }
    assert set(program.anchors) == expected and program.anchor_count == 4
    hipki = program.anchors[sha256(certifi_roots["HiPKI Root CA - G1"])]
    first, second = hipki.constraints
    assert first.sct_not_after == dt.datetime(2025, 7, 31, 23, 59, 59, tzinfo=dt.UTC)
    assert first.min_version == (139,) and first.max_version_exclusive is None
    assert second.max_version_exclusive == (139,) and second.sct_not_after is None
    assert program.anchors[sha256(certifi_roots["ISRG Root X1"])].constraints == ()
    assert program.newest_date == dt.datetime(2025, 7, 31, 23, 59, 59, tzinfo=dt.UTC)


def test_mozilla_excerpt(certifi_roots: dict[str, bytes]) -> None:
    data = (DATA / "certdata-excerpt.txt").read_bytes()
    program = read_program(data, source="certdata.txt")
    assert program.kind is ProgramKind.MOZILLA
    assert program.sha256 == sha256(data)
    x2 = certifi_roots["ISRG Root X2"]
    netlock_name = "NetLock Arany (Class Gold) Főtanúsítvány"
    netlock = certifi_roots[netlock_name]
    assert set(program.anchors) == {sha256(x2), sha256(netlock)}
    anchor = program.anchors[sha256(x2)]
    assert anchor.der == x2 and anchor.label == "ISRG Root X2"
    assert anchor.server_distrust_after is None
    # The label's \xNN escapes are UTF-8 bytes.
    assert program.anchors[sha256(netlock)].label == netlock_name
    assert program.newest_date == max(not_before(x2), not_before(netlock))


def not_before(der: bytes) -> dt.datetime:
    return x509.load_der_x509_certificate(der).not_valid_before_utc


# --- lab programs: one root, a cutoff between two leaves -----------------------------------


class Lab:
    def __init__(self) -> None:
        start = AS_OF - 3000 * DAY
        self.root = pki.make_ca("Program Root", not_before=start, not_after=AS_OF + 3000 * DAY)
        self.other = pki.make_ca("Other Root", not_before=start, not_after=AS_OF + 3000 * DAY)
        self.inter = pki.make_ca(
            "Program CA", issuer=self.root, not_before=start, not_after=AS_OF + 3000 * DAY
        )

    def leaf(self, not_before: dt.datetime, names: tuple[str, ...] = ("a.test",)) -> pki.Issued:
        return pki.make_leaf(
            self.inter, dns_names=names, not_before=not_before, not_after=not_before + 90 * DAY
        )

    def path(self, leaf: pki.Issued) -> list[x509.Certificate]:
        return [leaf.cert, self.inter.cert, self.root.cert]


@pytest.fixture(scope="module")
def lab() -> Lab:
    return Lab()


def test_mozilla_distrust_after_between_two_leaves(lab: Lab) -> None:
    data = certdata_txt(
        [
            MozillaRoot(cert=lab.root.cert, label="Program Root", server_distrust_after=CUTOFF),
            MozillaRoot(cert=lab.other.cert, label="Other Root"),
        ]
    )
    program = read_program(data, source="lab-certdata.txt")
    assert program.anchor_count == 2
    assert program.anchors[sha256(lab.root.der)].server_distrust_after == CUTOFF
    assert program.newest_date == CUTOFF
    at_cutoff, after = lab.leaf(CUTOFF), lab.leaf(CUTOFF + S)
    # The SCT does not matter to Mozilla: its rule is on the notBefore.
    early_sct = CUTOFF - 100 * DAY
    assert isinstance(check(program, lab.path(at_cutoff), earliest_sct=early_sct), ProgramTrusted)
    verdict = check(program, lab.path(after), earliest_sct=early_sct)
    assert isinstance(verdict, ProgramDistrusted)
    assert verdict.rule is Rule.SERVER_DISTRUST_AFTER
    assert verdict.root_sha256 == sha256(lab.root.der) and verdict.root_label == "Program Root"
    assert verdict.cutoff == "2026-01-15T23:59:59Z"
    assert verdict.leaf_date == CUTOFF + S and verdict.leaf_date_source is LeafDate.NOT_BEFORE
    assert "2026-01-16T00:00:00Z" in verdict.message and "Program Root" in verdict.message


def test_chrome_sct_not_after_between_two_leaves(lab: Lab) -> None:
    data = root_store_textproto(
        [
            ChromeRoot(cert=lab.root.cert, label="Program Root", sct_not_after=CUTOFF),
            ChromeRoot(cert=lab.other.cert, label="Other Root"),
        ]
    )
    program = read_program(data, source="lab-root_store.textproto")
    assert program.kind is ProgramKind.CHROME and program.anchor_count == 2
    leaf = lab.leaf(CUTOFF - 10 * DAY)
    path = lab.path(leaf)
    assert isinstance(check(program, path, earliest_sct=CUTOFF), ProgramTrusted)
    late = check(program, path, earliest_sct=CUTOFF + S)
    assert isinstance(late, ProgramDistrusted)
    assert late.rule is Rule.SCT_NOT_AFTER and late.cutoff == "2026-01-15T23:59:59Z"
    assert late.leaf_date == CUTOFF + S and late.leaf_date_source is LeafDate.EARLIEST_SCT
    # No SCT: the leaf's notBefore stands in for it.
    assert isinstance(check(program, lab.path(lab.leaf(CUTOFF)), earliest_sct=None), ProgramTrusted)
    no_sct = check(program, lab.path(lab.leaf(CUTOFF + S)), earliest_sct=None)
    assert isinstance(no_sct, ProgramDistrusted)
    assert no_sct.leaf_date_source is LeafDate.NOT_BEFORE and no_sct.leaf_date == CUTOFF + S


def test_not_anchored_and_unconstrained(lab: Lab) -> None:
    program = read_program(
        root_store_textproto([ChromeRoot(cert=lab.other.cert, label="Other Root")]),
        source="x",
    )
    assert isinstance(check(program, lab.path(lab.leaf(AS_OF)), earliest_sct=None), NotAnchored)
    assert isinstance(check(program, [], earliest_sct=None), NotAnchored)
    other_leaf = pki.make_leaf(
        lab.other, dns_names=["b.test"], not_before=AS_OF, not_after=AS_OF + DAY
    )
    verdict = check(program, [other_leaf.cert, lab.other.cert], earliest_sct=AS_OF)
    assert verdict == ProgramTrusted(root_sha256=sha256(lab.other.der), root_label="")


def _program_with(lab: Lab, body: str) -> bytes:
    return (f'trust_anchors {{\n  sha256_hex: "{sha256(lab.root.der)}"\n{body}\n}}\n').encode()


def test_chrome_version_constraints_are_browser_versions(lab: Lab) -> None:
    # The HiPKI layout: trusted by Chrome < 139 whatever the SCT; from 139 only before cutoff.
    program = read_program(
        _program_with(
            lab,
            f"  constraints {{ sct_not_after_sec: {int(CUTOFF.timestamp())} min_version: "
            '"139" }\n  constraints { max_version_exclusive: "139" }',
        ),
        source="x",
    )
    path = lab.path(lab.leaf(CUTOFF - DAY))
    late = CUTOFF + DAY
    assert isinstance(
        check(program, path, earliest_sct=late, chrome_version=(138, 0, 7204)), ProgramTrusted
    )
    for version in ((139,), (140, 0, 1), None):
        verdict = check(program, path, earliest_sct=late, chrome_version=version)
        assert isinstance(verdict, ProgramDistrusted), version
        assert verdict.rule is Rule.SCT_NOT_AFTER  # the rule that matters, not the version
    assert isinstance(check(program, path, earliest_sct=CUTOFF), ProgramTrusted)
    only_old = read_program(
        _program_with(lab, '  constraints { max_version_exclusive: "120.0.1" }'), source="x"
    )
    verdict = check(only_old, path, earliest_sct=None)
    assert isinstance(verdict, ProgramDistrusted) and verdict.rule is Rule.MAX_VERSION
    assert verdict.cutoff == "120.0.1" and verdict.leaf_date is None
    assert isinstance(
        check(only_old, path, earliest_sct=None, chrome_version=(120, 0, 0)), ProgramTrusted
    )


def test_sct_all_after_and_permitted_dns_names(lab: Lab) -> None:
    program = read_program(
        _program_with(
            lab,
            f"  constraints {{ sct_all_after_sec: {int(CUTOFF.timestamp())}\n"
            '    permitted_dns_names: "example.gov" permitted_dns_names: "test" }',
        ),
        source="x",
    )
    inside = lab.path(lab.leaf(CUTOFF, ("a.test", "www.example.gov")))
    assert isinstance(check(program, inside, earliest_sct=CUTOFF + S), ProgramTrusted)
    early = check(program, inside, earliest_sct=CUTOFF)
    assert isinstance(early, ProgramDistrusted) and early.rule is Rule.SCT_ALL_AFTER
    outside = lab.path(lab.leaf(CUTOFF, ("a.test", "example.gov.evil")))
    verdict = check(program, outside, earliest_sct=CUTOFF + S)
    assert isinstance(verdict, ProgramDistrusted) and verdict.rule is Rule.PERMITTED_DNS_NAMES
    assert "example.gov.evil" in verdict.detail


def test_certdata_pairs_trust_by_issuer_and_serial(lab: Lab) -> None:
    # Two certificates of one issuer name (same subject, different serials); only one has a
    # server-auth trust object: only that one is an anchor.
    twin = pki.make_ca(
        "Program Root", key=lab.root.key, not_before=AS_OF - DAY, not_after=AS_OF + DAY
    )
    assert twin.cert.issuer == lab.root.cert.issuer
    assert twin.cert.serial_number != lab.root.cert.serial_number
    data = certdata_txt(
        [
            MozillaRoot(cert=lab.root.cert, label="Program Root"),
            MozillaRoot(cert=twin.cert, label="Twin", server_auth="CKT_NSS_MUST_VERIFY_TRUST"),
            MozillaRoot(cert=lab.other.cert, label="Other", server_auth="CKT_NSS_NOT_TRUSTED"),
        ]
    )
    program = read_program(data, source="x")
    assert set(program.anchors) == {sha256(lab.root.der)}
    # PKCS#11 3.2 trust objects name the certificate by its SHA-256 instead.
    v32 = certdata_txt(
        [
            MozillaRoot(
                cert=lab.root.cert,
                label="Program Root",
                server_auth="CKT_TRUST_ANCHOR",
                pkcs11_v32=True,
                server_distrust_after=CUTOFF,
            ),
            MozillaRoot(
                cert=twin.cert,
                label="Twin",
                server_auth="CKT_TRUST_MUST_VERIFY_TRUST",
                pkcs11_v32=True,
            ),
        ]
    )
    assert b"CKO_TRUST\n" in v32 and b"CK_OBJECT_CLASS CKO_NSS_TRUST" not in v32
    (anchor,) = read_program(v32, source="x").anchors.values()
    assert anchor.sha256 == sha256(lab.root.der) and anchor.server_distrust_after == CUTOFF
    # Swap the trust objects' order: the pairing is by key, not by position.
    text = data.decode()
    head, *entries = text.split("\n#\n# Certificate ")
    swapped = (head + "".join("\n#\n# Certificate " + e for e in reversed(entries))).encode()
    assert set(read_program(swapped, source="x").anchors) == {sha256(lab.root.der)}


# --- everything else is refused ------------------------------------------------------------

REFUSED = {
    "empty": b"",
    "pem": Path(certifi.where()).read_bytes()[:4000],
    "binary": bytes(range(256)),
    "json": b'{"operators": []}',
    "csv": b"host,port\nexample.com,443\n",
    "textproto without anchors": b"version_major: 3\n",
    "textproto syntax": b'trust_anchors {\n  sha256_hex: "ab"\n',
    "bad sha256": b'trust_anchors { sha256_hex: "abc" }',
    "unknown constraint": (
        b'trust_anchors { sha256_hex: "' + b"a" * 64 + b'" constraints { sct_in_future: 1 } }'
    ),
    "bad seconds": (
        b'trust_anchors { sha256_hex: "' + b"a" * 64 + b'" constraints { sct_not_after_sec: -1 } }'
    ),
    "bad version": (
        b'trust_anchors { sha256_hex: "' + b"a" * 64 + b'" constraints { min_version: "x" } }'
    ),
    "certdata no objects": b"BEGINDATA\nCKA_CLASS CK_OBJECT_CLASS CKO_NSS_BUILTIN_ROOT_LIST\n",
    "certdata no END": b"BEGINDATA\nCKA_CLASS CK_OBJECT_CLASS CKO_CERTIFICATE\n"
    b"CKA_VALUE MULTILINE_OCTAL\n\\060\\001\n",
    "certdata octal over a byte": b"BEGINDATA\nCKA_CLASS CK_OBJECT_CLASS CKO_CERTIFICATE\n"
    b"CKA_VALUE MULTILINE_OCTAL\n\\777\nEND\n",
    "too large": b"#" * (16 * 1024 * 1024 + 1),
    "certdata garbage line": b"BEGINDATA\nCKA_CLASS CK_OBJECT_CLASS CKO_CERTIFICATE\nhello\n",
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_other_content_is_refused_naming_the_file(name: str) -> None:
    with pytest.raises(RootProgramError) as e:
        read_program(REFUSED[name], source="/etc/programs/mine.txt")
    assert isinstance(e.value, TrustStoreError) and isinstance(e.value, ScannerError)
    assert str(e.value).startswith("/etc/programs/mine.txt: ")


def test_certdata_bad_certificate_and_distrust_date(lab: Lab) -> None:
    good = certdata_txt([MozillaRoot(cert=lab.root.cert, label="Program Root")]).decode()
    der_octal = good.split("CKA_VALUE MULTILINE_OCTAL\n")[1].split("\nEND")[0]
    broken = good.replace(der_octal, "\\060\\003\\002\\001\\000")
    with pytest.raises(RootProgramError, match="'Program Root' cannot be read"):
        read_program(broken.encode(), source="x")
    bad_date = good.replace(
        "CKA_NSS_SERVER_DISTRUST_AFTER CK_BBOOL CK_FALSE",
        "CKA_NSS_SERVER_DISTRUST_AFTER MULTILINE_OCTAL\n\\061\\062\nEND",
    )
    with pytest.raises(RootProgramError, match="not a UTCTime"):
        read_program(bad_date.encode(), source="x")


def test_chrome_anchor_given_as_der(lab: Lab) -> None:
    escaped = "".join(f"\\{b:03o}" for b in lab.root.der)
    program = read_program(f'trust_anchors {{ der: "{escaped}" }}'.encode(), source="x")
    (anchor,) = program.anchors.values()
    assert anchor.sha256 == sha256(lab.root.der) and anchor.der == lab.root.der


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.text(alphabet='trust_anchors{}:"<>[],;#0x9 \n\\sha256_hex', max_size=200).map(
            str.encode
        ),
        st.text(
            alphabet="BEGINDATA\nCKA_CLASS CK_OBJECT_CLASS CKO_CERTIFICATE\\0123END", max_size=300
        ).map(lambda t: ("BEGINDATA\nCKA_CLASS " + t).encode()),
    )
)
def test_any_content_reads_or_is_refused(data: bytes) -> None:
    try:
        read_program(data, source="fuzz")
    except RootProgramError as e:
        assert str(e).startswith("fuzz: ")


# --- the text format reader -------------------------------------------------------------


def test_textproto_subset() -> None:
    msg = tp.parse(
        '# c\na: 1 b: -0x10, c: "x\\"y\\101\\x42" \'z\'; d < e: true > f { } g: [1, 2]\n'
        "g: [] h: ENUM_NAME"
    )
    values = {f.name: f.value for f in msg.fields}
    assert values["a"] == 1 and values["b"] == -16
    assert values["c"] == 'x"yABz'
    assert values["d"] == tp.Message((tp.Field("e", tp.Ident("true"), 2),))
    assert values["f"] == tp.Message(())
    assert msg.all("g") == [1, 2] and values["h"] == tp.Ident("ENUM_NAME")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: ", 1),
        ("a {\n b: 1\n", 2),
        ("a: 1.5", 1),
        ("\n\na: @", 3),
        ("a 1", 1),
        ("a: [1 2]", 1),
        ('a: "\\q"', 1),
        ("}", 1),
    ],
)
def test_textproto_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(tp.TextprotoError, match=f"line {line}"):
        tp.parse(text)


def test_textproto_depth_is_bounded() -> None:
    deep = "a { " * (tp.MAX_DEPTH + 1) + "}" * (tp.MAX_DEPTH + 1)
    with pytest.raises(tp.TextprotoError, match="nested deeper"):
        tp.parse(deep)
    ok = "a { " * tp.MAX_DEPTH + "}" * tp.MAX_DEPTH
    assert tp.parse(ok).fields[0].name == "a"
