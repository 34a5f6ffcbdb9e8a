from __future__ import annotations

from core.inhibition import inhibited_by, with_severity
from core.rules import parse_matchers
from core.rules.model import InhibitRule

SEV1_MUTES_LESSER = InhibitRule(
    source_matchers=parse_matchers(['severity="SEV1"']),
    target_matchers=parse_matchers(['severity=~"SEV3|SEV4"']),
    equal=("service",),
)
CHECKOUT_SEV1 = with_severity({"service": "checkout", "alertname": "Down"}, "SEV1")


def test_an_open_sev1_mutes_sev3_and_sev4_of_the_same_service():
    for severity in ("SEV3", "SEV4"):
        found = inhibited_by(
            {"service": "checkout"}, severity, [CHECKOUT_SEV1], [SEV1_MUTES_LESSER]
        )
        assert found == CHECKOUT_SEV1


def test_no_inhibition_for_other_services_severities_or_without_rules():
    rules = [SEV1_MUTES_LESSER]
    assert inhibited_by({"service": "search"}, "SEV3", [CHECKOUT_SEV1], rules) is None
    assert inhibited_by({"service": "checkout"}, "SEV2", [CHECKOUT_SEV1], rules) is None
    assert inhibited_by({"service": "checkout"}, "SEV3", [], rules) is None
    assert inhibited_by({"service": "checkout"}, "SEV3", [CHECKOUT_SEV1], []) is None
    sev2 = with_severity({"service": "checkout"}, "SEV2")
    assert inhibited_by({"service": "checkout"}, "SEV3", [sev2], rules) is None


def test_a_label_missing_on_both_sides_counts_as_equal():
    no_service = with_severity({}, "SEV1")
    assert inhibited_by({}, "SEV4", [no_service], [SEV1_MUTES_LESSER]) == no_service
    assert inhibited_by({"service": "x"}, "SEV4", [no_service], [SEV1_MUTES_LESSER]) is None


def test_alike_alerts_do_not_mute_each_other():
    # a rule whose source and target sides both match the same kind of alert
    rule = InhibitRule(
        source_matchers=parse_matchers(['alertname="NodeDown"']),
        target_matchers=parse_matchers(['alertname="NodeDown"']),
        equal=("cluster",),
    )
    other = with_severity({"alertname": "NodeDown", "cluster": "eu"}, "SEV2")
    assert inhibited_by({"alertname": "NodeDown", "cluster": "eu"}, "SEV2", [other], [rule]) is None


def test_matchers_see_the_alert_labels_plus_severity():
    rule = InhibitRule(
        source_matchers=parse_matchers(['alertname="DatacenterDown"']),
        target_matchers=parse_matchers(['severity!="SEV1"', 'env="prod"']),
        equal=("dc",),
    )
    source = with_severity({"alertname": "DatacenterDown", "dc": "fra"}, "SEV1")
    labels = {"env": "prod", "dc": "fra"}
    assert inhibited_by(labels, "SEV2", [source], [rule]) == source
    assert inhibited_by(labels, "SEV1", [source], [rule]) is None
    assert inhibited_by({**labels, "env": "dev"}, "SEV2", [source], [rule]) is None
