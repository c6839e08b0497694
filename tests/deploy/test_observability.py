"""k8s/observability: the dashboard and the alerts query metrics leadsync really exposes,
the PromQL is valid, and each alert fires when it should and only then (promtool)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from consumer.pbx.client import CallResult
from consumer.pbx.outcomes import Applied
from tests.deploy.manifests import K8S, kubectl
from tests.telemetry_helpers import recorded
from tests.unit.test_docs import anchors

ROOT = K8S.parent
OBSERVABILITY = K8S / "observability"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
RULES = OBSERVABILITY / "prometheus-rules.yaml"
METRIC = re.compile(r"\b(leadsync_[a-z_]+)\b")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": ".*"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def rule_groups() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(RULES.read_text())["spec"]
    return spec


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups()["groups"] for rule in group["rules"]}


def panel_queries() -> list[str]:
    """Every panel's query, with Grafana's variables replaced by values Prometheus takes."""
    return [
        _substituted(target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def _substituted(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def exposed_series() -> set[str]:
    """Every series name leadsync's /metrics can show, with Prometheus' suffixes."""
    rec = recorded()
    telemetry = rec.telemetry
    telemetry.metrics.call_finished(CallResult(Applied(), 200, 0.1, "https://pbx/p"), 0.0)
    telemetry.event_applied(event_time_s=1_700_000_000.0)
    telemetry.event_dead_lettered("INVALID_EVENT")
    telemetry.metrics.retry_scheduled("HTTP_429")
    telemetry.metrics.observe_gauges(
        in_flight=lambda: 1,
        breaker=lambda: "closed",
        lag=lambda: {("t", 0): 1},
        rate_share=lambda: 1.0,
        concurrency_share=lambda: 1,
        concurrency_limit=lambda: 1,
        coalesced=lambda: 1,
        oldest_unfinished=lambda: {("t", 0): 1_700_000_000_000},
        last_commit=lambda: 1_700_000_000.0,
        paused=lambda: 0,
    )
    text = telemetry.metrics_text().decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_dashboard_and_alerts_query_only_metrics_leadsync_exposes() -> None:
    exposed = exposed_series()
    used = {name for expr in panel_queries() for name in METRIC.findall(expr)}
    used |= {name for rule in alerts().values() for name in METRIC.findall(rule["expr"])}
    assert used, "no leadsync metric found in the dashboard or the rules"
    assert used <= exposed, f"not exposed by leadsync: {sorted(used - exposed)}"


def test_dashboard_shows_what_operators_decide_from() -> None:
    board = dashboard()
    panels = [panel for panel in board["panels"] if panel["type"] != "row"]
    titles = " | ".join(panel["title"].lower() for panel in panels)
    for topic in ("throughput", "outcome", "by noojee code", "latency", "lag", "breaker"):
        assert topic in titles, f"no panel about {topic}"
    assert "throttle wait" in titles
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert 'namespace=~"$namespace"' in target["expr"], panel["title"]
    variables = {variable["name"] for variable in board["templating"]["list"]}
    assert variables == {"datasource", "namespace"}


def test_the_issues_alerts_are_there_with_severity_and_words_for_a_human() -> None:
    rules = alerts()
    assert set(rules) == {
        "LeadsyncConsumerLagGrowing",
        "LeadsyncConsumerStalled",
        "LeadsyncAbsent",
        "LeadsyncDeadLetters",
        "LeadsyncPbxUnreachable",
        "LeadsyncFatalExit",
    }
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert {"summary", "description"} <= rule["annotations"].keys(), name


def test_every_alert_has_a_runbook_url_that_lands_on_a_heading_of_the_docs() -> None:
    for name, rule in alerts().items():
        url = rule["annotations"].get("runbook_url", "")
        page, _, anchor = url.partition("#")
        assert page.startswith("docs/"), f"{name}: runbook_url {url!r}"
        assert anchor, f"{name}: runbook_url {url!r} names no heading"
        assert (ROOT / page).is_file(), f"{name}: no page {page}"
        assert anchor in anchors(ROOT / page), f"{name}: no heading #{anchor} in {page}"
        assert anchor == name.lower(), f"{name}: its runbook is the heading named after it"


def test_the_dashboard_shows_freshness_and_the_process() -> None:
    titles = " | ".join(panel["title"].lower() for panel in dashboard()["panels"])
    for topic in ("freshness", "oldest unfinished", "cpu", "memory", "last commit"):
        assert topic in titles, f"no panel about {topic}"
    queries = " ".join(panel_queries())
    assert "process_cpu_seconds_total" in queries
    assert "process_resident_memory_bytes" in queries


def test_the_kustomization_renders_the_rules_the_monitor_and_the_dashboard() -> None:
    result = subprocess.run(
        [kubectl(), "kustomize", str(OBSERVABILITY)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(result.stdout) if doc}
    assert set(docs) == {"ConfigMap", "PrometheusRule", "ServiceMonitor"}
    configmap = docs["ConfigMap"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["leadsync.json"]) == dashboard()
    assert docs["PrometheusRule"]["spec"] == rule_groups()
    service = yaml.safe_load((K8S / "base" / "service.yaml").read_text())
    monitor = docs["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["endpoints"]] == [
        p["name"] for p in service["spec"]["ports"]
    ]


# -- promtool -------------------------------------------------------------------------------


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not on PATH (Debian: apt-get install prometheus)")
    return path


def run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_and_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rule_groups()))
    run([promtool, "check", "rules", "rules.yml"], tmp_path)
    recording = [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(panel_queries())
    ]
    (tmp_path / "panels.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recording}]})
    )
    run([promtool, "check", "rules", "panels.yml"], tmp_path)


LAG = 'leadsync_consumer_lag{namespace="ns", pod="p0", topic="t", partition="0"}'
DEAD = 'leadsync_events_total{namespace="ns", pod="p0", outcome="dead_lettered", reason="R"}'
BREAKER = 'leadsync_breaker_state{namespace="ns", pod="p0"}'
COMMITTED = 'leadsync_last_commit_timestamp_seconds{namespace="ns", pod="p0"}'
PAUSED = 'leadsync_maintenance_paused{namespace="ns", pod="p0"}'
UP = 'up{job="leadsync-metrics", namespace="ns", pod="p0"}'
STALLED = [{"severity": "critical", "namespace": "ns", "pod": "p0"}]
KSM = 'namespace="ns", pod="p0", container="leadsync"'


def case(
    series: dict[str, str], alert: str, at: str, firing: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "alert_rule_test": [
            {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": f} for f in firing]}
        ],
    }


ALERT_CASES = [
    # Lag rising 10 a minute: firing once it has risen for the window plus 10 minutes.
    case(
        {LAG: "0+10x40"},
        "LeadsyncConsumerLagGrowing",
        "20m",
        [{"severity": "warning", "namespace": "ns", "topic": "t"}],
    ),
    case({LAG: "0+10x40"}, "LeadsyncConsumerLagGrowing", "8m", []),
    case({LAG: "500x40"}, "LeadsyncConsumerLagGrowing", "30m", []),  # behind, but keeping up
    # A burst, drained: lag rose for 6 minutes, then fell back to zero.
    *(
        case({LAG: "0+10x6 60-10x6 0x30"}, "LeadsyncConsumerLagGrowing", at, [])
        for at in ("6m", "10m", "14m", "20m")
    ),
    case(
        {DEAD: "0+1x30"},
        "LeadsyncDeadLetters",
        "20m",
        [{"severity": "warning", "namespace": "ns", "reason": "R"}],
    ),
    case({DEAD: "0+0.5x30"}, "LeadsyncDeadLetters", "20m", []),
    # Behind, and the last commit at time 0: stalled from 10 minutes on, firing 5 later.
    case({LAG: "5x30", COMMITTED: "0x30"}, "LeadsyncConsumerStalled", "16m", STALLED),
    case({LAG: "5x30", COMMITTED: "0x30"}, "LeadsyncConsumerStalled", "14m", []),
    # Commits keep coming (the timestamp follows the clock): busy, not stalled.
    case({LAG: "500x30", COMMITTED: "0+60x30"}, "LeadsyncConsumerStalled", "25m", []),
    # Nothing to do: no lag, however old the last commit.
    case({LAG: "0x30", COMMITTED: "0x30"}, "LeadsyncConsumerStalled", "25m", []),
    # Held on purpose: a maintenance window, or the breaker during a PBX outage.
    case({LAG: "5x30", COMMITTED: "0x30", PAUSED: "1x30"}, "LeadsyncConsumerStalled", "25m", []),
    case(
        {LAG: "5x30", COMMITTED: "0x30", PAUSED: "0x30"},
        "LeadsyncConsumerStalled",
        "25m",
        STALLED,
    ),
    case({LAG: "5x30", COMMITTED: "0x30", BREAKER: "1x30"}, "LeadsyncConsumerStalled", "25m", []),
    # The target gone: down (up 0), or never scraped at all.
    case({UP: "0x30"}, "LeadsyncAbsent", "10m", [{"severity": "critical"}]),
    case({UP: "1x30"}, "LeadsyncAbsent", "10m", []),
    case({UP: "0x30"}, "LeadsyncAbsent", "4m", []),
    case(
        {LAG: "0x30"},
        "LeadsyncAbsent",
        "10m",
        [{"severity": "critical"}],
    ),
    case(
        {BREAKER: "1 2 1 2 1 2 1 2 1 2"},
        "LeadsyncPbxUnreachable",
        "6m",
        [{"severity": "critical", "namespace": "ns", "pod": "p0"}],
    ),
    case({BREAKER: "0 0 1 1 0 0 1 1 0 0"}, "LeadsyncPbxUnreachable", "9m", []),
    case(
        {
            f"kube_pod_container_status_last_terminated_exitcode{{{KSM}}}": "3x20",
            f"kube_pod_container_status_restarts_total{{{KSM}}}": "0 0 0 1 1 1 1 1 1 1",
        },
        "LeadsyncFatalExit",
        "5m",
        [{"severity": "critical", "namespace": "ns", "pod": "p0", "container": "leadsync"}],
    ),
    case(
        {
            f"kube_pod_container_status_last_terminated_exitcode{{{KSM}}}": "0x20",
            f"kube_pod_container_status_restarts_total{{{KSM}}}": "0 0 0 1 1 1 1 1 1 1",
        },
        "LeadsyncFatalExit",
        "5m",
        [],
    ),
]


def test_each_alert_fires_when_it_should_and_only_then(promtool: str, tmp_path: Path) -> None:
    groups = rule_groups()
    for group in groups["groups"]:
        for rule in group["rules"]:
            # promtool compares annotations too; the expressions are what is tested here.
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(groups))
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": ALERT_CASES}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    run([promtool, "test", "rules", "tests.yml"], tmp_path)
