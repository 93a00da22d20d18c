"""Mozilla's HTTP Observatory scanner grades the deployed app (behind TLS, as on a PaaS) A+."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.servers import ROOT

from .conftest import HttpsDeployment


@pytest.mark.timeout(600)
def test_the_http_observatory_grades_the_deployed_app_a_plus(https_deployment: HttpsDeployment) -> None:
    environment = {**os.environ, "HTTPOBS_CA_BUNDLE": https_deployment.ca_bundle}
    scan = subprocess.run(
        [
            str(ROOT / "scripts" / "httpobs-scan"),
            "--http-port",
            str(https_deployment.front.http_port),
            "--https-port",
            str(https_deployment.front.https_port),
            "localhost",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert scan.returncode == 0, scan.stderr[-3000:]
    result = json.loads(scan.stdout)
    summary = result["scan"]
    lost = {
        name: (test["score_modifier"], test["result"]) for name, test in result["tests"].items() if not test["pass"]
    }
    print(
        f"\nHTTP Observatory: grade {summary['grade']}, score {summary['score']}, "
        f"{summary['tests_passed']}/{summary['tests_quantity']} tests passed; failed: {lost}"
    )

    assert summary["grade"] == "A+", f"score {summary['score']}; failed tests: {lost}"
    assert result["tests"]["strict-transport-security"]["pass"]
    assert result["tests"]["redirection"]["result"] == "redirection-to-https"
    assert result["tests"]["content-security-policy"]["result"] == "csp-implemented-with-no-unsafe-default-src-none"
