import provider_fallback.telemetry as telemetry


def test_exports_are_sorted_and_importable():
    assert telemetry.__all__ == sorted(telemetry.__all__, key=str.upper) or \
        telemetry.__all__ == sorted(telemetry.__all__)
    for name in telemetry.__all__:
        assert getattr(telemetry, name) is not None
    assert {"Telemetry", "GatewayMetrics", "TelemetryStore", "Alerter", "outage_report",
            "configure_logging"} <= set(telemetry.__all__)
