"""Whether a CAA record set permits the issuing CA (scanner.analysis.caa): CCADB's "CAA
Identifiers" report (V2) read from an excerpt in its published format, the CA found by key
identifier up the path, and RFC 8659's rules as a named table."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from scanner.analysis.caa import (
    CaaRecord,
    ReportError,
    forbids_finding,
    issuer_domain,
    issuing_ca,
    judge,
    key_ids_up_path,
    permits,
    read_report,
)
from scanner.errors import ScannerError
from scanner.model.types import Severity
from scanner.testing.pki import DAY, make_ca, make_leaf
from scanner.x509 import certs
from scanner.x509.memo import Memo
from scanner.x509.paths import build_path, parse_chain

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

# The report's shape as CCADB publishes it (a BOM, quoted fields, comma-separated domains,
# SKI in upper-case hex); the values are the lab's.
REPORT = (
    "\ufeff"
    '"Subject","Subject Key Identifier (Hex)","Intermediate Certificate","Recognized CAA Domains"\n'
    '"CN=Lab Issuing CA, O=Lab","{inter}","Lab Issuing CA","lab-ca.test, LabCA.example"\n'
    '"CN=Lab Root, O=Lab","{root}","Lab Root","lab-root.test"\n'
    '"CN=Lab Issuing CA, O=Lab","{inter}","Lab Issuing CA (renewed)","lab-ca-2.test"\n'
    '"CN=No Domains CA","AA:BB","No Domains CA",""\n'
    '"CN=No SKI CA","","No SKI CA","nowhere.test"\n'
)


class Chain:
    def __init__(self) -> None:
        far = dict(not_before=AS_OF - 100 * DAY, not_after=AS_OF + 1000 * DAY)
        self.root = make_ca("Lab Root", **far)
        self.inter = make_ca("Lab Issuing CA", issuer=self.root, **far)
        self.leaf = make_leaf(self.inter, dns_names=["caa.lab.test"], **far)
        memo = Memo()
        parsed = parse_chain([self.leaf.der, self.inter.der], memo)
        trust = certs.load_trust_store(self.root.pem, "root.pem")
        self.path = build_path(parsed, trust, {}, memo).certs

    def ski(self, which: str) -> str:
        cert = getattr(self, which).cert
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain()


def report_for(chain: Chain, inter: str | None = None) -> str:
    return REPORT.format(
        inter=(inter or chain.ski("inter")).upper(),
        root=":".join(chain.ski("root")[i : i + 2] for i in range(0, len(chain.ski("root")), 2)),
    )


def test_read_report(chain: Chain) -> None:
    report = read_report(report_for(chain))
    inter = report[chain.ski("inter")]
    # Two rows of one SKI merge; domains lower-cased and trimmed.
    assert inter.domains == {"lab-ca.test", "labca.example", "lab-ca-2.test"}
    assert inter.subject == "CN=Lab Issuing CA, O=Lab"
    assert report[chain.ski("root")].domains == {"lab-root.test"}  # colons in the hex
    assert set(report) == {chain.ski("inter"), chain.ski("root")}  # no domains / no SKI: out


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Subject,SKI,Domains\nx,aa,b\n",
        '"Subject","Subject Key Identifier (Hex)","Recognized CAA Domains"\n',
    ],
)
def test_not_the_report(text: str) -> None:
    with pytest.raises(ReportError, match="not CCADB's CAA Identifiers report"):
        read_report(text)


def test_key_ids_nearest_first(chain: Chain) -> None:
    ids = key_ids_up_path(chain.path)
    # The leaf's AKI is the issuing CA's SKI; then the root's (the intermediate's AKI).
    assert ids == (chain.ski("inter"), chain.ski("root"))


def test_the_leafs_issuer_is_found_first(chain: Chain) -> None:
    report = read_report(report_for(chain))
    ca = issuing_ca(key_ids_up_path(chain.path), report)
    assert ca is not None and ca.ski == chain.ski("inter")


def test_up_the_path_when_the_issuer_is_not_listed(chain: Chain) -> None:
    report = read_report(report_for(chain, inter="0011"))
    ca = issuing_ca(key_ids_up_path(chain.path), report)
    assert ca is not None and ca.domains == {"lab-root.test"}


def test_no_ca_of_the_path_in_the_report(chain: Chain) -> None:
    assert issuing_ca(key_ids_up_path(chain.path), {}) is None


# --- RFC 8659 --------------------------------------------------------------------------------


def rec(text: str) -> CaaRecord:
    flags, tag, value = text.split(" ", 2)
    return CaaRecord(flags=int(flags), tag=tag, value=value)


CA = {"lab-ca.test"}

# (records, wildcard name?, permits?) -- RFC 8659 section in the id.
CASES = {
    "4-no-records": ([], False, True),
    "4-iodef-only": (["0 iodef mailto:x@y.test"], False, True),
    "4.2-issue-names-ca": (["0 issue lab-ca.test"], False, True),
    "4.2-issue-names-other": (["0 issue other.test"], False, False),
    "4.2-one-of-several": (["0 issue other.test", "0 issue lab-ca.test"], False, True),
    "4.2-case-insensitive": (["0 issue LAB-CA.Test"], False, True),
    "4.2-parameters": (["0 issue lab-ca.test; accounturi=https://x/1"], False, True),
    "4.2-spaces": (["0 issue   lab-ca.test  ;"], False, True),
    "4.2-empty-forbids-all": (["0 issue ;"], False, False),
    "4.2-empty-value": (["0 issue "], False, False),
    "4.2-empty-beside-allowing": (["0 issue ;", "0 issue lab-ca.test"], False, True),
    "4.2-malformed-names-nobody": (["0 issue lab_ca.test"], False, False),
    "4.3-issuewild-ignored-for-plain": (["0 issuewild other.test"], False, True),
    "4.3-issuewild-replaces-issue": (
        ["0 issue lab-ca.test", "0 issuewild other.test"],
        True,
        False,
    ),
    "4.3-issuewild-allows": (["0 issue other.test", "0 issuewild lab-ca.test"], True, True),
    "4.3-wildcard-falls-back-to-issue": (["0 issue lab-ca.test"], True, True),
    "4.3-issuewild-empty": (["0 issuewild ;"], True, False),
    "4.1-critical-unknown-forbids": (["0 issue lab-ca.test", "128 tbs x"], False, False),
    "4.1-critical-known-is-fine": (["128 issue lab-ca.test"], False, True),
    "4.1-unknown-not-critical-ignored": (["0 tbs x", "0 issue lab-ca.test"], False, True),
    "4.1-tag-case": (["0 ISSUE other.test"], False, False),
}


@pytest.mark.parametrize(("records", "wildcard", "expected"), CASES.values(), ids=CASES.keys())
def test_rfc_8659(records: list[str], wildcard: bool, expected: bool) -> None:
    assert permits([rec(r) for r in records], CA, wildcard=wildcard).permits is expected


def test_issuer_domain() -> None:
    assert issuer_domain("Lab-CA.test; x=y") == "lab-ca.test"
    assert issuer_domain(";") is None
    assert issuer_domain("-bad.test") is None


def test_the_finding_names_records_and_identifiers(chain: Chain) -> None:
    report = read_report(report_for(chain))
    ca = issuing_ca(key_ids_up_path(chain.path), report)
    assert ca is not None
    records = [rec("0 issue other.test"), rec("0 iodef mailto:a@b.test")]
    verdict = permits(records, ca.domains, wildcard=False)
    f = forbids_finding("www.shop.test", "shop.test", records, ca, verdict)
    assert (f.code, f.severity) == ("caa_forbids_current_ca", Severity.HIGH)
    assert f.message == (
        'the CAA records of shop.test (for www.shop.test) (0 issue "other.test"; 0 iodef '
        '"mailto:a@b.test") do not allow the issuing CA CN=Lab Issuing CA, O=Lab (CAA '
        "identifiers lab-ca-2.test, lab-ca.test, labca.example): issue allows only other.test"
    )
    assert f.remedy.startswith('Add a CAA record shop.test. CAA 0 issue "lab-ca-2.test"')


def test_judge_gives_the_row_and_the_finding(chain: Chain) -> None:
    report = read_report(report_for(chain))
    ca = issuing_ca(key_ids_up_path(chain.path), report)
    allow = [rec("0 issue lab-ca.test")]
    wild_only = [rec("0 issue other.test"), rec("0 issuewild lab-ca.test")]
    assert judge("shop.test", "shop.test", allow, ca).permits_issuer is True
    assert judge("shop.test", "shop.test", allow, ca).caa == ('0 issue "lab-ca.test"',)
    plain = judge("shop.test", "shop.test", wild_only, ca)
    assert plain.permits_issuer is False and plain.finding is not None
    assert plain.finding.remedy.startswith('Add a CAA record shop.test. CAA 0 issue "')
    wild = judge("*.shop.test", "shop.test", wild_only, ca)
    assert (wild.permits_issuer, wild.finding) == (True, None)
    nobody = judge("*.shop.test", "shop.test", [rec("0 issuewild ;")], ca)
    assert nobody.finding is not None and "CAA 0 issuewild" in nobody.finding.remedy
    # No CA of the path in the report: unknown, never a finding.
    assert judge("shop.test", "shop.test", allow, None) == type(plain)(
        caa=('0 issue "lab-ca.test"',), permits_issuer=None, finding=None
    )
    # No CAA anywhere: any CA may issue.
    assert judge("shop.test", None, [], ca).permits_issuer is True


def test_a_bad_report_is_an_environment_error() -> None:
    assert issubclass(ReportError, ScannerError)  # one `error:` line and exit 2 in the CLI
