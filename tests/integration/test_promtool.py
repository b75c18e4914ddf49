"""Monitoring that passes its own tools: the scanner's real metrics (a lab scan) pass
`promtool check metrics`; the alert rules (examples/alerts.yml) pass `promtool check rules`
and, fed series, fire with the right words (`promtool test rules`: an expired leaf says
"expired 35 days ago", never "expires in -35 days"); every PromQL expression of the Grafana
dashboard (docs/grafana/tls-fleet.json) parses (`promtool check rules` on a rules file made
of them) and every expression, dashboard's or alert's, names only metrics the scanner writes.

promtool comes from Debian's prometheus package (scripts/ensure-promtool, run by .ci/run)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "alerts.yml"
DASHBOARD = ROOT / "docs" / "grafana" / "tls-fleet.json"
PROMETHEUS_PAGE = ROOT / "docs" / "howto" / "prometheus.md"
PROMTOOL = shutil.which("promtool")
Cli = Callable[[Sequence[Any]], Result]
METRIC = re.compile(r"\btls_scanner_[a-z_]+\b")

pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (scripts/ensure-promtool installs Debian's prometheus)",
)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def exposition(cli: Cli, lab_scan: Any) -> str:
    """`scanner metrics` of the whole lab's scan (every address of its round-robin name,
    two trust stores, revocation checked), with a carried label."""
    result = cli(["metrics", lab_scan.out, "--metrics-label", "owner"])
    assert result.exit_code == 0, result.output
    return result.stdout


def written_names(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard, rows' panels included."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = list(board["panels"])
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", ()))
        for target in panel.get("targets", ()):
            yield panel["title"], target["expr"]


def alert_rules() -> list[dict[str, str]]:
    """Each rule's name and expression (one line each in the file; no YAML library needed)."""
    text = ALERTS.read_text(encoding="utf-8")
    names = re.findall(r"^\s+- alert: (\S+)$", text, re.M)
    exprs = re.findall(r"^\s+expr: (.+)$", text, re.M)
    assert len(names) == len(exprs)
    return [{"alert": n, "expr": e} for n, e in zip(names, exprs, strict=True)]


def test_the_scanners_metrics_pass_promtool(exposition: str) -> None:
    result = promtool("check", "metrics", stdin=exposition)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == "", "promtool has nothing to say"
    names = written_names(exposition)
    assert "tls_scanner_certificate_expiry_seconds" in names
    assert "tls_scanner_certificate_revoked" in names
    assert not [n for n in names if "days" in n]


def test_alert_rules_pass_promtool_and_use_written_metrics(exposition: str) -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    rules = alert_rules()
    assert len(rules) >= 4 and f"SUCCESS: {len(rules)} rules found" in result.stdout
    names = written_names(exposition)
    for rule in rules:
        used = set(METRIC.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= names, (rule["alert"], used - names)
    # The docs page points at the file, and the site includes it as it is (a snippet), instead
    # of keeping a copy that could drift.
    page = PROMETHEUS_PAGE.read_text(encoding="utf-8")
    assert "examples/alerts.yml" in page and '--8<-- "examples/alerts.yml"' in page
    assert "- alert:" not in page and "expr:" not in page


def test_dashboard_expressions_parse_and_use_written_metrics(
    exposition: str, tmp_path: Path
) -> None:
    exprs = list(dashboard_exprs())
    assert len(exprs) >= 10
    titles = " ".join(t.lower() for t, _ in exprs)
    for topic in ("expir", "trust store", "grade", "error", "duration"):
        assert topic in titles, topic
    names = written_names(exposition)
    for title, expr in exprs:
        used = set(METRIC.findall(expr))
        assert used, title
        assert used <= names, (title, used - names)
    # promtool parses PromQL in rule files: one recording rule per expression.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": expr}
                    for i, (_, expr) in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps(rules), encoding="utf-8")  # JSON is YAML
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout

    # A broken expression is caught: the check is not a formality.
    path.write_text(
        json.dumps({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum("}]}]}),
        encoding="utf-8",
    )
    assert promtool("check", "rules", str(path)).returncode != 0


def _unit_test(tmp_path: Path, series: list[dict[str, str]], alerts: list[dict[str, Any]]) -> str:
    """`promtool test rules` of examples/alerts.yml on `series`, evaluated at 1m."""
    rules = tmp_path / "alerts.yml"
    shutil.copy(ALERTS, rules)
    spec = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": alerts}],
    }
    path = tmp_path / "test.yml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = promtool("test", "rules", str(path))
    return result.stdout + result.stderr if result.returncode else ""


DAY = 86400


def test_alert_texts_say_expired_days_ago_never_expires_in_minus(tmp_path: Path) -> None:
    def series(name: str, labels: str, value: float) -> dict[str, str]:
        return {"series": f"{name}{{{labels}}}", "values": f"{value:.0f}x3"}

    expired = 'host="old.example.test",port="443",ip="",owner="web"'
    soon = 'host="soon.example.test",port="443",ip="",address="192.0.2.7"'
    fine = 'host="fine.example.test",port="443",ip=""'
    inputs = [
        series("tls_scanner_certificate_expiry_seconds", expired, -35 * DAY),
        series("tls_scanner_certificate_expiry_seconds", soon, 5 * DAY + 3600),
        series("tls_scanner_certificate_expiry_seconds", fine, 90 * DAY),
        series("tls_scanner_certificate_revoked", expired, 1),
        series("tls_scanner_certificate_revoked", fine, 0),
    ]
    base = {"port": "443"}  # an empty label (ip="") is no label to Prometheus
    want = [
        {
            "eval_time": "2m",
            "alertname": "TlsCertificateExpired",
            "exp_alerts": [
                {
                    "exp_labels": {
                        **base,
                        "severity": "critical",
                        "host": "old.example.test",
                        "owner": "web",
                    },
                    "exp_annotations": {
                        "summary": "old.example.test:443 certificate expired 35 days ago "
                        "(owner web)"
                    },
                }
            ],
        },
        {
            "eval_time": "2m",
            "alertname": "TlsCertificateExpiresSoon",
            "exp_alerts": [
                {
                    "exp_labels": {
                        **base,
                        "severity": "warning",
                        "host": "soon.example.test",
                        "address": "192.0.2.7",
                    },
                    "exp_annotations": {
                        "summary": "soon.example.test:443 (192.0.2.7) certificate expires in "
                        "5 days (owner unknown)"
                    },
                }
            ],
        },
        {
            "eval_time": "2m",
            "alertname": "TlsCertificateRevoked",
            "exp_alerts": [
                {
                    "exp_labels": {
                        **base,
                        "severity": "critical",
                        "host": "old.example.test",
                        "owner": "web",
                    },
                    "exp_annotations": {
                        "summary": "old.example.test:443 serves a revoked certificate: "
                        "replace it now"
                    },
                }
            ],
        },
    ]
    assert _unit_test(tmp_path, inputs, want) == ""
    # The same check fails when the words are wrong: the old text said "expires in -35 days".
    wrong = json.loads(json.dumps(want[:1]))
    wrong[0]["exp_alerts"][0]["exp_annotations"]["summary"] = (
        "old.example.test:443 certificate expires in -35 days (owner web)"
    )
    assert "FAILED" in _unit_test(tmp_path, inputs, wrong)
