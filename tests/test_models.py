"""The canonical alert: the fields rules match on are labels too, and nothing else moves."""

from __future__ import annotations

from datetime import UTC, datetime

from core.models import Alert, link

NOW = datetime(2026, 3, 2, 10, 41, tzinfo=UTC)


def alert(labels: dict[str, str], **fields: str) -> Alert:
    return Alert.model_validate(
        {
            "source": "alertmanager",
            "fingerprint": "am:1",
            "status": "firing",
            "title": "HighErrorRate",
            "level": "critical",
            "labels": labels,
            "starts_at": NOW,
            "received_at": NOW,
            **fields,
        }
    )


def test_the_canonical_fields_are_labels_and_win_over_a_source_label_of_the_same_name() -> None:
    given = {"alertname": "HighErrorRate", "status": "weird", "service": "from-label"}

    labels = alert(given, service="checkout").labels

    assert labels == {
        "alertname": "HighErrorRate",
        "source": "alertmanager",
        "status": "firing",
        "title": "HighErrorRate",
        "service": "checkout",
        "level": "critical",
    }


def test_an_empty_canonical_field_removes_the_source_label_of_its_name() -> None:
    labels = alert({"environment": "prod"}).labels  # no environment field given

    assert "environment" not in labels


def test_the_sources_own_label_dict_is_left_as_it_was() -> None:
    given = {"alertname": "HighErrorRate", "environment": "prod"}

    alert(given, service="checkout")

    assert given == {"alertname": "HighErrorRate", "environment": "prod"}


def test_links_are_shared_values() -> None:
    assert link("https://runbooks/x", "Runbook") is link("https://runbooks/x", "Runbook")
    assert link("https://runbooks/x", "Runbook").href == "https://runbooks/x"
