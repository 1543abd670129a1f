"""Swagger UI and the OpenAPI document served by nginx; the container deployment files."""

import os
import re

import requests
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts  # noqa: F401  (import proves the validator is installed)

from conftest import BASE_URL, REPO_ROOT


def test_docs_serve_swagger_ui():
    response = requests.get(BASE_URL + "/docs/", timeout=10)
    assert response.status_code == 200 and "swagger-ui" in response.text
    init = requests.get(BASE_URL + "/docs/swagger-initializer.js", timeout=10)
    assert init.status_code == 200 and '"/openapi.yaml"' in init.text
    bundle = requests.get(BASE_URL + "/docs/swagger-ui-bundle.js", timeout=10)
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert requests.get(BASE_URL + "/docs", timeout=10, allow_redirects=False).status_code == 301


def test_openapi_document_is_valid_openapi_3_1_and_covers_every_route():
    response = requests.get(BASE_URL + "/openapi.yaml", timeout=10)
    assert response.status_code == 200
    document = yaml.safe_load(response.text)
    assert document["openapi"].startswith("3.1")
    validate(document)
    routes = set()
    for path in os.listdir(f"{REPO_ROOT}/Sources/BillingAPI/Routes"):
        source = open(f"{REPO_ROOT}/Sources/BillingAPI/Routes/{path}").read()
        for method, route in re.findall(r'api\.write\("(\w+)", "([^"]+)"', source):
            routes.add((method.lower(), route))
        for route in re.findall(r'api\.read\("([^"]+)"', source):
            routes.add(("get", route))
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops if m in ("get", "post", "patch")}
    assert routes - documented == set(), "routes missing from openapi.yaml"


def test_nginx_own_errors_are_problem_json():
    response = requests.get(BASE_URL + "/docs/missing.js", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_compose_file_references_existing_files_and_the_one_nginx_template():
    compose = yaml.safe_load(open(f"{REPO_ROOT}/compose.yaml"))
    services = compose["services"]
    assert {"postgres", "migrate", "app", "nginx"} <= set(services)
    assert "ports" not in services["postgres"], "PostgreSQL is never published"
    assert services["postgres"].get("healthcheck")
    assert services["nginx"]["ports"]
    for service in services.values():
        build = service.get("build")
        if build:
            context = build["context"] if isinstance(build, dict) else build
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            assert os.path.exists(os.path.join(REPO_ROOT, context, dockerfile))
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert os.path.exists(os.path.join(REPO_ROOT, source)), source
    mounts = " ".join(services["nginx"]["volumes"])
    assert "./nginx/nginx.conf.template" in mounts
