"""The prober's plan (pure): which hellos for which server, and what it concludes. Each
server here is a policy (versions, suites in its order, groups) answering each probe the way
RFC 5246/8446 servers (and OpenSSL's choice of key share) do; the real-server tests are in
tests/integration/test_hello_probe.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from scanner.model.suites import SSL2_CIPHER_KINDS, SUITES, Protocol, WeakClass
from scanner.net.hello.codec import Offer, SSL2ClientHello
from scanner.net.hello.outcome import (
    Accepted,
    Failed,
    Outcome,
    RefusalKind,
    Refused,
    Retried,
    SSL2Accepted,
)
from scanner.net.hello.plan import (
    PQ_GROUPS,
    X25519,
    X25519MLKEM768,
    PlanConfig,
    Probe,
    drive,
    plan,
)

P256, P384 = 0x0017, 0x0018
LEAF = b"leaf-with-sni"
DEFAULT_LEAF = b"default-leaf"
HANDSHAKE_FAILURE, PROTOCOL_VERSION = 40, 70


@dataclass
class Policy:
    suites: dict[Protocol, tuple[int, ...]]  # in the server's order
    groups: tuple[int, ...] = (X25519, P256, P384)
    server_order: bool = True
    ssl2: tuple[int, ...] = ()
    drops_large_hellos: bool = False
    probes: list[Probe] = field(default_factory=list)

    def __call__(self, probe: Probe) -> Outcome:
        self.probes.append(probe)
        hello = probe.hello
        if isinstance(hello, SSL2ClientHello):
            common = tuple(k for k in self.ssl2 if k in hello.cipher_kinds)
            if not common:
                return Refused(kind=RefusalKind.CLOSED)
            return SSL2Accepted(cipher_kinds=common, certificate=b"cert")
        if self.drops_large_hellos and probe.segment:
            return Failed(detail="the server reset the connection")
        return self._tls(hello)

    def _tls(self, hello: Offer) -> Outcome:
        if Protocol.TLS1_3 in hello.versions and Protocol.TLS1_3 in self.suites:
            return self._tls13(hello)
        legacy = min(hello.highest, Protocol.TLS1_2)
        spoken = [v for v in self.suites if v is not Protocol.TLS1_3 and v <= legacy]
        if not spoken:
            return Refused(kind=RefusalKind.ALERT, alert=PROTOCOL_VERSION)
        version = max(spoken)
        if version < min(hello.versions):
            return Refused(kind=RefusalKind.VERSION, version=version)
        suite = self._pick(hello.suites, self.suites[version])
        if suite is None:
            return Refused(kind=RefusalKind.ALERT, alert=HANDSHAKE_FAILURE)
        group = None
        if SUITES[suite].kx == "ECDH":
            common = [g for g in self.groups if g in hello.groups]
            if not common:
                return Refused(kind=RefusalKind.ALERT, alert=HANDSHAKE_FAILURE)
            group = common[0]
        return Accepted(
            version=version,
            suite=suite,
            group=group,
            chain=(LEAF if hello.sni else DEFAULT_LEAF,),
        )

    def _tls13(self, hello: Offer) -> Outcome:
        suite = self._pick(hello.suites, self.suites[Protocol.TLS1_3])
        if suite is None:
            return Refused(kind=RefusalKind.ALERT, alert=HANDSHAKE_FAILURE)
        # OpenSSL: the first client share the server supports; else an HRR for its choice
        shares = [g for g in hello.key_shares if g in self.groups]
        if shares:
            return Accepted(version=Protocol.TLS1_3, suite=suite, group=shares[0])
        common = [g for g in self.groups if g in hello.groups]
        if not common:
            return Refused(kind=RefusalKind.ALERT, alert=HANDSHAKE_FAILURE)
        return Retried(suite=suite, group=common[0])

    def _pick(self, offered: tuple[int, ...], mine: tuple[int, ...]) -> int | None:
        if self.server_order:
            return next((c for c in mine if c in offered), None)
        return next((c for c in offered if c in mine), None)


TLS13 = (0x1302, 0x1301, 0x1303)
MODERN12 = (0xC030, 0xC02F, 0xC028, 0xC014, 0xC013)  # ECDHE-RSA GCM, then CBC
LEGACY10 = (0x0035, 0x000A, 0x0005, 0x0003, 0x0018)  # RSA AES-CBC, 3DES, RC4, export, anon RC4


def modern(**kw: object) -> Policy:
    return Policy(suites={Protocol.TLS1_3: TLS13, Protocol.TLS1_2: MODERN12}, **kw)  # type: ignore[arg-type]


def test_modern_server() -> None:
    policy = modern(groups=(X25519MLKEM768, X25519, P256, P384))
    facts, sent = drive(plan(PlanConfig(sni="a.example")), policy)
    assert facts.versions == {
        Protocol.SSL2: False,
        Protocol.SSL3: False,
        Protocol.TLS1_0: False,
        Protocol.TLS1_1: False,
        Protocol.TLS1_2: True,
        Protocol.TLS1_3: True,
    }
    assert facts.classes[Protocol.TLS1_2] == {WeakClass.CBC}
    assert facts.classes[Protocol.TLS1_3] == frozenset()
    assert facts.cipher_classes == {WeakClass.CBC}
    # x25519 chosen from the TLS 1.3 probe's share; the rest by elimination
    assert facts.groups == (X25519, X25519MLKEM768, P256, P384)
    assert facts.pq_kex is True and facts.large_hello_ok is True
    assert facts.server_preference is True
    assert facts.chain == (LEAF,) and facts.nosni_chain == (DEFAULT_LEAF,)
    assert facts.flight_read and facts.failures == ()
    assert facts.suites is None
    assert sent == len(policy.probes)
    # one hello per version down to TLS 1.1 (its protocol_version alert answers TLS 1.0 and
    # SSL 3.0) and SSL 2.0, two for weak classes, four for groups (x25519 already seen), pq,
    # one preference check (the second suite came from the weak-class probe), no-SNI leaf
    assert sent == 4 + 2 + 4 + 1 + 1 + 1
    groups = [p.hello for p in policy.probes if p.purpose == "groups"]
    assert all(isinstance(h, Offer) and X25519 not in h.groups for h in groups)


def test_a_protocol_version_alert_answers_every_lower_version() -> None:
    """RFC 5246 E.1: a server willing to speak a lower version answers with it; its
    protocol_version alert says it speaks only higher ones. SSL 2.0 is still asked."""
    policy = Policy(suites={Protocol.TLS1_3: TLS13})
    facts, _ = drive(plan(PlanConfig(sni=None)), policy)
    assert [p.purpose for p in policy.probes][:3] == ["tls1_3", "tls1_2", "ssl2"]
    assert facts.versions == {v: v is Protocol.TLS1_3 for v in Protocol}


def test_other_refusals_leave_lower_versions_to_their_own_probes() -> None:
    """A handshake_failure alert, a close or a reset on the TLS 1.1 hello (an intolerant or
    picky server) says nothing of TLS 1.0: it is asked."""
    policy = Policy(suites={Protocol.TLS1_2: MODERN12, Protocol.TLS1_0: LEGACY10})
    refusals = [
        Refused(kind=RefusalKind.ALERT, alert=HANDSHAKE_FAILURE),
        Refused(kind=RefusalKind.CLOSED),
    ]
    for refusal in refusals:

        def answer(probe: Probe, refusal: Refused = refusal) -> Outcome:
            return refusal if probe.purpose == "tls1_1" else policy(probe)

        policy.probes.clear()
        facts, _ = drive(plan(PlanConfig(sni=None)), answer)
        assert facts.versions[Protocol.TLS1_1] is False and facts.versions[Protocol.TLS1_0]
        assert "tls1_0" in [p.purpose for p in policy.probes]


def test_groups_already_chosen_are_not_asked_again() -> None:
    """A TLS 1.2-only server: the curve its ServerKeyExchange named to the version probe is
    known; the elimination offers the rest only."""
    policy = Policy(suites={Protocol.TLS1_2: MODERN12}, groups=(P256, X25519))
    facts, _ = drive(plan(PlanConfig(sni=None)), policy)
    assert facts.groups == (P256, X25519)
    groups = [p.hello for p in policy.probes if p.purpose == "groups"]
    assert len(groups) == 2  # x25519 named, then a refusal
    assert all(isinstance(h, Offer) and P256 not in h.groups for h in groups)


def test_client_order_server_has_no_preference() -> None:
    facts, _ = drive(plan(PlanConfig(sni=None)), modern(server_order=False))
    assert facts.server_preference is False
    assert facts.nosni_chain == facts.chain == (DEFAULT_LEAF,)


def test_no_pq_server() -> None:
    facts, _ = drive(plan(PlanConfig(sni="a.example")), modern(groups=(P256, X25519)))
    assert facts.pq_kex is False and facts.groups == (X25519, P256)


def test_large_hello_intolerance_is_confirmed_by_a_small_control() -> None:
    policy = modern(drops_large_hellos=True)
    facts, _ = drive(plan(PlanConfig(sni="a.example")), policy)
    assert facts.large_hello_ok is False and facts.pq_kex is None
    assert any(f.startswith("large_hello:") for f in facts.failures)
    pq = [p for p in policy.probes if p.purpose.startswith("pq_kex")]
    assert [p.segment > 0 for p in pq] == [True, False]
    assert isinstance(pq[0].hello, Offer) and X25519MLKEM768 in pq[0].hello.key_shares
    assert isinstance(pq[1].hello, Offer) and X25519MLKEM768 not in pq[1].hello.key_shares


def test_legacy_server_weak_classes_per_version() -> None:
    policy = Policy(
        suites={Protocol.TLS1_0: LEGACY10, Protocol.SSL3: LEGACY10[:3]},
        ssl2=(0x0700C0, 0x020080),
    )
    facts, sent = drive(plan(PlanConfig(sni="old.example")), policy)
    assert facts.versions[Protocol.TLS1_0] and facts.versions[Protocol.SSL3]
    assert facts.versions[Protocol.SSL2] and not facts.versions[Protocol.TLS1_2]
    assert facts.classes[Protocol.TLS1_0] == {
        WeakClass.CBC,
        WeakClass.NO_FS,
        WeakClass.TRIPLE_DES,
        WeakClass.RC4,
        WeakClass.EXPORT,
        WeakClass.ANON,
    }
    assert facts.classes[Protocol.SSL3] == {
        WeakClass.CBC,
        WeakClass.NO_FS,
        WeakClass.TRIPLE_DES,
        WeakClass.RC4,
    }
    assert facts.classes[Protocol.SSL2] == (
        SSL2_CIPHER_KINDS[0x0700C0].classes | SSL2_CIPHER_KINDS[0x020080].classes
    )
    assert facts.ssl2_kinds == (0x0700C0, 0x020080)
    assert facts.groups == ()  # no ECDHE suite at all
    assert facts.pq_kex is None and facts.large_hello_ok is None  # neither TLS 1.2 nor 1.3
    assert sent < 30


def test_a_lower_version_server_hello_answers_that_version() -> None:
    policy = Policy(suites={Protocol.TLS1_2: MODERN12, Protocol.TLS1_0: (0xC013,)})
    facts, _ = drive(plan(PlanConfig(sni=None)), policy)
    assert facts.versions[Protocol.TLS1_1] is False and facts.versions[Protocol.TLS1_0] is True
    probed = [p.purpose for p in policy.probes]
    assert "tls1_1" in probed and "tls1_0" not in probed


def test_cipher_enumeration_in_the_servers_order() -> None:
    policy = modern()
    facts, sent = drive(plan(PlanConfig(sni="a.example", ciphers=True)), policy)
    assert facts.suites is not None
    assert facts.suites[Protocol.TLS1_2] == MODERN12
    assert facts.suites[Protocol.TLS1_3] == TLS13
    assert facts.classes[Protocol.TLS1_2] == {WeakClass.CBC}
    assert facts.server_preference is True
    enumeration = [p for p in policy.probes if p.purpose.startswith("ciphers")]
    assert len(enumeration) == len(MODERN12) + len(
        TLS13
    )  # each found suite + one refusal each - the first


def test_cipher_enumeration_with_client_order_finds_the_same_set() -> None:
    facts, _ = drive(plan(PlanConfig(sni=None, ciphers=True)), modern(server_order=False))
    assert facts.suites is not None
    assert set(facts.suites[Protocol.TLS1_2] or ()) == set(MODERN12)
    assert facts.server_preference is False


def test_hrr_loop_ends() -> None:
    """A server that names the same group in every HelloRetryRequest, whatever is offered."""
    policy = modern()
    calls = []

    def answer(probe: Probe) -> Outcome:
        calls.append(probe)
        if probe.purpose == "groups":
            return Retried(suite=0x1301, group=X25519)
        return policy(probe)

    facts, sent = drive(plan(PlanConfig(sni=None)), answer)
    assert facts.groups == (X25519,)
    # x25519 is known from the TLS 1.3 probe's share: named again, it ends the elimination
    assert len([p for p in calls if p.purpose == "groups"]) == 1


def test_every_probe_failing_leaves_everything_unknown() -> None:
    facts, sent = drive(plan(PlanConfig(sni="x.example")), lambda p: Failed(detail="timeout"))
    assert set(facts.versions.values()) == {None}
    assert facts.groups is None and facts.pq_kex is None and facts.server_preference is None
    assert len(facts.failures) == sent == 6


def test_pq_offer_is_a_browser_sized_split_hello() -> None:
    policy = modern()
    drive(plan(PlanConfig(sni="a.example", large_hello=1900, segment=1000)), policy)
    (pq,) = [p for p in policy.probes if p.purpose == "pq_kex"]
    assert isinstance(pq.hello, Offer)
    assert pq.hello.groups == PQ_GROUPS and pq.hello.pad_to == 1900 and pq.segment == 1000


def test_lean_plan_asks_fewer_questions_and_says_what_it_did_not_ask() -> None:
    suites = {Protocol.TLS1_3: TLS13, Protocol.TLS1_2: MODERN12, Protocol.TLS1_0: LEGACY10}
    full, full_sent = drive(plan(PlanConfig(sni=None)), Policy(suites=suites))
    lean_cfg = PlanConfig(sni=None, classes_every_version=False, groups=False)
    lean, lean_sent = drive(plan(lean_cfg), Policy(suites=suites))
    assert lean.groups is None and full.groups == (X25519, P256, P384)
    assert lean.classes[Protocol.TLS1_2] == full.classes[Protocol.TLS1_2] == {WeakClass.CBC}
    assert lean.classes[Protocol.TLS1_0] is None
    assert WeakClass.RC4 in (full.classes[Protocol.TLS1_0] or ())
    assert lean.versions == full.versions and lean.pq_kex == full.pq_kex
    assert lean_sent < full_sent - 4


def test_version_stands_when_its_certificate_was_not_read() -> None:
    policy = modern()

    def answer(probe: Probe) -> Outcome:
        o = policy(probe)
        if probe.read_flight and isinstance(o, Accepted):
            return Accepted(version=o.version, suite=o.suite, group=o.group, incomplete="stalled")
        return o

    facts, _ = drive(plan(PlanConfig(sni="a.example")), answer)
    assert facts.versions[Protocol.TLS1_2] is True
    assert facts.chain is None and not facts.flight_read
    assert "tls1_2: the certificate was not read: stalled" in facts.failures


def test_a_post_quantum_only_tls13_server_is_seen() -> None:
    """The TLS 1.3 probe names every group, so a server with none of the classic ones still
    answers (a HelloRetryRequest for its hybrid group) instead of refusing."""
    policy = Policy(suites={Protocol.TLS1_3: TLS13}, groups=(X25519MLKEM768,))
    facts, _ = drive(plan(PlanConfig(sni=None)), policy)
    assert facts.versions[Protocol.TLS1_3] is True
    assert facts.groups == (X25519MLKEM768,) and facts.pq_kex is True


def test_a_tls10_only_server_still_gives_its_chain() -> None:
    """Its ServerHello for TLS 1.0 answers the TLS 1.2 and 1.1 probes; the TLS 1.0 probe is
    still sent, to read the certificate and the suite chosen from everything."""
    policy = Policy(suites={Protocol.TLS1_0: LEGACY10})
    facts, _ = drive(plan(PlanConfig(sni="old.example")), policy)
    assert facts.versions[Protocol.TLS1_0] is True
    assert facts.versions[Protocol.TLS1_2] is False and facts.versions[Protocol.TLS1_1] is False
    assert facts.chain == (LEAF,) and facts.flight_read
    assert facts.server_preference is True
    assert [p.purpose for p in policy.probes].count("tls1_0") == 1
