"""Fuzzing from the contract: schemathesis generates requests for every operation of
/openapi.yaml (valid and invalid ones, and stateful sequences) and sends them through nginx.
Two fixed seeds, bounded examples. Every response must be a documented status with a body that
matches the documented schema, and none may be a server error."""

import subprocess
import sys

import pytest

from conftest import BASE_URL, create_api_key

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
])


@pytest.mark.parametrize("seed", ["20261125", "20261129"])
def test_every_operation_keeps_the_contract_under_generated_input(seed):
    key = create_api_key("schemathesis")
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{BASE_URL}/openapi.yaml", "--url", BASE_URL,
         "-H", f"Authorization: Bearer {key}", "--seed", seed, "--max-examples", "40", "--checks", CHECKS,
         "--no-color"],
        capture_output=True, text=True, timeout=600)
    # The failures come first, the summary last: both, bounded.
    summary = result.stdout[:5000] + "\n…\n" + result.stdout[-2000:]
    assert result.returncode == 0, summary
    assert " passed" in summary and "failures" not in summary.split("SUMMARY")[-1], summary
