"""The pieces of issue 20 together, as the scan will use them: a lab hierarchy whose leaves
carry SCTs from the lab's logs, the path built by the scanner's own path builder, the earliest
verified SCT fed to a lab Chrome root store and Mozilla certdata with a cutoff between two
leaves of one root. Expected verdicts come from the leaves' construction, and the SCT that
decides is verified here with cryptography directly."""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from scanner.testing import ctlab, pki
from scanner.testing.programlab import (
    ChromeRoot,
    MozillaRoot,
    certdata_txt,
    root_store_textproto,
)
from scanner.x509 import certs, ct, lifetime, paths
from scanner.x509.memo import Memo
from scanner.x509.programs import RootProgram, read_program
from scanner.x509.programs.check import (
    LeafDate,
    ProgramDistrusted,
    ProgramTrusted,
    Rule,
    Verdict,
    check,
)

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CUTOFF = dt.datetime(2026, 3, 31, 23, 59, 59, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
S = dt.timedelta(seconds=1)


class World:
    def __init__(self) -> None:
        start = AS_OF - 2000 * DAY
        self.root = pki.make_ca("Distrusted Root", not_before=start, not_after=AS_OF + 3000 * DAY)
        self.ca = pki.make_ca(
            "Distrusted CA", issuer=self.root, not_before=start, not_after=AS_OF + 3000 * DAY
        )
        self.logs = ctlab.lab_logs()
        self.log_list = ct.read_log_list(
            ctlab.log_list_json(self.logs, timestamp=AS_OF), source="lab-logs.json"
        )
        self.trust = certs.load_trust_store(self.root.pem, "lab-roots.pem")
        self.chrome = read_program(
            root_store_textproto(
                [ChromeRoot(cert=self.root.cert, label="Distrusted Root", sct_not_after=CUTOFF)]
            ),
            source="lab-root_store.textproto",
        )
        self.mozilla = read_program(
            certdata_txt(
                [
                    MozillaRoot(
                        cert=self.root.cert,
                        label="Distrusted Root",
                        server_distrust_after=CUTOFF,
                    )
                ]
            ),
            source="lab-certdata.txt",
        )

    def leaf(
        self, issued: dt.datetime, sct_at: dt.datetime, *, forge: bool = False
    ) -> ctlab.CtLeaf:
        return ctlab.issue(
            self.ca,
            [(self.logs[0], sct_at), (self.logs[2], sct_at + 2 * S)],
            dns_names=["www.distrusted.test"],
            not_before=issued,
            not_after=issued + 90 * DAY,
            forge=forge,
        )


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def judged(world: World, leaf: ctlab.CtLeaf, program: RootProgram) -> tuple[Verdict, ct.CtSummary]:
    memo = Memo()
    chain = paths.parse_chain([leaf.issued.der, world.ca.der], memo)
    path = paths.build_path(chain, world.trust, {}, memo)
    assert path.end is paths.End.ANCHORED
    scts = ct.embedded_scts(path.certs[0])
    checked = ct.check_scts(
        scts, leaf=path.certs[0], issuer=path.certs[1], logs=world.log_list, as_of=AS_OF
    )
    span = path.certs[0].not_valid_after_utc - path.certs[0].not_valid_before_utc
    summary = ct.summarize(checked, lifetime=span, have_log_list=True)
    return check(program, path.certs, earliest_sct=ct.earliest_sct(checked)), summary


def test_chrome_cutoff_between_two_leaves_of_one_root(world: World) -> None:
    before = world.leaf(CUTOFF - 2 * DAY, CUTOFF - 2 * S)  # SCTs at cutoff-2s and cutoff
    after = world.leaf(CUTOFF - 2 * DAY, CUTOFF + S)  # the same day, one second late
    verdict, summary = judged(world, before, world.chrome)
    assert isinstance(verdict, ProgramTrusted)
    assert summary.ct_compliant is True and summary.sct_valid == 2
    verdict, summary = judged(world, after, world.chrome)
    assert isinstance(verdict, ProgramDistrusted)
    assert verdict.rule is Rule.SCT_NOT_AFTER
    assert verdict.leaf_date == CUTOFF + S and verdict.leaf_date_source is LeafDate.EARLIEST_SCT
    assert verdict.root_sha256 == hashlib.sha256(world.root.der).hexdigest()
    assert summary.ct_compliant is True  # CT compliant, and distrusted all the same
    # The deciding SCT, verified here without the scanner.
    first = after.scts[0]
    timestamp_ms = struct.unpack(">Q", first[33:41])[0]
    assert timestamp_ms == ctlab.ms(CUTOFF + S)
    sig_len = struct.unpack(">H", first[45:47])[0]
    signature = first[47 : 47 + sig_len]
    spki = world.ca.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tbs = after.cert.tbs_precertificate_bytes
    data = (
        struct.pack(">BBQH", 0, 0, timestamp_ms, 1)
        + hashlib.sha256(spki).digest()
        + len(tbs).to_bytes(3, "big")
        + tbs
        + b"\x00\x00"
    )
    key = world.logs[0].key.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def test_a_forged_early_sct_does_not_buy_trust(world: World) -> None:
    # SCTs dated before the cutoff, but not signed by the logs they name: not verified, so
    # they cannot stand for the leaf's date; the notBefore (after the cutoff) does.
    forged = world.leaf(CUTOFF + DAY, CUTOFF - 30 * DAY, forge=True)
    verdict, summary = judged(world, forged, world.chrome)
    assert summary.sct_valid == 0 and len(summary.invalid) == 2
    assert summary.ct_compliant is False
    assert isinstance(verdict, ProgramDistrusted)
    assert verdict.leaf_date_source is LeafDate.NOT_BEFORE and verdict.leaf_date == CUTOFF + DAY


def test_mozilla_cutoff_between_two_leaves_of_one_root(world: World) -> None:
    at_cutoff = world.leaf(CUTOFF, CUTOFF - DAY)
    late = world.leaf(CUTOFF + S, CUTOFF - DAY)  # early SCTs do not matter to Mozilla
    assert isinstance(judged(world, at_cutoff, world.mozilla)[0], ProgramTrusted)
    verdict = judged(world, late, world.mozilla)[0]
    assert isinstance(verdict, ProgramDistrusted)
    assert verdict.rule is Rule.SERVER_DISTRUST_AFTER and verdict.leaf_date == CUTOFF + S


def test_lifetime_of_the_lab_leaves(world: World) -> None:
    leaf = world.leaf(AS_OF - DAY, AS_OF - DAY)
    nb, na = leaf.cert.not_valid_before_utc, leaf.cert.not_valid_after_utc
    # notAfter = notBefore + 90 days: 90 days and one second as the BR count.
    assert lifetime.lifetime_days(nb, na) == pytest.approx(90 + 1 / 86400)
    assert lifetime.judge(nb, na, publicly_trusted=True) == ()


# --- the programs as the scan loads them (--root-program NAME=FILE) --------------------------


def test_chrome_anchors_are_found_in_the_scans_stores(world: World, tmp_path: Path) -> None:
    from scanner.store.programs import load_programs

    chrome = tmp_path / "root_store.textproto"
    chrome.write_bytes(
        root_store_textproto([ChromeRoot(cert=world.root.cert, label="R", sct_not_after=CUTOFF)])
    )
    (alone,) = load_programs([("chrome", chrome)], known=[])
    assert alone.trust is None and alone.requires_ct  # named by hash only: nothing to build to
    (found,) = load_programs([("chrome", chrome)], known=world.trust.roots)
    assert found.trust is not None and found.trust.roots == (world.root.cert,)
    # A certdata.txt program of the same scan carries certificates for the textproto too.
    mozilla = tmp_path / "certdata.txt"
    mozilla.write_bytes(certdata_txt([MozillaRoot(cert=world.root.cert, label="R")]))
    both = load_programs([("chrome", chrome), ("mozilla", mozilla)], known=[])
    assert [p.trust is not None for p in both] == [True, True]
    assert not both[1].requires_ct
    # The memo tells the programs' stores apart from the file and the anchors found.
    assert len({p.trust.sha256 for p in both if p.trust} | {world.trust.sha256}) == 3


@pytest.mark.parametrize(
    ("specs", "taken", "why"),
    [
        ([("a", "x"), ("a", "y")], [], "the name a is given more than once"),
        ([("java", "x")], ["java"], "the name java is given more than once"),
    ],
)
def test_program_names_are_unique(specs: list[tuple[str, str]], taken: list[str], why: str) -> None:
    from scanner.errors import UsageError
    from scanner.store.programs import load_programs

    with pytest.raises(UsageError, match=why):
        load_programs([(n, Path(p)) for n, p in specs], known=[], taken=taken)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("chrome", "expected NAME=FILE"),
        ("=x", "a name is 1-40"),
        ("default=x", "'default' is the --ca-bundle store"),
        ("a b=x", "a name is 1-40"),
    ],
)
def test_root_program_option_text(text: str, why: str) -> None:
    from scanner.errors import UsageError
    from scanner.store.programs import parse_root_program

    with pytest.raises(UsageError, match=why):
        parse_root_program(text)
    assert parse_root_program(" chrome = a/root_store.textproto") == (
        "chrome",
        Path("a/root_store.textproto"),
    )


def test_an_unreadable_file_is_a_trust_store_error(tmp_path: Path) -> None:
    from scanner.errors import TrustStoreError
    from scanner.store.programs import load_log_list, load_programs

    with pytest.raises(TrustStoreError, match="cannot read root program"):
        load_programs([("x", tmp_path / "missing")], known=[])
    with pytest.raises(TrustStoreError, match="cannot read log list"):
        load_log_list(tmp_path / "missing.json")
    assert load_log_list(None) is None


# --- SCTs delivered beside the certificate (the prober's TLS extension and stapled OCSP) ----


def test_delivered_scts_count_towards_the_policy(world: World) -> None:
    from scanner.x509 import browsers
    from scanner.x509.context import DiagnosisContext
    from scanner.x509.diagnose import diagnose

    leaf = pki.make_leaf(
        world.ca, dns_names=["tls.test"], not_before=AS_OF - DAY, not_after=AS_OF + 89 * DAY
    )
    chain = [leaf.der, world.ca.der]
    ctx = DiagnosisContext(trust=world.trust, as_of=AS_OF, log_list=world.log_list)
    d = diagnose(chain, host="tls.test", is_ip=False, ctx=ctx)
    alone, found = browsers.judge(chain, host="tls.test", is_ip=False, diagnosis=d, ctx=ctx)
    assert alone is not None and (alone.sct_count, alone.ct_compliant) == (0, False)
    assert [f.code for f in found] == ["ct_noncompliant"]
    tls = ctlab.x509_scts(leaf.cert, [(world.logs[0], AS_OF - DAY)])
    ocsp = ct.parse_sct_list(
        ctlab.x509_scts(leaf.cert, [(world.logs[2], AS_OF - DAY)]), ct.SctSource.OCSP
    )
    extra = browsers.delivered_scts(tls, ocsp)
    assert [s.source.value for s in extra] == ["tls_extension", "ocsp"]
    view, found = browsers.judge(
        chain, host="tls.test", is_ip=False, diagnosis=d, ctx=ctx, extra_scts=extra
    )
    assert view is not None and (view.sct_count, view.sct_valid, view.sct_operators) == (2, 2, 2)
    assert view.ct_compliant is True and found == ()
    assert browsers.delivered_scts(b"\x00\x05junk") == ()  # malformed: none
    assert browsers.delivered_scts(b"\x00\x05junk", ocsp) == ocsp  # the stapled ones stay
