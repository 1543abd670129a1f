"""`billing migrate` against real databases: fresh, re-run, changed file, concurrent."""

import shutil
import subprocess
import uuid

import pytest

from conftest import BILLING_BIN, DATABASE_URL, REPO_ROOT, sql


@pytest.fixture()
def fresh_database():
    name = "migrate_" + uuid.uuid4().hex[:8]
    sql(f"CREATE DATABASE {name}")
    url = DATABASE_URL.replace("/billing?", f"/{name}?")
    yield url
    sql(f"DROP DATABASE {name} WITH (FORCE)")


def migrate(url, directory):
    return subprocess.run([BILLING_BIN, "migrate", "--dir", str(directory), "--database-url", url],
                          capture_output=True, text=True, timeout=60)


def test_fresh_then_rerun(fresh_database):
    first = migrate(fresh_database, f"{REPO_ROOT}/sql")
    assert first.returncode == 0 and "applied" in first.stdout, first.stderr
    second = migrate(fresh_database, f"{REPO_ROOT}/sql")
    assert second.returncode == 0 and "up to date" in second.stdout


def test_changed_migration_is_refused(fresh_database, tmp_path):
    shutil.copytree(f"{REPO_ROOT}/sql", tmp_path / "sql")
    assert migrate(fresh_database, tmp_path / "sql").returncode == 0
    first = sorted((tmp_path / "sql").glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after apply\n")
    result = migrate(fresh_database, tmp_path / "sql")
    assert result.returncode != 0
    assert "changed after it was applied" in result.stderr


def test_new_migration_is_applied_in_order(fresh_database, tmp_path):
    shutil.copytree(f"{REPO_ROOT}/sql", tmp_path / "sql")
    assert migrate(fresh_database, tmp_path / "sql").returncode == 0
    (tmp_path / "sql" / "9999_extra.sql").write_text("CREATE TABLE extra (id int);")
    result = migrate(fresh_database, tmp_path / "sql")
    assert result.returncode == 0 and "9999_extra" in result.stdout


def test_two_concurrent_migrators(fresh_database):
    command = [BILLING_BIN, "migrate", "--dir", f"{REPO_ROOT}/sql", "--database-url", fresh_database]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in processes]
    assert all(code == 0 for _, _, code in results), results
    applied = [out for out, _, _ in results if "applied" in out]
    assert len(applied) == 1, results


def test_health_knows_the_newest_migration():
    newest = sorted(p.split("/")[-1][:-4] for p in map(str, __import__("pathlib").Path(f"{REPO_ROOT}/sql").glob("*.sql")))[-1]
    source = open(f"{REPO_ROOT}/Sources/Billing/Store/Health.swift").read()
    assert f'latestMigration = "{newest}"' in source
