from tests.fakes.vendors import fake_pagerduty, fake_slack

__all__ = ["fake_pagerduty", "fake_slack"]
